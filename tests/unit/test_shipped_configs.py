"""Every config ppslim ships validates, and ``_BASE_`` includes merge and fail as documented."""
from __future__ import annotations

from pathlib import Path

import pytest

from ppslim import config
from ppslim.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "configs").rglob("*.yaml"))


def test_there_are_shipped_configs():
    names = {p.name for p in SHIPPED}
    assert {"train.yaml", "qat.yaml", "prune.yaml", "ptq.yaml", "lite.yaml", "pipeline.yaml"} <= names
    assert {"ResNet50_quantization.yaml", "MobileNetV3_large_x1_0_prune.yaml"} <= names


OWN_MODEL = REPO / "configs" / "own_model"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_config_validates(path):
    cfg = config.load(str(path))
    if OWN_MODEL in path.parents:  # "your model + your images": no Arch, no labelled splits
        assert cfg.Slim.ptq.calib_dir and cfg.Infer.transforms and cfg.DataLoader.Eval is None
        return
    assert cfg.Arch is not None and cfg.DataLoader.Eval is not None


def test_slim_configs_carry_their_section():
    assert config.load(str(REPO / "configs/digits/qat.yaml")).Slim.quant is not None
    assert config.load(str(REPO / "configs/digits/prune.yaml")).Slim.prune.pruned_ratio == 0.3
    resnet_qat = config.load(str(REPO / "configs/ImageNet/ResNet50/ResNet50_quantization.yaml"))
    assert resnet_qat.Slim.quant.name.value == "pact" and resnet_qat.Global.epochs == 30
    assert resnet_qat.Global.image_shape == (3, 224, 224)  # inherited from the base file


def test_base_include_merges_and_overrides_win(tmp_path):
    (tmp_path / "base.yaml").write_text("Global:\n  epochs: 7\n  seed: 1\nArch:\n  name: DigitsNet\n")
    (tmp_path / "top.yaml").write_text("_BASE_: base.yaml\nGlobal:\n  epochs: 2\n")
    cfg = config.load(str(tmp_path / "top.yaml"), ["Global.seed=5"])
    assert (cfg.Global.epochs, cfg.Global.seed, cfg.Arch.name) == (2, 5, "DigitsNet")


def test_base_include_errors(tmp_path):
    (tmp_path / "missing.yaml").write_text("_BASE_: nope.yaml\n")
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        config.load(str(tmp_path / "missing.yaml"))
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_BASE_: a.yaml\n")
    with pytest.raises(ConfigError, match="include cycle"):
        config.load(str(tmp_path / "a.yaml"))


def test_imagenet_config_without_data_fails_before_work(tmp_path):
    from ppslim.stages import train

    cfg = config.load(str(REPO / "configs/ImageNet/ResNet50/ResNet50.yaml"),
                      [f"Global.output_dir={tmp_path}", "Global.device=cpu",
                       "DataLoader.Train.dataset.image_root=/nonexistent/ILSVRC2012"])
    with pytest.raises(ConfigError, match=r"^DataLoader.Train.dataset.image_root: image folder not found"):
        train.run(cfg)
    assert not any(tmp_path.iterdir())
