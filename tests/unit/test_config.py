"""Config loading: ``-o`` overrides, typed validation, key paths in every error, the CLI's one-line error."""
from __future__ import annotations

import pytest
import yaml

from ppslim import config
from ppslim.config import Device, LrName, PtqAlgo
from ppslim.errors import ConfigError

from tests.conftest import DIGITS_CONFIG, run_cli


def load(*overrides: str):
    return config.load(str(DIGITS_CONFIG), list(overrides))


def raw_config() -> dict:
    with open(DIGITS_CONFIG, encoding="utf-8") as f:
        return yaml.safe_load(f)


def write_yaml(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def rejected(*overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(*overrides)
    return info.value


# ------------------------------------------------------------------------------- override parsing
@pytest.mark.parametrize("text, value", [
    ("Global.epochs=3", 3),
    ("Global.verify_min_cosine=0.5", 0.5),
    ("Global.verify_min_cosine=1e-3", 1e-3),
    ("Global.eval_during_train=false", False),
    ("Global.eval_during_train=True", True),
    ("Global.image_shape=[3, 28, 28]", [3, 28, 28]),
    ("Global.pretrained_model=null", None),
    ("Global.pretrained_model=~", None),
    ("Global.output_dir=./out/x", "./out/x"),
    ("Global.output_dir=", ""),
    ("Infer.infer_imgs=a=b", "a=b"),               # only the first '=' splits key from value
    ("Slim.prune.pruned_ratio={conv1: 0.2}", {"conv1": 0.2}),
])
def test_parse_override_yaml_types(text, value):
    parts, parsed = config.parse_override(text)
    assert parts == text.split("=", 1)[0].split(".")
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["Global.epochs", "=3", "Global..epochs=3", ".epochs=3"])
def test_parse_override_rejects_malformed(text):
    with pytest.raises(ConfigError, match="override"):
        config.parse_override(text)


def test_parse_override_rejects_invalid_yaml():
    with pytest.raises(ConfigError) as info:
        config.parse_override("Global.image_shape=[3, 32")
    assert info.value.key_path == "Global.image_shape"
    assert "not valid YAML" in info.value.msg


def test_overrides_are_typed_nested_and_repeatable():
    cfg = load("Global.epochs=3", "Global.eval_during_train=false", "Global.image_shape=[3,28,28]",
               "Global.verify_min_cosine=0.5", "Global.pretrained_model=null",
               "Optimizer.lr.learning_rate=0.05", "DataLoader.Train.sampler.batch_size=16",
               "Global.epochs=7")  # repeated key: the last one wins
    g = cfg.Global
    assert (g.epochs, g.eval_during_train, g.image_shape, g.verify_min_cosine) == (7, False, (3, 28, 28), 0.5)
    assert g.pretrained_model is None
    assert cfg.Optimizer.lr.learning_rate == 0.05
    assert cfg.DataLoader.Train.sampler.batch_size == 16


def test_override_creates_missing_sections():
    cfg = load("Slim.prune.pruned_ratio=0.25", "Slim.ptq.algo=avg")
    assert cfg.Slim.prune.pruned_ratio == 0.25
    assert cfg.Slim.ptq.algo == PtqAlgo.AVG
    assert cfg.Slim.quant is None


def test_override_list_index_paths():
    cfg = load("DataLoader.Train.dataset.transform_ops.1.ResizeImage.size=28", "Metric.Eval.0.TopkAcc.topk=[1, 3]")
    resize = cfg.DataLoader.Train.dataset.transform_ops[1]
    assert (resize.name, resize.params) == ("ResizeImage", {"size": 28})
    assert cfg.DataLoader.Eval.dataset.transform_ops[1].params == {"size": 32}  # the other split is untouched
    assert cfg.Metric.Eval[0].params == {"topk": [1, 3]}


def test_override_list_index_out_of_range_names_path():
    err = rejected("Metric.Eval.5.TopkAcc.topk=[1]")
    assert err.key_path == "Metric.Eval.5"
    assert "index below 1" in err.msg


def test_override_does_not_touch_yaml_file_data():
    data = raw_config()
    config.from_dict(data, ["Global.epochs=1"])
    assert data["Global"]["epochs"] == raw_config()["Global"]["epochs"]


def test_exponent_floats_without_a_dot(tmp_path):
    """PyYAML alone reads ``1e-4`` as a string; users write it for LRs and weight decay."""
    assert load("Optimizer.regularizer.coeff=1e-4").Optimizer.regularizer.coeff == 1e-4
    data = raw_config()
    data["Optimizer"]["lr"]["eta_min"] = "1e-5"
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data).replace("'1e-5'", "1e-5"))  # unquoted, as a user writes it
    assert "eta_min: 1e-5" in path.read_text()
    assert config.load(str(path)).Optimizer.lr.eta_min == 1e-5


