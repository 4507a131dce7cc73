"""Model registry, ``Arch.import`` of a user's network, and strict weight loading."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from ppslim import config, models
from ppslim.config import ArchConfig
from ppslim.errors import ConfigError


def forward(model, shape=(2, 3, 32, 32)) -> np.ndarray:
    import paddle

    model.eval()
    with paddle.no_grad():
        return model(paddle.to_tensor(np.random.RandomState(0).rand(*shape).astype("float32"))).numpy()


# ------------------------------------------------------------------------------- registry
def test_digitsnet_default():
    model = models.build_model(ArchConfig(name="DigitsNet", class_num=10))
    assert forward(model).shape == (2, 10)
    assert 10_000 < models.count_params(model) < 50_000


def test_digitsnet_width_param_and_scale():
    wide = models.build_model(ArchConfig(name="DigitsNet", class_num=10, params={"width": 32}))
    half = models.build_model(ArchConfig(name="DigitsNet", class_num=10, scale=0.5))
    base = models.count_params(models.build_model(ArchConfig(name="DigitsNet", class_num=10)))
    assert models.count_params(half) < base < models.count_params(wide)


def test_resnet18_class_num():
    model = models.build_model(ArchConfig(name="resnet18", class_num=7))
    assert forward(model, (1, 3, 32, 32)).shape == (1, 7)


def test_mobilenet_v3_small_scale():
    small = models.build_model(ArchConfig(name="mobilenet_v3_small", class_num=5, scale=0.5))
    full = models.build_model(ArchConfig(name="mobilenet_v3_small", class_num=5))
    assert forward(small, (1, 3, 64, 64)).shape == (1, 5)
    assert models.count_params(small) < models.count_params(full)


def test_paddleclas_name_builds_paddleclas_class():
    """PaddleClas's spellings build PaddleClas's classes now, not a paddle.vision look-alike."""
    model = models.build_model(ArchConfig(name="MobileNetV3_large_x0_5", class_num=3))
    assert forward(model, (1, 3, 64, 64)).shape == (1, 3)
    assert type(model).__module__.startswith("paddleclas.ppcls.arch.backbone")


def test_unknown_arch_rejected_with_hint():
    with pytest.raises(ConfigError) as info:
        models.build_model(ArchConfig(name="resnet81", class_num=10))
    assert info.value.key_path == "Arch.name"
    assert "'resnet81' is not a PaddleClas backbone" in info.value.msg and "did you mean resnet18?" in info.value.msg


def test_scale_on_arch_without_scale_rejected():
    with pytest.raises(ConfigError) as info:
        models.build_model(ArchConfig(name="resnet18", class_num=10, scale=0.5))
    assert info.value.key_path == "Arch.scale"


def test_unknown_arch_param_rejected():
    with pytest.raises(ConfigError) as info:
        models.build_model(ArchConfig(name="DigitsNet", class_num=10, params={"widht": 8}))
    assert info.value.key_path == "Arch.params.widht"


def test_arch_from_config_overrides():
    cfg = config.from_dict({"Arch": {"name": "DigitsNet"}}, ["Arch.class_num=4", "Arch.params={width: 8}"])
    assert forward(models.build_model(cfg.Arch)).shape == (2, 4)


def test_hub_pretrained_rejected():
    with pytest.raises(ConfigError) as info:
        config.from_dict({"Arch": {"name": "resnet18", "pretrained": True}})
    assert info.value.key_path == "Arch.pretrained"


# ------------------------------------------------------------------------------- Arch.import
@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's model file importable as ``my_tiny_net`` (on sys.path for this test only)."""
    (tmp_path / "my_tiny_net.py").write_text(textwrap.dedent("""
        import paddle.nn as nn

        CALLS = []

        class Tiny(nn.Layer):
            def __init__(self, class_num, hidden):
                super().__init__()
                self.pool = nn.AdaptiveAvgPool2D(1)
                self.fc1 = nn.Linear(3, hidden)
                self.fc2 = nn.Linear(hidden, class_num)

            def forward(self, x):
                return self.fc2(self.fc1(self.pool(x).reshape([0, -1])))

        def build(class_num, hidden=4):
            CALLS.append((class_num, hidden))
            return Tiny(class_num, hidden)

        class Factories:
            @staticmethod
            def build(class_num):
                return Tiny(class_num, 2)

        NOT_CALLABLE = 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_tiny_net"
    import sys

    sys.modules.pop("my_tiny_net", None)


def test_arch_import_builds_user_model(user_module):
    import importlib

    cfg = config.from_dict({"Arch": {"name": "Tiny", "import": f"{user_module}:build", "class_num": 6,
                                     "params": {"hidden": 5}}})
    assert cfg.Arch.import_path == f"{user_module}:build"
    model = models.build_model(cfg.Arch)
    assert forward(model).shape == (2, 6)
    assert importlib.import_module(user_module).CALLS == [(6, 5)]


def test_arch_import_dotted_attribute(user_module):
    model = models.build_model(ArchConfig(name="Tiny", class_num=3, import_path=f"{user_module}:Factories.build"))
    assert forward(model).shape == (2, 3)


@pytest.mark.parametrize("spec, message", [
    ("my_tiny_net", "expected 'package.module:callable'"),
    ("no_such_module_xyz:build", "cannot import 'no_such_module_xyz'"),
    ("my_tiny_net:nope", "has no attribute 'nope'"),
    ("my_tiny_net:NOT_CALLABLE", "is not callable"),
])
def test_arch_import_errors(user_module, spec, message):
    with pytest.raises(ConfigError) as info:
        models.build_model(ArchConfig(name="Tiny", class_num=3, import_path=spec))
    assert info.value.key_path == "Arch.import"
    assert message in info.value.msg


def test_arch_import_unknown_param(user_module):
    with pytest.raises(ConfigError) as info:
        models.build_model(ArchConfig(name="Tiny", class_num=3, import_path=f"{user_module}:build",
                                      params={"depth": 2}))
    assert info.value.key_path == "Arch.params.depth"


# ------------------------------------------------------------------------------- strict weights
@pytest.fixture
def saved_digitsnet(tmp_path):
    import paddle

    model = models.build_model(ArchConfig(name="DigitsNet", class_num=10))
    paddle.save(model.state_dict(), str(tmp_path / "w.pdparams"))
    return model, tmp_path / "w"


def test_matching_weights_load(saved_digitsnet):
    model, prefix = saved_digitsnet
    other = models.build_model(ArchConfig(name="DigitsNet", class_num=10))
    assert not np.allclose(forward(model), forward(other))
    n = models.load_weights(other, str(prefix) + ".pdparams")  # with or without the suffix
    assert n == len(model.state_dict())
    np.testing.assert_allclose(forward(model), forward(other), rtol=1e-6)


def test_mismatched_shapes_refused(saved_digitsnet):
    _, prefix = saved_digitsnet
    five = models.build_model(ArchConfig(name="DigitsNet", class_num=5))
    before = forward(five)
    with pytest.raises(ConfigError) as info:
        models.load_weights(five, str(prefix))
    assert info.value.key_path == "Global.pretrained_model"
    assert "does not match the network" in info.value.msg and "other shapes" in info.value.msg
    assert "fc.weight" in info.value.msg
    np.testing.assert_array_equal(forward(five), before)  # nothing was half-loaded


def test_other_network_refused(saved_digitsnet):
    """The incumbent's bug: names differ, the log said 'loaded', the weights stayed random (top-1 0.10)."""
    _, prefix = saved_digitsnet
    resnet = models.build_model(ArchConfig(name="resnet18", class_num=10))
    with pytest.raises(ConfigError) as info:
        models.load_weights(resnet, str(prefix), key="Global.checkpoints")
    assert info.value.key_path == "Global.checkpoints"
    assert "missing" in info.value.msg and "unexpected" in info.value.msg


def test_missing_and_non_checkpoint_files(tmp_path):
    model = models.build_model(ArchConfig(name="DigitsNet", class_num=10))
    with pytest.raises(ConfigError, match="weights file not found"):
        models.load_weights(model, str(tmp_path / "nope"))
    (tmp_path / "junk.pdparams").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a Paddle checkpoint"):
        models.load_weights(model, str(tmp_path / "junk"))


def test_arch_import_scale_not_taken(user_module):
    with pytest.raises(ConfigError) as info:
        models.build_model(ArchConfig(name="Tiny", class_num=3, scale=0.5, import_path=f"{user_module}:build"))
    assert info.value.key_path == "Arch.scale"
