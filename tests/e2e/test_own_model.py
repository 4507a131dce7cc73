"""Bring your own model: PTQ of a ``paddle.jit.save``d network under its own file names, with a
config that has no Eval section (or no DataLoader at all), the output folder chosen, and re-runs that
never silently replace an artifact made from other settings.
"""
from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from ppslim import artifacts
from ppslim.predict import QUANT_OPS, read_program_ops, stored_weight_dtypes
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.e2e

# PaddleClas's dataset form: HWC ops, the dataset transposes to CHW after them (no ToCHWImage)
TRANSFORMS = [{"DecodeImage": {"to_rgb": True}}, {"ResizeImage": {"size": 32}},
              {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                  "order": ""}}]


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory) -> str:
    """The same network saved the same way, untrained (seeded random init): for the tests of folder, file-name,
    re-run and digest handling, which need a model's files, not its accuracy. The INT8 agreement checks use the
    trained ``vision_model`` (conftest): a random-init network's logits are near-constant, so agreement with them
    is noise."""
    import paddle
    from paddle.static import InputSpec

    paddle.seed(0)
    net = paddle.vision.models.mobilenet_v2(num_classes=10, scale=0.5)
    net.eval()
    folder = tmp_path_factory.mktemp("own_untrained") / "mymodel"
    paddle.jit.save(net, str(folder / "mbv2_digits"), input_spec=[InputSpec([None, 3, 32, 32], "float32", "image")])
    return str(folder)


