"""Finding the model in a folder, and the provenance rule that stops silent overwrites (no Paddle work)."""
from __future__ import annotations

import json
import os

import pytest

from ppslim import artifacts, provenance
from ppslim.errors import ArtifactError, ConfigError


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode())
    return folder


# ------------------------------------------------------------------------------- discovery
def test_single_pair_is_found_whatever_its_names(tmp_path):
    for names in (("inference.pdmodel", "inference.pdiparams"), ("model.pdmodel", "model.pdiparams",
                                                                  "model.pdiparams.info"),
                  ("mbv2_digits.pdmodel", "mbv2_digits.pdiparams")):
        folder = touch(tmp_path / names[0].split(".")[0], *names)
        model, params = artifacts.inference_files(str(folder))
        assert (os.path.basename(model), os.path.basename(params)) == names[:2]


def test_pdmodel_file_and_one_given_name_pick_a_pair(tmp_path):
    folder = touch(tmp_path / "two", "a.pdmodel", "a.pdiparams", "b.pdmodel", "b.pdiparams")
    assert artifacts.inference_files(str(folder / "b.pdmodel")) == (str(folder / "b.pdmodel"),
                                                                     str(folder / "b.pdiparams"))
    assert artifacts.inference_files(str(folder), "a.pdmodel") == (str(folder / "a.pdmodel"),
                                                                    str(folder / "a.pdiparams"))
    assert artifacts.ptq_dir(str(folder / "b.pdmodel")) == str(folder / artifacts.PTQ_DIRNAME)


def test_ambiguous_folder_is_one_line_naming_files_and_keys(tmp_path):
    folder = touch(tmp_path / "two", "a.pdmodel", "a.pdiparams", "b.pdmodel", "b.pdiparams")
    with pytest.raises(ConfigError) as info:
        artifacts.inference_files(str(folder))
    msg = str(info.value)
    assert info.value.key_path == "Global.inference_model_dir" and "\n" not in msg
    assert "a.pdmodel, b.pdmodel" in msg and "a.pdiparams, b.pdiparams" in msg
    assert "pick one with Global.inference_model_dir=<folder>/<name>.pdmodel" in msg


def test_missing_files_say_what_is_there(tmp_path):
    folder = touch(tmp_path / "half", "model.pdmodel", "notes.txt")
    with pytest.raises(ConfigError, match=r"has no \*.pdiparams \(found: \['model.pdmodel', 'notes.txt'\]\)"):
        artifacts.inference_files(str(folder))
    with pytest.raises(ConfigError, match="has no model.pdiparams beside it"):
        artifacts.inference_files(str(folder / "model.pdmodel"))


def test_ptq_file_names_are_checked_in_the_config(make_config):
    with pytest.raises(ConfigError, match=r"^Slim.ptq.model_filename: expected a file name ending in .pdmodel"):
        make_config("Slim.ptq.model_filename=model.pdiparams")
    assert make_config().Slim.ptq is None  # the digits base config has no Slim section: PTQ uses the defaults


# ------------------------------------------------------------------------------- provenance
def made_by(cfg, folder, stage="ptq"):
    record = provenance.Record(cfg, stage, None)
    folder.mkdir(parents=True, exist_ok=True)
    record.write_result(str(folder), {"done": True}, None)
    return record


def test_same_settings_may_replace_other_settings_are_refused(make_config, tmp_path):
    out = tmp_path / "int8"
    made_by(make_config("Slim.ptq.algo=hist"), out)
    provenance.Record(make_config("Slim.ptq.algo=hist", f"Global.output_dir={tmp_path / 'elsewhere'}",
                                  "Global.verify_images=8"), "ptq", None).guard(str(out), "Slim.ptq.output_dir")
    with pytest.raises(ArtifactError) as info:
        provenance.Record(make_config("Slim.ptq.algo=avg"), "ptq", None).guard(str(out), "Slim.ptq.output_dir")
    msg = str(info.value)
    assert "\n" not in msg and "Slim.ptq.algo hist -> avg" in msg
    assert msg.endswith("add -o Global.overwrite=true, or set Slim.ptq.output_dir to another folder")
    provenance.Record(make_config("Slim.ptq.algo=avg", "Global.overwrite=true"), "ptq", None).guard(
        str(out), "Slim.ptq.output_dir")


def test_other_stages_sections_do_not_count(make_config, tmp_path):
    """`make qat` after `make demo`: the pipeline config's prune/ptq/lite sections are not QAT settings."""
    out = tmp_path / "qat"
    made_by(make_config("Slim.quant.name=qat", "Slim.prune.pruned_ratio=0.3"), out, "qat")
    provenance.Record(make_config("Slim.quant.name=qat"), "qat", None).guard(str(out), "Global.output_dir")
    with pytest.raises(ArtifactError, match=r"made by qat, not train"):
        provenance.Record(make_config(), "train", None).guard(str(out), "Global.output_dir")


def test_folder_not_written_by_ppslim_is_not_replaced(make_config, tmp_path):
    mine = touch(tmp_path / "photos", "holiday.jpg")
    with pytest.raises(ArtifactError, match="was not written by ppslim"):
        provenance.Record(make_config(), "ptq", None).guard(str(mine), "Slim.ptq.output_dir")
    provenance.Record(make_config(), "train", None).guard(str(mine), "Global.output_dir", whole_folder=False)


def test_fresh_run_clears_the_earlier_runs_checkpoints(tmp_path):
    run = touch(tmp_path / "DigitsNet", "epoch_5.pdparams", "epoch_5.pdopt", "epoch_5.pdstates", "latest.pdparams",
                "best_model.pdparams", "metrics.jsonl", "result.json", "notes.txt")
    removed = provenance.clear_run(str(run))
    assert len(removed) == 7 and sorted(os.listdir(run)) == ["notes.txt"]


def test_input_identity_follows_a_ppslim_made_input(make_config, tmp_path):
    src = touch(tmp_path / "fp32", "inference.pdmodel", "inference.pdiparams")
    assert provenance.input_identity(str(src)).startswith("sha256:")
    record = made_by(make_config(), src, "export")
    assert provenance.input_identity(str(src)) == "recipe:" + record.recipe
    assert json.load(open(src / "result.json"))["provenance"]["stage"] == "export"


def test_eval_check_notices_a_model_that_is_not_the_one_a_summary_describes(tmp_path, caplog):
    model = touch(tmp_path / "inference" / "digits_qat", "inference.pdmodel", "inference.pdiparams")
    digest = provenance.check_recorded(str(model), str(tmp_path / "output"))
    assert digest == provenance.artifact_digest(str(model)) and not caplog.records
    summary = tmp_path / "output" / "pipeline" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"rows": [{"artifact": "QAT INT8 (5 epochs)", "path": str(model),
                                             "sha256": "0" * 64}]}))
    with caplog.at_level("WARNING", logger="ppslim"):
        provenance.check_recorded(str(model), str(tmp_path / "output"))
    assert "is not the model" in caplog.text and "QAT INT8 (5 epochs)" in caplog.text
