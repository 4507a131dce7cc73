"""``Slim.quant.distill`` for real on the digits data: the term is applied (logged, and it changes what is
learnt), the teacher stays frozen, the export is INT8, and bad input fails in one line before training."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from ppslim import artifacts
from ppslim.cli import summarize
from ppslim.errors import ConfigError

from tests.conftest import REPO, run_cli
from tests.e2e.test_compression import QUANT, int8_evidence

pytestmark = pytest.mark.e2e

DISTILL = "Slim.quant.distill={weight: 2.0, temperature: 3.0}"


def metrics(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, artifacts.METRICS_FILE), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def weights(prefix: str) -> dict:
    import paddle

    return {k: v.numpy() for k, v in paddle.load(prefix + ".pdparams").items()}


def test_qat_distill_applies_the_term_and_exports_int8(trained_model, make_config, tmp_path):
    from ppslim.stages import qat

    plain = qat.run(make_config(*trained_model.overrides, *QUANT, workdir=tmp_path / "plain"))
    taught = qat.run(make_config(*trained_model.overrides, *QUANT, DISTILL, workdir=tmp_path / "kd"))
    # The term is logged beside the total, and only when distillation is on.
    kd_epoch, plain_epoch = metrics(taught.run_dir)[-1], metrics(plain.run_dir)[-1]
    assert "train_loss_distill" not in plain_epoch
    assert 0.0 < kd_epoch["train_loss_distill"] < kd_epoch["train_loss"]
    # Same seed and the same random draws (the teacher is built with the RNG state put back): the runs
    # differ by the loss only, and the student learnt something else.
    student_kd = weights(os.path.join(taught.run_dir, "best_model"))
    student_plain = weights(os.path.join(plain.run_dir, "best_model"))
    assert student_kd.keys() == student_plain.keys()  # the checkpoint holds the student alone
    assert any(not np.allclose(student_kd[k], student_plain[k]) for k in student_kd if k.endswith("weight"))
    # INT8 export, verified, with the settings recorded in the result, result.json and the summary line.
    quant_ops, dtypes = int8_evidence(taught.model_dir)
    assert quant_ops == taught.quant_ops > 0 and dtypes["int8"] >= 4
    assert taught.agreement.top1_agreement >= 0.9 and taught.best_top1 >= 0.85
    assert taught.distill.weight == 2.0 and taught.distill.temperature == 3.0
    assert taught.distill.teacher == trained_model.checkpoint and taught.distill.teacher_key == "Global.pretrained_model"
    assert plain.distill is None
    recorded = artifacts.read_json(os.path.join(taught.model_dir, artifacts.RESULT_FILE))
    assert recorded["distill"]["temperature"] == 3.0
    assert recorded["provenance"]["settings"]["Slim.quant.distill.weight"] == 2.0
    assert "distill=weight:2,temperature:3,teacher:" in summarize(taught)


def test_teacher_stays_frozen_while_the_student_trains(trained_model, make_config, tmp_path):
    """The stage's own pieces (restore, QAT wrapping, the term, the fit loop) on a few steps."""
    import paddle

    from ppslim import models
    from ppslim.compress import distill as kd
    from ppslim.compress.quant import quant_settings, wrap_for_qat
    from ppslim.restore import load_trained_model
    from ppslim.stages import qat
    from ppslim.train import engine

    cfg = make_config(*trained_model.overrides, *QUANT, DISTILL, "Global.iter_per_epoch=5")
    model, _ = load_trained_model(cfg, trained_model.checkpoint, "Global.pretrained_model")
    wrap_for_qat(models.inference_network(model), quant_settings(cfg.Slim.quant))
    term = qat.distillation(cfg, model, kd.teacher_source(cfg))
    teacher_before = {k: v.numpy().copy() for k, v in term.teacher.state_dict().items()}
    student_before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    assert len(teacher_before) == 17  # 3 convs, 3 BatchNorms (scale, shift, mean, variance), fc weight + bias
    with paddle.utils.unique_name.guard():
        engine.fit(model, cfg, engine.setup_runtime(cfg), str(tmp_path / "run"), extra_loss=term)
    after = term.teacher.state_dict()
    for k, v in teacher_before.items():  # weights and BatchNorm statistics alike
        np.testing.assert_array_equal(after[k].numpy(), v, err_msg=k)
    assert not term.teacher.training
    assert any(not np.allclose(model.state_dict()[k].numpy(), v) for k, v in student_before.items())


