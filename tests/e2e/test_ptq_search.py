"""``Slim.ptq.algo: auto`` end to end on the session's trained DigitsNet: real PaddleSlim calibration,
real oneDNN INT8 predictors, a small candidate list so the whole file stays well under a minute."""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest

from ppslim import artifacts
from ppslim.compress import ptq_search
from ppslim.config import SearchScore
from ppslim.errors import ArtifactError
from ppslim.predict import QUANT_OPS, read_program_ops, stored_weight_dtypes

pytestmark = pytest.mark.e2e

# 3 algorithm candidates + per-tensor weights + 1 skip candidate; 2 calibration batches each.
SEARCH = ["Slim.ptq.algo=auto", "Slim.ptq.batch_size=16", "Slim.ptq.batch_nums=2",
          "Slim.ptq.search.algos=[hist,avg]", "Slim.ptq.search.hist_percents=[0.99999,0.999]",
          "Slim.ptq.search.skip_layers=[1]", "Slim.ptq.search.holdout_images=96",
          "Slim.ptq.search.sensitivity_images=16"]


def search_temp_dirs() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("ppslim-ptq-search-")}


def copy_model(trained_model, folder) -> str:
    shutil.copytree(trained_model.inference_dir, folder)
    return str(folder)


def program_inputs(model_file: str) -> dict[str, list[str]]:
    """Quantizable op -> its input names, keyed by the weight it reads (``.quantized...`` suffixes stripped)."""
    from paddle.base import core

    with open(model_file, "rb") as f:
        desc = core.ProgramDesc(f.read())
    block, out = desc.block(0), {}
    for i in range(block.op_size()):
        op = block.op(i)
        if op.type() in ("conv2d", "depthwise_conv2d", "matmul_v2", "mul"):
            names = [n for slot in op.input_names() for n in op.input(slot)]
            weight = [n for n in names if ".w_" in n][0].split(".quantized")[0]
            out[weight] = names
    return out


@pytest.fixture(scope="module")
def searched(trained_model, tmp_path_factory, digits_dir):
    from ppslim import config
    from ppslim.stages import ptq
    from tests.conftest import DIGITS_CONFIG, data_overrides, output_overrides

    before = search_temp_dirs()
    runs = []
    for name in ("a", "b"):  # twice: the same inputs must give the same pick and the same files
        work = tmp_path_factory.mktemp(f"search_{name}")
        src = copy_model(trained_model, work / "fp32")
        cfg = config.load(str(DIGITS_CONFIG), [*data_overrides(digits_dir), *output_overrides(work),
                                               f"Global.inference_model_dir={src}", *SEARCH])
        runs.append((ptq.run(cfg), cfg))
    return runs, before


