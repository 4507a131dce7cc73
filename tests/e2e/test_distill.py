"""A PaddleClas-shaped DistillationModel config end to end on the digits data: a frozen trained teacher
(``pretrained_list``), a smaller student learning from it, export and QAT of the student only."""
from __future__ import annotations

import os

import numpy as np
import pytest

from ppslim import config, models
from ppslim.stages import export as export_stage
from ppslim.stages import qat as qat_stage
from ppslim.stages import train as train_stage

from ppslim.config import InferenceBackend
from ppslim.predict import paddle_predictor

from tests.conftest import DIGITS_CONFIG

pytestmark = pytest.mark.e2e

DISTILL_YAML = """\
_BASE_: {base}
Arch:
  name: DistillationModel
  class_num: &class_num 10
  freeze_params_list: [true, false]
  pretrained_list: [{teacher}, null]
  infer_model_name: Student
  models:
    - Teacher:
        name: DigitsNet
        class_num: *class_num
        pretrained: false
    - Student:
        name: DigitsNet
        class_num: *class_num
        width: 8
Loss:
  Train:
    - DistillationGTCELoss:
        weight: 1.0
        model_names: [Student]
    - DistillationDMLLoss:
        weight: 1.0
        model_name_pairs: [[Student, Teacher]]
Metric:
  Train:
    - DistillationTopkAcc:
        model_key: Student
        topk: [1, 5]
  Eval:
    - DistillationTopkAcc:
        model_key: Student
        topk: [1, 5]
"""


@pytest.fixture
def distill_config(tmp_path, trained_model, make_overrides):
    path = tmp_path / "distill.yaml"
    path.write_text(DISTILL_YAML.format(base=DIGITS_CONFIG, teacher=trained_model.checkpoint))

    def make(*extra):
        return config.load(str(path), make_overrides(tmp_path, "Global.epochs=2", *extra))
    return make


def state(layer) -> dict:
    return {k: v.numpy().copy() for k, v in layer.state_dict().items()}


def test_distillation_trains_student_exports_and_quantizes_it(distill_config, trained_model, tmp_path):
    import paddle

    cfg = distill_config()
    with paddle.utils.unique_name.guard():
        trained = train_stage.run(cfg)
    assert trained.run_dir.endswith(os.path.join("output", "DistillationModel"))
    assert trained.best_top1 >= 0.6, trained.final_metrics  # the width-8 student after 2 epochs

    # The checkpoint holds both members under PaddleClas's names; the frozen teacher's weights are
    # unchanged (its BatchNorm statistics move in train mode, as in PaddleClas).
    saved = paddle.load(trained.best_model + ".pdparams")
    teacher = paddle.load(trained_model.checkpoint + ".pdparams")
    assert {k.split(".")[0] for k in saved} == {"Teacher", "Student"}
    weights = [k for k in teacher if not k.endswith(("_mean", "_variance"))]
    assert len(weights) == 11  # 3 convs, 3 BN scale+shift, fc weight+bias
    for k in weights:
        np.testing.assert_array_equal(saved["Teacher." + k].numpy(), teacher[k].numpy())
    student_before = models.build_model(config.from_dict({"Arch": {"name": "DigitsNet", "class_num": 10,
                                                                   "width": 8}}).Arch)
    assert not np.allclose(saved["Student.fc.weight"].numpy(), student_before.fc.weight.numpy())

    student = models.build_model(config.from_dict({"Arch": {"name": "DigitsNet", "class_num": 10, "width": 8}}).Arch)
    assert trained.params == models.count_params(student)

    exported = export_stage.run(distill_config(f"Global.pretrained_model={trained.best_model}"))
    assert exported.params == models.count_params(student)
    assert exported.agreement.top1_agreement == 1.0
    # The inference program is the student alone: one image input, one [N, 10] output, the student's weights.
    loaded = paddle.jit.load(os.path.join(exported.model_dir, "inference"))
    assert sum(int(np.prod(p.shape)) for p in loaded.parameters()) <= models.count_params(student)
    models.load_weights(student, _student_only(saved, tmp_path))
    student.eval()
    x = paddle.to_tensor(np.random.RandomState(0).rand(3, 3, 32, 32).astype("float32"))
    np.testing.assert_allclose(loaded(x).numpy(), student(x).numpy(), rtol=1e-4, atol=1e-5)

    quantized = qat_stage.run(distill_config(f"Global.pretrained_model={trained.best_model}", "Global.epochs=1",
                                             "Slim.quant={name: qat}", f"Global.output_dir={tmp_path / 'qat'}",
                                             f"Global.save_inference_dir={tmp_path / 'qat_inference'}"))
    assert quantized.quantized_layers == 4  # the student's 3 convs + fc; the teacher is not wrapped
    assert quantized.quant_ops > 0
    run = paddle_predictor(os.path.join(quantized.model_dir, "inference.pdmodel"),
                           os.path.join(quantized.model_dir, "inference.pdiparams"), InferenceBackend.PLAIN)
    assert run(x.numpy()).shape == (3, 10)
    assert quantized.agreement.top1_agreement >= 0.9


def _student_only(saved: dict, tmp_path) -> str:
    import paddle

    path = str(tmp_path / "student.pdparams")
    paddle.save({k[len("Student."):]: v for k, v in saved.items() if k.startswith("Student.")}, path)
    return path


def test_train_starts_from_arch_pretrained(make_config, trained_model, tmp_path):
    """``Arch.pretrained: <path>`` initialises train (PaddleClas's slim configs rely on it); without it the
    same one low-LR epoch starts from random weights."""
    import paddle

    low_lr = ("Global.epochs=1", "Optimizer.lr.learning_rate=0.0001", "Optimizer.lr.warmup_epoch=0")
    with paddle.utils.unique_name.guard():
        warm = train_stage.run(make_config(*low_lr, f"Arch.pretrained={trained_model.checkpoint}"))
    with paddle.utils.unique_name.guard():
        cold = train_stage.run(make_config(*low_lr, workdir=tmp_path / "cold"))  # its own run folder
    assert warm.best_top1 >= trained_model.train.best_top1 - 0.05
    assert cold.best_top1 < 0.5


def test_export_reads_arch_pretrained_when_no_checkpoint_is_given(make_config, trained_model):
    """PaddleClas's export loads ``Arch.pretrained`` when ``Global.pretrained_model`` is unset."""
    exported = export_stage.run(make_config(f"Arch.pretrained={trained_model.checkpoint}"))
    assert exported.weights == trained_model.checkpoint + ".pdparams"
    assert exported.agreement.top1_agreement == 1.0
