"""Real train/export/eval stages on the digits data: accuracy, early rejection, resume, repeatability,
export agreement, atomic artifacts, and the CLI's eval line."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from ppslim.errors import ConfigError
from ppslim.stages import eval as eval_stage
from ppslim.stages import train as train_stage

from tests.conftest import DIGITS_CONFIG, TRAINED_EPOCHS, run_cli

pytestmark = pytest.mark.e2e

TOP1_FLOOR = 0.85  # 5 epochs reach ~0.93; the demo's 15 epochs must reach 0.95


def train(cfg):
    """``train_stage.run`` with Paddle's parameter names as a fresh ``ppslim train`` process has them
    (``conv2d_0`` ...). Resuming in the same process as other model builds is a known bug, pinned by
    ``test_resume_after_other_models_in_process``; a restarted job is a new process, as here."""
    import paddle

    with paddle.utils.unique_name.guard():
        return train_stage.run(cfg)


def metrics_epochs(run_dir) -> list[int]:
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["epoch"] for line in f if line.strip()]


def leftovers(*roots) -> list[str]:
    """Temp files/dirs an atomic writer would leave behind if it were interrupted or buggy."""
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            found += [os.path.join(dirpath, n) for n in dirnames + filenames if ".tmp-" in n or ".old-" in n]
    return found


def test_train_reaches_top1_floor(trained_model):
    train = trained_model.train
    assert train.epochs_run == train.last_epoch == TRAINED_EPOCHS
    assert train.best_top1 >= TOP1_FLOOR
    assert metrics_epochs(trained_model.run_dir) == list(range(1, TRAINED_EPOCHS + 1))
    for tag in ("best_model", "latest", f"epoch_{TRAINED_EPOCHS}"):
        assert os.path.isfile(os.path.join(trained_model.run_dir, tag + ".pdstates"))
    result = json.load(open(os.path.join(trained_model.run_dir, "result.json")))
    assert result["best_top1"] == pytest.approx(train.best_top1)


def test_missing_image_root_rejected_before_training(make_config, tmp_path):
    cfg = make_config(f"DataLoader.Train.dataset.image_root={tmp_path / 'no_such_dir'}")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        train_stage.run(cfg)
    assert time.perf_counter() - t0 < 5.0
    assert info.value.key_path == "DataLoader.Train.dataset.image_root"
    assert not (tmp_path / "output").exists(), "a checkpoint or log was written before the data check"


def test_missing_eval_root_rejected_before_training_via_cli(make_overrides, tmp_path):
    overrides = make_overrides(tmp_path, f"DataLoader.Eval.dataset.image_root={tmp_path / 'gone'}")
    proc = run_cli("train", "-c", str(DIGITS_CONFIG), "-o", *overrides, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: DataLoader.Eval.dataset.image_root: image folder not found: {str(tmp_path / 'gone')!r}")
    assert not (tmp_path / "output").exists()


def test_resume_continues_at_next_epoch(make_config, tmp_path):
    first = train(make_config("Global.epochs=2"))
    assert (first.epochs_run, first.last_epoch) == (2, 2)
    assert metrics_epochs(first.run_dir) == [1, 2]

    latest = os.path.join(first.run_dir, "latest")
    second = train(make_config("Global.epochs=4", f"Global.checkpoints={latest}"))
    assert (second.epochs_run, second.last_epoch) == (2, 4)  # trained epochs 3 and 4 only
    assert metrics_epochs(second.run_dir) == [1, 2, 3, 4]
    assert json.load(open(latest + ".pdstates"))["epoch"] == 4

    # auto: a restarted job picks up from run_dir/latest without being told where it is
    third = train(make_config("Global.epochs=5", "Global.checkpoints=auto"))
    assert (third.epochs_run, third.last_epoch) == (1, 5)
    assert metrics_epochs(third.run_dir) == [1, 2, 3, 4, 5]
    assert not leftovers(tmp_path)


def test_resumed_run_matches_uninterrupted_run(trained_model, make_config):
    """Resuming from the middle of the shared run (same recipe) reproduces its final weights bit for bit:
    model, optimizer and LR schedule state all come back, and epoch 3 starts where epoch 2 ended."""
    import paddle

    mid = TRAINED_EPOCHS - 2
    resumed = train(make_config(f"Global.epochs={TRAINED_EPOCHS}",
                                          f"Global.checkpoints={trained_model.run_dir}/epoch_{mid}"))
    assert resumed.epochs_run == 2
    assert metrics_epochs(resumed.run_dir) == [mid + 1, TRAINED_EPOCHS]
    original = [json.loads(line) for line in open(os.path.join(trained_model.run_dir, "metrics.jsonl"))]
    assert resumed.final_metrics["train_loss"] == original[-1]["train_loss"]
    assert resumed.final_metrics["lr"] == original[-1]["lr"]
    want = paddle.load(os.path.join(trained_model.run_dir, "latest.pdparams"))
    got = paddle.load(os.path.join(resumed.run_dir, "latest.pdparams"))
    for key in want:
        np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(want[key]), err_msg=key)


def test_resume_after_other_models_in_process(make_config):
    """Resume must not depend on how many networks the process built before (notebooks, pipelines)."""
    from ppslim import models

    models.count_flops(models.build_model(make_config().Arch), (3, 32, 32))  # names restart at conv2d_0
    models.build_model(make_config().Arch)  # the saving run's network becomes conv2d_3 ...
    first = train_stage.run(make_config("Global.epochs=1", "Global.eval_during_train=false"))
    second = train_stage.run(make_config("Global.epochs=2", "Global.eval_during_train=false",
                                         f"Global.checkpoints={first.run_dir}/latest"))
    assert second.epochs_run == 1


def test_auto_resume_starts_fresh_without_checkpoint(make_config):
    fresh = train(make_config("Global.epochs=1", "Global.checkpoints=auto"))
    assert (fresh.epochs_run, fresh.last_epoch) == (1, 1)
    assert metrics_epochs(fresh.run_dir) == [1]


def test_missing_resume_checkpoint_rejected(make_config, tmp_path):
    with pytest.raises(ConfigError) as info:
        train_stage.run(make_config("Global.epochs=2", f"Global.checkpoints={tmp_path / 'nope' / 'latest'}"))
    assert info.value.key_path == "Global.checkpoints"


def test_same_seed_repeats_on_cpu(make_config, tmp_path):
    import paddle

    runs = [train(make_config("Global.epochs=1", "Global.eval_during_train=false",
                                        workdir=tmp_path / name)) for name in ("a", "b")]
    assert runs[0].final_metrics["train_loss"] == runs[1].final_metrics["train_loss"]
    wa, wb = (paddle.load(os.path.join(r.run_dir, "latest.pdparams")) for r in runs)
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_array_equal(np.asarray(wa[key]), np.asarray(wb[key]), err_msg=key)


def test_export_and_inference_eval_agree_with_dygraph(trained_model, make_config):
    export = trained_model.export
    assert export.agreement.cosine > 0.999
    assert export.agreement.top1_agreement == 1.0
    assert os.path.isfile(os.path.join(trained_model.inference_dir, "inference.pdmodel"))
    assert os.path.isfile(os.path.join(trained_model.inference_dir, "inference.pdiparams"))

    dygraph = eval_stage.run(make_config(*trained_model.overrides))
    inference = eval_stage.run(make_config(*trained_model.overrides,
                                           f"Global.inference_model_dir={trained_model.inference_dir}"))
    assert (dygraph.kind, inference.kind) == ("checkpoint", "inference_model")
    assert dygraph.backend == "dygraph-cpu" and inference.backend.startswith("paddle-cpu")
    assert dygraph.images == inference.images == 359
    assert inference.top1 == dygraph.top1
    assert dygraph.top1 == pytest.approx(trained_model.train.best_top1, abs=1e-9)


def test_plain_backend_agrees_too(trained_model, make_config):
    plain = eval_stage.run(make_config(*trained_model.overrides, "Global.inference_backend=plain",
                                       f"Global.inference_model_dir={trained_model.inference_dir}"))
    assert plain.backend == "paddle-cpu-plain"
    assert plain.top1 == pytest.approx(trained_model.train.best_top1, abs=1e-9)


def test_no_temp_leftovers_in_artifact_dirs(trained_model):
    assert not leftovers(trained_model.workdir)
    result = json.load(open(os.path.join(trained_model.inference_dir, "result.json")))
    assert result["agreement"]["cosine"] > 0.999


def test_cli_eval_prints_top1_and_backend(trained_model, make_overrides, tmp_path):
    overrides = make_overrides(tmp_path, *trained_model.overrides,
                               f"Global.inference_model_dir={trained_model.inference_dir}")
    proc = run_cli("eval", "-c", str(DIGITS_CONFIG), "-o", *overrides, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("EvalResult:")
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    assert fields["backend"].startswith("paddle-cpu")
    assert fields["kind"] == "inference_model"
    assert float(fields["top1"]) == pytest.approx(trained_model.train.best_top1, abs=1e-4)
