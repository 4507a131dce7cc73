"""``Slim.quant.distill``: config validation (one line naming the key), the teacher's source, and the
distillation term's value against a hand computation on small tensors."""
from __future__ import annotations

import numpy as np
import pytest

from ppslim import config, models
from ppslim.compress import distill as kd
from ppslim.compress.quant import quant_settings
from ppslim.config import DistillConfig
from ppslim.errors import ConfigError

from tests.conftest import DIGITS_CONFIG

QAT = "Slim.quant={name: qat}"
DISTILL_ARCH = ("Arch={name: DistillationModel, class_num: 10, freeze_params_list: [true, false], "
                "infer_model_name: Student, models: [{Teacher: {name: DigitsNet, width: 8}}, "
                "{Student: {name: DigitsNet, width: 4}}]}")


def load(*overrides: str):
    return config.load(str(DIGITS_CONFIG), [QAT, *overrides])


def rejected(*overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(*overrides)
    return info.value


# ------------------------------------------------------------------------------- config
def test_distill_defaults_and_values():
    assert load().Slim.quant.distill is None
    assert load("Slim.quant.distill={}").Slim.quant.distill == DistillConfig(weight=1.0, temperature=4.0)
    cfg = load("Slim.quant.distill={weight: 0.5, temperature: 2, teacher: out/best_model}")
    assert cfg.Slim.quant.distill == DistillConfig(0.5, 2.0, "out/best_model")
    # distillation is how QAT trains, not what it builds: checkpoints' quant record leaves it out
    assert "distill" not in quant_settings(cfg.Slim.quant)
    assert config.from_dict(config.to_dict(cfg)).Slim.quant == cfg.Slim.quant


@pytest.mark.parametrize("override, key, text", [
    ("Slim.quant.distill.weight=0", "Slim.quant.distill.weight", "expected a number > 0, got 0.0; remove "
                                                                  "Slim.quant.distill to train without"),
    ("Slim.quant.distill.weight=-1", "Slim.quant.distill.weight", "expected a number > 0"),
    ("Slim.quant.distill.temperature=0", "Slim.quant.distill.temperature", "expected a number > 0, got 0.0"),
    ("Slim.quant.distill.temperature=hot", "Slim.quant.distill.temperature", "expected a number"),
    ("Slim.quant.distill.temprature=2", "Slim.quant.distill.temprature", "unknown key (did you mean temperature?)"),
    ("Slim.quant.distill=true", "Slim.quant.distill", "expected a mapping"),
    ("Slim.quant.distill.teacher=' '", "Slim.quant.distill.teacher", "expected a checkpoint prefix"),
])
def test_bad_distill_keys_fail_in_one_line(override, key, text):
    err = rejected(override)
    assert err.key_path == key and text in err.msg
    assert "\n" not in str(err)


def test_distillation_model_teacher_is_its_other_member():
    cfg = load(DISTILL_ARCH, "Slim.quant.distill={}", "Global.pretrained_model=x/best_model")
    assert kd.teacher_source(cfg) == kd.TeacherSource("x/best_model", "Global.pretrained_model", "Teacher")
    cfg = load(DISTILL_ARCH, "Slim.quant.distill={}", "Arch.pretrained_list=[t/best_model, null]")
    assert kd.teacher_source(cfg) == kd.TeacherSource("t/best_model", "Arch.pretrained_list.0", "Teacher")
    err = rejected(DISTILL_ARCH, "Slim.quant.distill={teacher: t/best_model}")
    assert err.key_path == "Slim.quant.distill.teacher" and "teaches from its member 'Teacher'" in err.msg
    three = DISTILL_ARCH.replace("models: [", "freeze_params_list: null, models: [{Peer: {name: DigitsNet}}, ")
    err = rejected(three, "Slim.quant.distill={}")
    assert err.key_path == "Slim.quant.distill" and "exactly one teacher besides 'Student'" in err.msg
    assert load(three).Slim.quant.distill is None  # without distill the config's own losses decide


def test_teacher_source_refuses_missing_fp32_weights(tmp_path):
    with pytest.raises(ConfigError) as info:
        kd.teacher_source(load("Slim.quant.distill={}"))
    assert info.value.key_path == "Slim.quant.distill" and "no FP32 weights to teach from" in info.value.msg
    with pytest.raises(ConfigError) as info:
        kd.teacher_source(load(DISTILL_ARCH, "Slim.quant.distill={}"))
    assert info.value.key_path == "Slim.quant.distill" and "'Teacher' has no FP32 weights" in info.value.msg
    with pytest.raises(ConfigError) as info:
        kd.teacher_source(load(f"Slim.quant.distill={{teacher: {tmp_path / 'none'}}}"))
    assert info.value.key_path == "Slim.quant.distill.teacher" and "weights file not found" in info.value.msg
    pretrained = kd.teacher_source(load("Slim.quant.distill={}", "Global.pretrained_model=a/best_model.pdparams"))
    assert pretrained == kd.TeacherSource("a/best_model", "Global.pretrained_model")


def test_teacher_is_built_frozen_in_eval_mode_and_refuses_other_networks(tmp_path):
    import paddle

    net = models.build_model(load().Arch)
    paddle.save(net.state_dict(), str(tmp_path / "fp32.pdparams"))
    cfg = load("Slim.quant.distill={}", f"Global.pretrained_model={tmp_path / 'fp32'}")
    paddle.seed(3)
    expected_draw = paddle.rand([4]).numpy()
    paddle.seed(3)
    teacher = kd.build_teacher(cfg, kd.teacher_source(cfg))
    # building the teacher leaves the random stream where it was: the student trains on the same draws
    np.testing.assert_array_equal(paddle.rand([4]).numpy(), expected_draw)
    assert all(not p.trainable for p in teacher.parameters())
    assert not teacher.training and all(not s.training for s in teacher.sublayers())
    x = paddle.to_tensor(np.random.RandomState(0).rand(2, 3, 32, 32).astype("float32"))
    net.eval()
    np.testing.assert_allclose(teacher(x).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-6)

    wide = models.build_model(config.from_dict({"Arch": {"name": "DigitsNet", "class_num": 10, "width": 8}}).Arch)
    paddle.save(wide.state_dict(), str(tmp_path / "wide.pdparams"))
    cfg = load(f"Slim.quant.distill={{teacher: {tmp_path / 'wide'}}}")
    with pytest.raises(ConfigError) as info:
        kd.build_teacher(cfg, kd.teacher_source(cfg))
    assert info.value.key_path == "Slim.quant.distill.teacher"
    assert "does not match the network" in info.value.msg and "use Arch.name: DistillationModel" in info.value.msg


# ------------------------------------------------------------------------------- the term
def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def hand_kd(student, teacher, weight, temperature):
    """weight * T^2 * mean over images of KL(softmax(t/T) || softmax(s/T))."""
    p_t, p_s = _softmax(teacher / temperature), _softmax(student / temperature)
    return weight * temperature ** 2 * np.mean(np.sum(p_t * (np.log(p_t) - np.log(p_s)), axis=1))


STUDENT = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype="float32")
TEACHER = np.array([[3.0, -0.5, -2.0], [0.0, 1.5, 2.0]], dtype="float32")