def test_value_with_equals_sign():
    assert load("Infer.infer_imgs=a=b").Infer.infer_imgs == "a=b"


def test_config_is_frozen():
    cfg = load()
    with pytest.raises(Exception):
        cfg.Global.epochs = 3  # type: ignore[misc]


def test_roundtrip_through_to_dict():
    """What ``pipeline.derive`` relies on: a Config survives to_dict -> from_dict unchanged."""
    cfg = load("Slim.prune.pruned_ratio=0.3", "Optimizer.lr.name=Piecewise", "Optimizer.lr.values=[0.1]")
    again = config.from_dict(config.to_dict(cfg), source=cfg.source)
    assert again == cfg


# ------------------------------------------------------------------------------- typos and types
def test_typo_override_rejected_with_key_and_hint():
    err = rejected("Global.epoch=3")
    assert err.key_path == "Global.epoch"
    assert str(err) == "Global.epoch: unknown key (did you mean epochs?)"


def test_typo_in_yaml_rejected_with_key_and_hint(tmp_path):
    data = raw_config()
    data["DataLoader"]["Train"]["sampler"]["batch_sise"] = data["DataLoader"]["Train"]["sampler"].pop("batch_size")
    with pytest.raises(ConfigError) as info:
        config.load(write_yaml(tmp_path / "typo.yaml", data))
    assert info.value.key_path == "DataLoader.Train.sampler.batch_sise"
    assert "unknown key" in info.value.msg and "did you mean batch_size?" in info.value.msg


def test_unknown_section_rejected():
    err = rejected("Globl.epochs=3")
    assert err.key_path == "Globl"
    assert "did you mean Global?" in err.msg


@pytest.mark.parametrize("override, key_path, expected", [
    ("Global.epochs=three", "Global.epochs", "expected an integer, got 'three' (str)"),
    ("Global.seed=true", "Global.seed", "expected an integer"),
    ("DataLoader.Train.sampler.batch_size=1.5", "DataLoader.Train.sampler.batch_size", "expected an integer"),
    ("Global.eval_during_train=maybe", "Global.eval_during_train", "expected true/false"),
    ("Global.image_shape=32", "Global.image_shape", "expected a list"),
    ("Global.image_shape=[3, 32]", "Global.image_shape", "expected [C, H, W]"),
    ("Optimizer.lr.learning_rate=fast", "Optimizer.lr.learning_rate", "expected a number"),
    ("Global.output_dir=[a, b]", "Global.output_dir", "expected a string"),
    ("Global.epochs=0", "Global.epochs", "expected an integer >= 1"),
    ("Optimizer.lr.learning_rate=0", "Optimizer.lr.learning_rate", "expected a number > 0"),
])
def test_wrong_types_rejected_with_key_path(override, key_path, expected):
    err = rejected(override)
    assert err.key_path == key_path
    assert expected in err.msg


def test_wrong_type_in_yaml_rejected_with_key_path(tmp_path):
    data = raw_config()
    data["DataLoader"]["Eval"]["sampler"]["shuffle"] = "no thanks"
    with pytest.raises(ConfigError) as info:
        config.load(write_yaml(tmp_path / "bad.yaml", data))
    assert info.value.key_path == "DataLoader.Eval.sampler.shuffle"
    assert "expected true/false" in info.value.msg


# ------------------------------------------------------------------------------- ops, enums, sections
def test_unknown_transform_op_rejected():
    err = rejected("DataLoader.Train.dataset.transform_ops.1={ResizeImag: {size: 32}}")
    assert err.key_path == "DataLoader.Train.dataset.transform_ops.1"
    assert "'ResizeImag' not in" in err.msg and "did you mean ResizeImage?" in err.msg