def test_search_keeps_the_best_verified_candidate_as_real_int8(searched):
    (runs, _) = searched
    result, cfg = runs[0]
    search = result.search
    rows = search.candidates
    assert [r.stage for r in rows] == ["algo", "algo", "algo", "refine", "skip"]
    assert [r.name for r in rows[:3]] == ["hist(0.99999)", "hist(0.999)", "avg"]
    assert rows[3].name.endswith("/per-tensor") and rows[3].settings["weight_quantize_type"] == "abs_max"
    assert search.tried == 5 and all(r.status in ("ok",) or r.status.startswith("refused") for r in rows)
    pick = rows[search.pick_index]
    assert pick.name == search.pick and pick.status == "ok"
    scored = [r for r in rows if r.status == "ok"]
    best = min(scored, key=lambda r: ptq_search._rank_key(r, SearchScore.TOP1))
    assert all(best.holdout_top1 >= r.holdout_top1 for r in scored)       # the ranking: top-1 on the holdout
    ties = [r for r in scored if r.holdout_top1 == best.holdout_top1
            and len(r.settings["skip_tensors"]) == len(best.settings["skip_tensors"])]
    assert all(best.holdout_nll <= r.holdout_nll for r in ties)          # default tie-break: cross-entropy
    assert all(0 < r.holdout_nll < 5 for r in scored)
    if best is rows[0]:  # the baseline ranks first: nothing to test
        assert search.gate is None and pick is best
    else:                # the best-ranked replaces the baseline only beyond chance (significance 0.05)
        gate = search.gate
        assert (gate.baseline, gate.best, gate.significance) == (rows[0].name, best.name, 0.05)
        assert 0 < gate.top1_p <= 1 and 0 <= gate.nll_p <= 1
        assert gate.replaced == (min(gate.top1_p, gate.nll_p) < 0.05)
        assert pick is (best if gate.replaced else rows[0]) and gate.text() in search.note
    assert search.holdout_images == 96 and search.holdout_source == "DataLoader.Train"
    assert search.calib_images_available == 1438 - 96
    assert all(r.calib_images == 32 and r.seconds > 0 for r in scored)
    assert search.backend == "paddle-cpu-onednn_int8" and search.wall_s > 0
    assert result.algo == pick.settings["algo"] and result.backend == "paddle-cpu-onednn_int8"
    # the winner was written and verified like a fixed algorithm's output
    assert result.model_dir == artifacts.ptq_dir(result.source_dir)
    assert result.quant_ops > 0 and result.quant_ops == sum(op in QUANT_OPS for op in read_program_ops(
        os.path.join(result.model_dir, artifacts.MODEL_FILE)))
    assert result.agreement.cosine >= cfg.Global.verify_int8_min_cosine
    assert result.calib_images == 32


def test_search_table_is_in_result_json_and_temp_models_are_removed(searched):
    runs, before = searched
    result = runs[0][0]
    with open(os.path.join(result.model_dir, artifacts.RESULT_FILE)) as f:
        saved = json.load(f)
    assert saved["search"]["pick"] == result.search.pick and len(saved["search"]["candidates"]) == 5
    gate = saved["search"]["gate"]  # the test of the best-ranked candidate against the baseline, or None
    assert gate is None or {"baseline", "best", "top1_p", "nll_p", "significance", "replaced"} == set(gate)
    assert {"name", "holdout_top1", "cosine", "seconds", "status", "settings"} <= set(saved["search"]["candidates"][0])
    assert saved["provenance"]["settings"]["Slim.ptq.algo"] == "auto"
    assert search_temp_dirs() == before  # every candidate's model was removed
    assert sorted(os.listdir(os.path.dirname(result.model_dir))) == sorted(
        os.listdir(result.source_dir))  # nothing beside the output either
    assert not [n for n in os.listdir(result.source_dir) if ".tmp-" in n]


def test_two_runs_pick_the_same_candidate_and_write_the_same_files(searched):
    (a, _), (b, _) = searched[0]  # the two runs
    assert a.search.pick == b.search.pick
    assert [(r.name, r.status, r.holdout_top1, r.cosine) for r in a.search.candidates] == \
           [(r.name, r.status, r.holdout_top1, r.cosine) for r in b.search.candidates]
    for name in (artifacts.MODEL_FILE, artifacts.PARAMS_FILE):
        with open(os.path.join(a.model_dir, name), "rb") as fa, open(os.path.join(b.model_dir, name), "rb") as fb:
            assert fa.read() == fb.read()


