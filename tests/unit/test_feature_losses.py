"""``DistillationPairLoss`` with MGD / PEFD (PaddleClas's feature-distillation configs): values on known
tensors, their own layers train with the network, and bad parameters fail at config load."""
from __future__ import annotations

import numpy as np
import pytest

from ppslim.errors import ConfigError
from tests.conftest import DIGITS_CONFIG

PAIR_YAML = """\
_BASE_: {base}
Arch:
  name: DistillationModel
  class_num: &class_num 10
  freeze_params_list: [true, false]
  infer_model_name: Student
  models:
    - Teacher:
        name: ResNet18
        class_num: *class_num
        return_patterns: ["blocks[7]"]
    - Student:
        name: ResNet18
        class_num: *class_num
        return_patterns: ["blocks[7]"]
Loss:
  Train:
    - DistillationGTCELoss:
        weight: 1.0
        model_names: [Student]
    - DistillationPairLoss:
        weight: 1.0
        base_loss_name: {base_loss}
        model_name_pairs: [[Student, Teacher]]
        s_key: "blocks[7]"
        t_key: "blocks[7]"
        name: loss_pair
{params}
Metric:
  Train:
    - DistillationTopkAcc: {{model_key: Student, topk: [1, 5]}}
  Eval:
    - DistillationTopkAcc: {{model_key: Student, topk: [1, 5]}}
"""
MGD = "        student_channels: 512\n        teacher_channels: 512"
PEFD = "        student_channel: 512\n        teacher_channel: 512\n        mode: gap"


def pair_config(tmp_path, make_overrides, base_loss="MGDLoss", params=MGD, *extra):
    from ppslim import config

    path = tmp_path / "pair.yaml"
    path.write_text(PAIR_YAML.format(base=DIGITS_CONFIG, base_loss=base_loss, params=params))
    return config.load(str(path), make_overrides(tmp_path, *extra))


def test_mgd_trains_its_generator_with_the_student_and_leaves_the_frozen_teacher(tmp_path, make_overrides):
    import paddle

    from ppslim import models
    from ppslim.train import engine
    from ppslim.train.losses import build_loss

    cfg = pair_config(tmp_path, make_overrides)
    paddle.seed(0)
    model = models.build_model(cfg.Arch)
    loss_fn = build_loss(cfg.Loss.Train, "Loss.Train")
    [layer] = loss_fn.trainable_layers()
    trained = paddle.nn.LayerList([model, layer])
    optimizer, _ = engine.build_optimizer(cfg, trained, 1, 10)
    gen_before = layer.generation[0].weight.numpy().copy()
    teacher_before = {k: v.numpy().copy() for k, v in model.state_dict().items() if k.startswith("Teacher.")}
    images, labels = paddle.randn([4, 3, 32, 32]), paddle.to_tensor(np.arange(4).reshape(4, 1), dtype="int64")
    outputs = model(images)
    assert list(outputs["Student"]["blocks[7]"].shape) == [4, 512, 1, 1]
    loss = loss_fn(outputs, labels)
    loss.backward()
    optimizer.step()
    assert not np.allclose(layer.generation[0].weight.numpy(), gen_before)  # the generator is optimized
    for k, v in model.state_dict().items():
        if k in teacher_before and not k.endswith(("_mean", "_variance")):
            np.testing.assert_array_equal(v.numpy(), teacher_before[k])


def test_pefd_is_zero_for_aligned_features_and_mgd_masks_whole_channels():
    import paddle

    from ppslim.train.feature_losses import MGDLoss, PEFDLoss

    pefd = PEFDLoss(4, 4, num_projectors=2, mode="flatten")
    for p in pefd.projectors:  # identity projectors: the student's (positive) feature is its projection
        p.weight.set_value(paddle.eye(4))
        p.bias.set_value(paddle.zeros([4]))
    feature = paddle.rand([3, 4]) + 0.1
    assert abs(float(pefd(feature, feature * 2.0))) < 1e-6          # same direction: 1 - cos = 0
    assert float(pefd(feature, -feature)) == pytest.approx(2.0, abs=1e-5)
    paddle.seed(1)
    s, t = paddle.rand([2, 8, 4, 4]), paddle.rand([2, 8, 4, 4])
    keep_all = MGDLoss(8, 8, alpha_mgd=2.0, lambda_mgd=0.0)  # no channel masked: alpha * MSE(generator(s), t)
    expected = 2.0 * float(((keep_all.generation(s) - t) ** 2).mean())
    assert float(keep_all(s, t)) == pytest.approx(expected, rel=1e-5)
    masked = MGDLoss(8, 8, alpha_mgd=2.0, lambda_mgd=0.5)
    masked.generation.set_state_dict(keep_all.generation.state_dict())
    paddle.seed(2)
    keep = (paddle.rand([2, 8, 1, 1]) >= 0.5).astype("float32")  # the mask the loss draws next
    paddle.seed(2)
    value = float(masked(s, t))
    assert 0 < keep.numpy().mean() < 1  # some whole channels dropped, some kept
    assert value == pytest.approx(2.0 * float(((masked.generation(s * keep) - t) ** 2).mean()), rel=1e-5)


@pytest.mark.parametrize("base_loss, params, key", [
    ("MGDLoss", "        student_channels: 512", "Loss.Train.1.DistillationPairLoss.teacher_channels"),
    ("MGDLoss", MGD + "\n        alpha: 2.0", "Loss.Train.1.DistillationPairLoss.alpha"),
    ("MSELoss", MGD, "Loss.Train.1.DistillationPairLoss.base_loss_name"),
])
def test_bad_pair_loss_parameters_fail_at_config_load(tmp_path, make_overrides, base_loss, params, key):
    with pytest.raises(ConfigError) as info:
        pair_config(tmp_path, make_overrides, base_loss, params)
    assert info.value.key_path == key, info.value