def write_config(path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def train_split_config(tmp_path, model_dir: str, digits_dir, out_dir: str, algo: str = "hist") -> str:
    """Model + labelled Train split only: no Eval section, no Arch, no Optimizer."""
    return write_config(tmp_path / "own.yaml", {
        "Global": {"device": "cpu", "inference_model_dir": model_dir},
        "DataLoader": {"Train": {"dataset": {"name": "ImageNetDataset", "image_root": str(digits_dir),
                                             "cls_label_path": str(digits_dir / "train_list.txt"),
                                             "transform_ops": TRANSFORMS}}},
        "Slim": {"ptq": {"algo": algo, "batch_size": 16, "batch_nums": 4, "output_dir": out_dir}}})


def int8_ops_and_weights(model_dir: str) -> tuple[int, int]:
    model_file, params_file = artifacts.inference_files(model_dir)
    dtypes = list(stored_weight_dtypes(model_file, params_file).values())
    return sum(op in QUANT_OPS for op in read_program_ops(model_file)), dtypes.count("int8")


def test_jit_saved_vision_model_without_eval_section(vision_model, digits_dir, tmp_path):
    out = str(tmp_path / "int8")
    cfg = train_split_config(tmp_path, vision_model, digits_dir, out)
    proc = run_cli("ptq", "-c", cfg, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["source_dir"] == vision_model and result["model_dir"] == out
    assert result["calib_images"] == 64 and result["agreement"]["cosine"] > 0.98
    assert result["agreement"]["top1_agreement"] >= 0.9
    quant_ops, int8_weights = int8_ops_and_weights(out)
    assert quant_ops > 50 and int8_weights > 20
    assert not os.path.exists(os.path.join(vision_model, artifacts.PTQ_DIRNAME))  # the chosen folder, not the default
    recorded = json.load(open(os.path.join(out, artifacts.RESULT_FILE)))["provenance"]
    assert recorded["stage"] == "ptq" and recorded["input"].startswith("sha256:")


def test_image_folder_without_labels_and_default_output(untrained_model, digits_dir, tmp_path):
    """The shipped "your own model" config: a model folder plus an image folder, nothing else."""
    src = tmp_path / "copy"
    shutil.copytree(untrained_model, src)
    proc = run_cli("ptq", "-c", str(REPO / "configs" / "own_model" / "ptq.yaml"), "-o",
                   f"Global.inference_model_dir={src}", f"Slim.ptq.calib_dir={digits_dir / 'images'}",
                   "Slim.ptq.output_dir=null", "Slim.ptq.batch_nums=2",
                   "Infer.transforms.1.ResizeImage.resize_short=32", "Infer.transforms.2.CropImage.size=32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = src / artifacts.PTQ_DIRNAME  # PaddleClas's default place
    assert int8_ops_and_weights(str(out))[0] > 50
    assert json.load(open(out / artifacts.RESULT_FILE))["calib_images"] == 32


def test_plain_paddleclas_config_without_slim_section(trained_model, tmp_path):
    """PaddleClas's tutorial: ``quant_post_static.py -c <model config> -o Global.save_inference_dir=...``."""
    src = tmp_path / "infer"
    shutil.copytree(trained_model.inference_dir, src)
    proc = run_cli("ptq", "-c", "configs/digits/train.yaml", "-o", *trained_model.overrides,
                   f"Global.save_inference_dir={src}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no Slim.ptq in the config: PTQ with the defaults algo=hist" in proc.stderr
    assert int8_ops_and_weights(str(src / artifacts.PTQ_DIRNAME))[0] > 0


def test_ambiguous_folder_names_files_and_keys(untrained_model, digits_dir, tmp_path):
    src = tmp_path / "two"
    shutil.copytree(untrained_model, src)
    shutil.copy(src / "mbv2_digits.pdmodel", src / "other.pdmodel")
    shutil.copy(src / "mbv2_digits.pdiparams", src / "other.pdiparams")
    cfg = train_split_config(tmp_path, str(src), digits_dir, str(tmp_path / "int8"))
    proc = run_cli("ptq", "-c", cfg)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: Global.inference_model_dir: ") and len(proc.stderr.strip().splitlines()) == 1
    for word in ("mbv2_digits.pdmodel", "other.pdmodel", "Slim.ptq.model_filename", "Slim.ptq.params_filename"):
        assert word in line, line
    # either spelling picks one pair
    picked = run_cli("ptq", "-c", cfg, "-o", "Slim.ptq.model_filename=other.pdmodel", "Slim.ptq.batch_nums=1")
    assert picked.returncode == 0, picked.stderr[-2000:]
    as_file = run_cli("ptq", "-c", cfg, "-o", f"Global.inference_model_dir={src / 'other.pdmodel'}",
                      "Slim.ptq.batch_nums=1")
    assert as_file.returncode == 0, as_file.stderr[-2000:]  # same bytes, same settings: may replace


def test_rerun_with_other_settings_refused_same_settings_allowed(untrained_model, digits_dir, tmp_path):
    out = tmp_path / "int8"
    cfg = train_split_config(tmp_path, untrained_model, digits_dir, str(out))
    assert run_cli("ptq", "-c", cfg).returncode == 0
    first = (out / artifacts.PARAMS_FILE).read_bytes()
    refused = run_cli("ptq", "-c", cfg, "-o", "Slim.ptq.algo=avg")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "Slim.ptq.algo hist -> avg" in lines[0] and "-o Global.overwrite=true" in lines[0]
    assert (out / artifacts.PARAMS_FILE).read_bytes() == first  # untouched
    again = run_cli("ptq", "-c", cfg)  # same settings, same input: replacing is allowed (make demo twice)
    assert again.returncode == 0, again.stderr[-2000:]
    forced = run_cli("ptq", "-c", cfg, "-o", "Slim.ptq.algo=avg", "Global.overwrite=true")
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert json.load(open(out / artifacts.RESULT_FILE))["algo"] == "avg"


def test_eval_names_the_artifact_digest_and_notices_a_replaced_one(untrained_model, tmp_path, make_config,
                                                                  make_overrides):
    from ppslim.stages import eval as eval_stage
    from ppslim.stages import ptq

    out = tmp_path / "int8"
    result = ptq.run(make_config(f"Global.inference_model_dir={untrained_model}", f"Slim.ptq.output_dir={out}",
                                 "Slim.ptq.batch_nums=2"))
    recorded = json.load(open(out / artifacts.RESULT_FILE))["provenance"]["artifact_sha256"]
    scored = eval_stage.run(make_config(f"Global.inference_model_dir={result.model_dir}"))
    assert scored.sha256 == recorded
    # someone copies another model's files over it: eval reports it
    shutil.copy(os.path.join(untrained_model, "mbv2_digits.pdmodel"), out / artifacts.MODEL_FILE)
    shutil.copy(os.path.join(untrained_model, "mbv2_digits.pdiparams"), out / artifacts.PARAMS_FILE)
    proc = run_cli("eval", "-c", "configs/digits/train.yaml", "-o", *make_overrides(tmp_path),
                   f"Global.inference_model_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "changed after its result.json was written" in proc.stderr


def test_train_rerun_refused_and_stale_checkpoints_removed(make_config, tmp_path):
    from ppslim.errors import ArtifactError
    from ppslim.stages import train

    first = train.run(make_config("Global.epochs=2", "Global.save_interval=1", "Global.eval_during_train=false"))
    assert os.path.isfile(os.path.join(first.run_dir, "epoch_2.pdparams"))
    with pytest.raises(ArtifactError, match=r"Global.epochs 2 -> 1.*-o Global.overwrite=true"):
        train.run(make_config("Global.epochs=1", "Global.save_interval=1", "Global.eval_during_train=false"))
    assert os.path.isfile(os.path.join(first.run_dir, "epoch_2.pdparams"))
    train.run(make_config("Global.epochs=1", "Global.save_interval=1", "Global.eval_during_train=false",
                          "Global.overwrite=true"))
    names = sorted(n for n in os.listdir(first.run_dir) if n.startswith("epoch_"))
    assert names == ["epoch_1.pdopt", "epoch_1.pdparams", "epoch_1.pdstates"]  # no epoch_2 of the earlier run