def test_skipped_layers_stay_fp32(searched, tmp_path):
    """The skip candidate's layers (the most sensitive by measured error) are not quantized in its model."""
    from ppslim.compress import ptq_search
    from ppslim.stages import ptq

    result, cfg = searched[0][0]
    layers = result.search.sensitivity
    assert len(layers) == 4 and {e.op for e in layers} == {"conv2d", "matmul_v2"}  # DigitsNet: 3 convs + 1 fc
    assert [e.error for e in layers] == sorted((e.error for e in layers), reverse=True)
    skip_row = result.search.candidates[-1]
    convs = [e.weight for e in layers if e.op == "conv2d"]  # an fc stays INT8 under oneDNN: never skipped
    assert skip_row.settings["skip_tensors"] == convs[:1]
    # the same quantization the search ran for that row, kept this time
    settings = skip_row.settings
    candidate = ptq_search.Candidate(ptq_search.PtqAlgo(settings["algo"]), settings["hist_percent"],
                                     settings["weight_quantize_type"], settings["round_type"],
                                     settings["bias_correction"], tuple(settings["skip_tensors"]), "skip")
    model_file, params_file = ptq.model_files(cfg, cfg.Slim.ptq)
    calib = ptq_search.holdout_split(cfg, cfg.Slim.ptq, cfg.Slim.ptq.search, ptq.calibration(cfg, cfg.Slim.ptq)).calib
    ptq.quantize(candidate.config(cfg.Slim.ptq), model_file, params_file, calib, str(tmp_path), {})
    # the skipped conv reads its FP32 weight (its input keeps the pool before it's quantize/dequantize pair;
    # oneDNN INT8 runs such a conv in FP32), stored as float32; every other layer's weight is real int8
    model = os.path.join(tmp_path, artifacts.MODEL_FILE)
    inputs, dtypes = program_inputs(model), stored_weight_dtypes(model, os.path.join(tmp_path, artifacts.PARAMS_FILE))
    skipped = convs[0]
    assert skipped in inputs[skipped] and dtypes[skipped] == "float32", (inputs[skipped], dtypes[skipped])
    others = [w for w in inputs if w != skipped]
    assert len(others) == 3 and all(f"{w}.quantized.dequantized" in inputs[w] and dtypes[w] == "int8" for w in others)
    if skip_row.index == result.search.pick_index:  # a skip candidate won: the kept model is that one
        kept = os.path.join(result.model_dir, artifacts.MODEL_FILE)
        assert skipped in program_inputs(kept)[skipped]


def test_bounds_are_honoured_and_listed(trained_model, tmp_path, make_config):
    from ppslim.stages import ptq

    src = copy_model(trained_model, tmp_path / "fp32")
    counted = ptq.run(make_config(f"Global.inference_model_dir={src}", *SEARCH, "Slim.ptq.search.max_candidates=2",
                                  f"Slim.ptq.output_dir={tmp_path / 'max'}"))
    statuses = [r.status for r in counted.search.candidates]
    assert statuses[:2] == ["ok", "ok"] and counted.search.tried == 2
    assert statuses[2:] == ["skipped: max_candidates"] * 3 and counted.search.sensitivity == ()
    assert counted.search.pick in {"hist(0.99999)", "hist(0.999)"}
    timed = ptq.run(make_config(f"Global.inference_model_dir={src}", *SEARCH, "Slim.ptq.search.budget_s=0.001",
                                f"Slim.ptq.output_dir={tmp_path / 'budget'}"))
    assert [r.status for r in timed.search.candidates] == ["ok"] + ["skipped: budget"] * 4  # the first always runs
    assert timed.search.pick == "hist(0.99999)" and timed.search.tried == 1


def test_no_verified_candidate_fails_in_one_line_and_leaves_nothing(trained_model, tmp_path, make_config):
    from ppslim.stages import ptq

    src = copy_model(trained_model, tmp_path / "fp32")
    before = search_temp_dirs()
    with pytest.raises(ArtifactError) as info:
        ptq.run(make_config(f"Global.inference_model_dir={src}", *SEARCH, "Slim.ptq.search.max_candidates=2",
                            "Global.verify_int8_min_cosine=0.999999"))
    message = str(info.value)
    assert "\n" not in message and message.startswith("PTQ search: no candidate passed verification on 96 held-out")
    assert "hist(0.99999): refused: cosine" in message and "avg: skipped: max_candidates" in message
    assert not os.path.exists(os.path.join(src, "quant_post_static_model")) and search_temp_dirs() == before