def test_unknown_transform_param_rejected():
    err = rejected("DataLoader.Eval.dataset.transform_ops.1.ResizeImage.sise=32")
    assert err.key_path == "DataLoader.Eval.dataset.transform_ops.1.ResizeImage.sise"
    assert "unknown parameter" in err.msg and "did you mean size?" in err.msg


def test_unknown_loss_and_metric_rejected():
    assert rejected("Loss.Train=[{CELos: {weight: 1.0}}]").key_path == "Loss.Train.0"
    assert rejected("Metric.Eval.0.TopkAcc.k=[1]").key_path == "Metric.Eval.0.TopkAcc.k"


def test_enum_device_rejected():
    err = rejected("Global.device=tpu")
    assert err.key_path == "Global.device"
    assert "'tpu' not in [cpu, gpu]" in err.msg


def test_enums_are_typed():
    cfg = load("Global.device=cpu", "Optimizer.lr.name=Constant")
    assert cfg.Global.device is Device.CPU
    assert cfg.Optimizer.lr.name is LrName.CONSTANT


def test_unknown_optimizer_rejected():
    err = rejected("Optimizer.name=Adamx")  # (Adamw now names AdamW: enum names match case-insensitively)
    assert err.key_path == "Optimizer.name"


def test_piecewise_lr_validation():
    ok = load("Optimizer.lr.name=Piecewise", "Optimizer.lr.decay_epochs=[2, 4]", "Optimizer.lr.values=[0.1, 0.01, 0.001]")
    assert ok.Optimizer.lr.decay_epochs == (2, 4) and ok.Optimizer.lr.values == (0.1, 0.01, 0.001)
    err = rejected("Optimizer.lr.name=Piecewise", "Optimizer.lr.decay_epochs=[2, 4]", "Optimizer.lr.values=[0.1, 0.01]")
    assert err.key_path == "Optimizer.lr.values"
    assert "len(decay_epochs) + 1 = 3" in err.msg


@pytest.mark.parametrize("ratio", ["0", "1.0", "-0.1", "1.5"])
def test_prune_ratio_outside_open_interval_rejected(ratio):
    err = rejected(f"Slim.prune.pruned_ratio={ratio}")
    assert err.key_path == "Slim.prune.pruned_ratio"
    assert "(0, 1)" in err.msg


def test_prune_ratio_per_layer():
    assert load("Slim.prune.pruned_ratio={conv1: 0.2}").Slim.prune.pruned_ratio == {"conv1": 0.2}
    assert rejected("Slim.prune.pruned_ratio={conv1: 1.5}").key_path == "Slim.prune.pruned_ratio.conv1"


@pytest.mark.parametrize("mode", ["auto", "uniform"])
def test_prune_ratio_solved_for_flops_target(mode):
    prune = load(f"Slim.prune.pruned_ratio={mode}", "Slim.prune.target_flops_reduction=0.5").Slim.prune
    assert prune.mode.value == mode and prune.target_flops_reduction == 0.5
    assert load("Slim.prune.pruned_ratio=0.3").Slim.prune.mode is None
    err = rejected(f"Slim.prune.pruned_ratio={mode}")
    assert err.key_path == "Slim.prune.target_flops_reduction" and f"required by pruned_ratio: {mode}" in err.msg
    for bad in ("0", "1", "1.2", "-0.5"):
        err = rejected(f"Slim.prune.pruned_ratio={mode}", f"Slim.prune.target_flops_reduction={bad}")
        assert err.key_path == "Slim.prune.target_flops_reduction" and "(0, 1)" in err.msg