def test_bad_distill_input_fails_in_one_line_before_training(trained_model, make_config, tmp_path):
    from ppslim.stages import qat

    proc = run_cli("qat", "-c", str(REPO / "configs" / "digits" / "qat.yaml"), "-o", "Slim.quant.distill.weight=0",
                   f"Global.output_dir={tmp_path / 'cli'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: Slim.quant.distill.weight: expected a number > 0, got 0.0")
    # No FP32 weights to teach from: refused before the data is read or anything is written.
    cfg = make_config(*QUANT, DISTILL, "DataLoader.Train.dataset.image_root=/nonexistent", workdir=tmp_path / "none")
    with pytest.raises(ConfigError, match="^Slim.quant.distill: no FP32 weights to teach from"):
        qat.run(cfg)
    # A QAT checkpoint (ppslim's .pdstates records the wrapping) cannot teach.
    qat_ckpt = tmp_path / "qat" / "best_model"
    qat_ckpt.parent.mkdir()
    shutil.copy(trained_model.checkpoint + ".pdparams", str(qat_ckpt) + ".pdparams")
    artifacts.write_json(str(qat_ckpt) + ".pdstates", {"epoch": 1, "quant": {"name": "qat"}})
    with pytest.raises(ConfigError, match="^Slim.quant.distill.teacher: .*is a QAT checkpoint; the teacher must"):
        qat.run(make_config(*trained_model.overrides, *QUANT, f"Slim.quant.distill={{teacher: {qat_ckpt}}}",
                            workdir=tmp_path / "q"))
    assert not os.path.exists(tmp_path / "none")


DISTILLATION_MODEL = """\
_BASE_: {base}
Arch:
  name: DistillationModel
  class_num: 10
  freeze_params_list: [false, false]   # mutual learning: Slim.quant.distill still holds the teacher fixed
  infer_model_name: Student
  models:
    - Teacher: {{name: DigitsNet, class_num: 10}}
    - Student: {{name: DigitsNet, class_num: 10}}
Loss:
  Train:
    - DistillationGTCELoss: {{weight: 1.0, model_names: [Student, Teacher]}}
    - DistillationDMLLoss: {{weight: 1.0, model_name_pairs: [[Student, Teacher]]}}
Metric:
  Eval:
    - DistillationTopkAcc: {{model_key: Student, topk: [1, 5]}}
"""


def test_distillation_model_teaches_from_its_fixed_teacher_member(trained_model, make_overrides, tmp_path):
    """A PaddleClas DistillationModel config under QAT: its Teacher member is the FP32 teacher, held fixed
    (weights and BatchNorm statistics unchanged), the student alone is quantized and exported."""
    import paddle

    from ppslim import config
    from ppslim.stages import qat
    from tests.conftest import DIGITS_CONFIG

    trained = paddle.load(trained_model.checkpoint + ".pdparams")
    both = {f"{member}.{k}": v for member in ("Teacher", "Student") for k, v in trained.items()}
    paddle.save(both, str(tmp_path / "distilled.pdparams"))
    path = tmp_path / "distill.yaml"
    path.write_text(DISTILLATION_MODEL.format(base=DIGITS_CONFIG))
    cfg = config.load(str(path), make_overrides(tmp_path, *QUANT, DISTILL,
                                                f"Global.pretrained_model={tmp_path / 'distilled'}"))
    result = qat.run(cfg)
    assert result.quantized_layers == 4 and result.quant_ops > 0  # the student's 3 convs + fc
    assert result.distill.teacher_key == "Global.pretrained_model" and result.distill.teacher.startswith(
        "Arch.models Teacher")
    saved = weights(os.path.join(result.run_dir, "best_model"))
    for k, v in trained.items():  # the teacher's weights and BatchNorm statistics, unchanged
        np.testing.assert_array_equal(saved["Teacher." + k], v.numpy(), err_msg=k)
    assert not np.allclose(saved["Student.fc._layer.weight"], trained["fc.weight"].numpy())  # QAT-wrapped
    epoch = metrics(result.run_dir)[-1]
    assert 0.0 < epoch["train_loss_distill"] < epoch["train_loss"]