@pytest.mark.parametrize("weight, temperature", [(1.0, 1.0), (0.5, 4.0), (2.0, 2.5)])
def test_term_matches_hand_computation(weight, temperature):
    import paddle

    teacher_net = paddle.nn.Linear(3, 3)  # a frozen "teacher" whose logits are TEACHER for inputs = identity
    teacher_net.weight.set_value(np.eye(3, dtype="float32"))
    teacher_net.bias.set_value(np.zeros(3, dtype="float32"))
    student = paddle.to_tensor(STUDENT, stop_gradient=False)
    term = kd.LogitDistillation(DistillConfig(weight, temperature), teacher_net)
    value = term(paddle.to_tensor(TEACHER), student)
    expected = hand_kd(STUDENT, TEACHER, weight, temperature)
    assert abs(float(value) - expected) < 1e-5 * max(1.0, expected) and expected > 0.1
    value.backward()
    assert student.grad is not None and teacher_net.weight.grad is None  # only the student learns
    # the gradient of T^2 * KL w.r.t. the student logits is T * (p_s - p_t) / N per image, times weight
    grad = weight * temperature * (_softmax(STUDENT / temperature) - _softmax(TEACHER / temperature)) / 2
    np.testing.assert_allclose(student.grad.numpy(), grad, rtol=1e-4, atol=1e-6)


def test_term_reads_a_distillation_models_members_and_logits():
    import paddle

    outputs = {"Pupil": paddle.to_tensor(STUDENT), "Master": paddle.to_tensor(TEACHER)}
    term = kd.LogitDistillation(DistillConfig(1.0, 2.0), None, pair=("Pupil", "Master"))
    assert abs(float(term(None, outputs)) - hand_kd(STUDENT, TEACHER, 1.0, 2.0)) < 1e-5
    same = kd.LogitDistillation(DistillConfig(1.0, 2.0), paddle.nn.Identity())
    # a network returning [main, aux] or {"logits": ...} is distilled on its logits
    assert abs(float(same(paddle.to_tensor(STUDENT), [paddle.to_tensor(STUDENT), None]))) < 1e-6
    assert abs(float(same(paddle.to_tensor(TEACHER), {"logits": paddle.to_tensor(STUDENT)}))
               - hand_kd(STUDENT, TEACHER, 1.0, 2.0)) < 1e-5