@pytest.mark.parametrize("overrides, key, text", [
    # a target with a given ratio would be silently ignored: refused, naming the modes that use it
    (["Slim.prune.pruned_ratio=0.3", "Slim.prune.target_flops_reduction=0.5"],
     "Slim.prune.target_flops_reduction", "only used with pruned_ratio: auto (sensitivity-guided) or uniform"),
    (["Slim.prune.pruned_ratio={conv1: 0.2}", "Slim.prune.target_flops_reduction=0.5"],
     "Slim.prune.target_flops_reduction", "pruned_ratio is a per-layer map"),
    (["Slim.prune.pruned_ratio=atuo"], "Slim.prune.pruned_ratio", "one of [auto, uniform], got 'atuo'"),
    # the sensitivity knobs only mean something for auto
    (["Slim.prune.pruned_ratio=0.3", "Slim.prune.sensitivity_images=64"], "Slim.prune.sensitivity_images",
     "only used with pruned_ratio: auto"),
    (["Slim.prune.pruned_ratio=uniform", "Slim.prune.target_flops_reduction=0.5", "Slim.prune.sensitivity_metric=loss"],
     "Slim.prune.sensitivity_metric", "but pruned_ratio is uniform"),
    (["Slim.prune.sensitivity_cache_dir=/tmp/x"], "Slim.prune.sensitivity_cache_dir", "only used with pruned_ratio: auto"),
    (["Slim.prune.pruned_ratio=auto", "Slim.prune.target_flops_reduction=0.5", "Slim.prune.sensitivity_images=0"],
     "Slim.prune.sensitivity_images", "expected an integer >= 1"),
    (["Slim.prune.pruned_ratio=auto", "Slim.prune.target_flops_reduction=0.5", "Slim.prune.sensitivity_metric=top5"],
     "Slim.prune.sensitivity_metric", "not in [top1, loss]"),
])
def test_prune_target_keys_refused_where_they_do_nothing(overrides, key, text):
    err = rejected(*overrides)
    assert err.key_path == key and text in err.msg


def test_prune_sensitivity_knobs_default_and_parse():
    from ppslim.compress.sensitivity import sensitivity_images, sensitivity_metric

    prune = load("Slim.prune.pruned_ratio=auto", "Slim.prune.target_flops_reduction=0.45").Slim.prune
    assert sensitivity_images(prune) == 256 and sensitivity_metric(prune).value == "top1"
    prune = load("Slim.prune.pruned_ratio=auto", "Slim.prune.target_flops_reduction=0.45",
                 "Slim.prune.sensitivity_images=64", "Slim.prune.sensitivity_metric=loss").Slim.prune
    assert sensitivity_images(prune) == 64 and sensitivity_metric(prune).value == "loss"


def test_unknown_prune_method_rejected():
    err = rejected("Slim.prune.name=l2_norm")
    assert err.key_path == "Slim.prune.name"
    assert "did you mean l1_norm?" in err.msg


def test_unknown_ptq_algo_rejected():
    err = rejected("Slim.ptq.algo=kl2")
    assert err.key_path == "Slim.ptq.algo"
    assert "not in [KL, hist" in err.msg


def test_ptq_batch_nums_zero_rejected():
    err = rejected("Slim.ptq.batch_nums=0")
    assert err.key_path == "Slim.ptq.batch_nums"
    assert "expected an integer >= 1" in err.msg


def test_unknown_lite_target_rejected():
    err = rejected("Slim.lite.valid_targets=[arm, x87]")
    assert err.key_path == "Slim.lite.valid_targets.1"
    assert "did you mean x86?" in err.msg
    assert rejected("Slim.lite.valid_targets=[]").key_path == "Slim.lite.valid_targets"


def test_quant_bits_rejected():
    assert rejected("Slim.quant.weight_bits=1").key_path == "Slim.quant.weight_bits"


def test_arch_name_required_when_arch_given():
    err = rejected("Arch={class_num: 10}")
    assert err.key_path == "Arch.name"
    assert "required key is missing" in err.msg


# ------------------------------------------------------------------------------- files and CLI
def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        config.load(str(missing))
    assert "config file not found" in info.value.msg and str(missing) in info.value.msg


def test_config_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- Global\n- Arch\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        config.load(str(path))


def test_cli_bad_config_exits_2_with_one_line(tmp_path):
    data = raw_config()
    data["Global"]["epoch"] = data["Global"].pop("epochs")
    proc = run_cli("train", "-c", write_yaml(tmp_path / "bad.yaml", data), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: Global.epoch: unknown key (did you mean epochs?)"]
    assert proc.stdout == ""
    assert not (tmp_path / "output").exists()


def test_cli_bad_override_exits_2_with_one_line():
    proc = run_cli("train", "-c", str(DIGITS_CONFIG), "-o", "Global.epochs=3", "-o", "Global.device=tpu",
                   timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Global.device: 'tpu' not in [cpu, gpu]")


def test_cli_missing_config_exits_2(tmp_path):
    proc = run_cli("eval", "-c", str(tmp_path / "nope.yaml"), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: -c: config file not found: {tmp_path / 'nope.yaml'}"]
