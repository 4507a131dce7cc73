"""``Slim.prune.pruned_ratio: auto | uniform`` (ratios solved for ``target_flops_reduction``) on the digits
data: real PaddleSlim sensitivity analysis, pruning, fine-tuning, export.

Starts from the session's ``trained_model`` (DigitsNet, see conftest); each test writes into its own tmp dir.
"""
from __future__ import annotations

import os

import pytest

from ppslim import artifacts
from ppslim.errors import ConfigError
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e

TARGET = 0.5
# 1 fine-tuning epoch; 64 Train images score the 3 Conv2D x 9 ratios of the analysis.
AUTO = ["Slim.prune.name=fpgm", "Slim.prune.pruned_ratio=auto", f"Slim.prune.target_flops_reduction={TARGET}",
        "Slim.prune.sensitivity_images=64", "Global.epochs=1", "Optimizer.lr.learning_rate=0.02",
        "Optimizer.lr.warmup_epoch=0"]


def program_conv_filters(model_file: str) -> list[list[int]]:
    """The filter shapes of the conv2d ops of a saved inference program, in program order."""
    from paddle.base import core

    with open(model_file, "rb") as f:
        desc = core.ProgramDesc(f.read())  # keep it referenced: its blocks point into it
    block = desc.block(0)
    ops = [block.op(i) for i in range(block.op_size())]
    return [list(block.var(op.input("Filter")[0].encode()).shape()) for op in ops if op.type() == "conv2d"]


@pytest.fixture(scope="module")
def auto_pruned(trained_model, tmp_path_factory, digits_dir):
    """Sensitivity-guided pruning, run twice on the same weights and cache folder."""
    from ppslim import config
    from ppslim.stages import prune
    from tests.conftest import DIGITS_CONFIG, output_overrides

    work = tmp_path_factory.mktemp("auto")
    cache = f"Slim.prune.sensitivity_cache_dir={work / 'cache'}"

    def run(name):
        return prune.run(config.load(str(DIGITS_CONFIG), [*trained_model.overrides, *output_overrides(work / name),
                                                          *AUTO, cache]))
    first = run("first")
    mtime = os.path.getmtime(first.sensitivity_file)
    return first, run("second"), mtime


def test_auto_reaches_flops_target_with_per_layer_ratios(auto_pruned):
    first, _, _ = auto_pruned
    assert first.mode == "auto" and first.target_flops_reduction == TARGET
    assert abs(first.flops_reduction - TARGET) <= 0.02
    assert len(set(first.ratios.values())) > 1  # not one ratio for all
    table = artifacts.read_json(first.sensitivity_file)
    # the analysis covered every Conv2D at PaddleSlim's 9 ratios, scored on Train images only
    assert set(table["table"]) == {"features.0.weight", "features.4.weight", "features.8.weight"}
    assert all(len(losses) == 9 for losses in table["table"].values())
    assert table["settings"]["images"] == 64 and first.sensitivity_images == 64
    assert not first.sensitivity_cached and first.sensitivity_seconds > 0
    # the least sensitive layer (lowest loss at 50%) lost the largest share of filters
    at_half = {name: losses["0.5"] for name, losses in table["table"].items()}
    assert first.ratios.get(min(at_half, key=at_half.get), 0) == max(first.ratios.values())
    recorded = artifacts.read_json(os.path.join(first.run_dir, artifacts.RESULT_FILE))
    assert recorded["ratios"] == first.ratios and recorded["sensitivity_file"] == first.sensitivity_file
    assert first.best_top1 > 0.5


def test_auto_reuses_the_cached_analysis(auto_pruned):
    first, second, mtime = auto_pruned
    assert second.sensitivity_cached and second.sensitivity_file == first.sensitivity_file
    assert os.path.getmtime(second.sensitivity_file) == mtime  # read, not rewritten
    assert second.ratios == first.ratios and second.flops_after == first.flops_after
    assert second.solve_seconds < first.solve_seconds


def test_auto_pruned_checkpoint_exports_with_the_recorded_shapes(auto_pruned, make_config):
    from ppslim.stages import export

    first, _, _ = auto_pruned
    exported = export.run(make_config(f"Global.pretrained_model={first.best_model}"))
    plan = artifacts.read_json(first.best_model + ".pdstates")["prune_plan"]
    assert plan["ratios"] == first.ratios
    model_file, _ = artifacts.inference_files(exported.model_dir)
    assert program_conv_filters(model_file) == [plan["shapes"][f"features.{i}.weight"] for i in (0, 4, 8)]
    assert exported.params == first.params_after


def test_uniform_solves_one_ratio_for_the_target(trained_model, make_config):
    from ppslim.stages import prune

    result = prune.run(make_config(*trained_model.overrides, *[o for o in AUTO if "sensitivity" not in o],
                                   "Slim.prune.pruned_ratio=uniform", "Global.epochs=1"))
    assert result.mode == "uniform" and 0.2 < result.uniform_ratio < 0.5
    assert set(result.ratios.values()) == {result.uniform_ratio}
    assert abs(result.flops_reduction - TARGET) <= 0.02 and result.sensitivity_file is None


def test_bad_target_keys_fail_before_work(trained_model, make_config, make_overrides, tmp_path):
    from ppslim.stages import prune

    done = run_cli("prune", "-c", "configs/digits/prune.yaml", "-o",
                   *make_overrides(tmp_path, *trained_model.overrides, "Slim.prune.pruned_ratio=auto"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == ("error: Slim.prune.target_flops_reduction: required by "
                                                    "pruned_ratio: auto: the share of FLOPs to remove, in (0, 1), "
                                                    "e.g. 0.5")
    # beyond what 90% of every Conv2D removes: refused before the analysis, nothing cached or trained
    with pytest.raises(ConfigError, match=r"^Slim.prune.target_flops_reduction: 0.995 not reachable"):
        prune.run(make_config(*trained_model.overrides, *AUTO, "Slim.prune.target_flops_reduction=0.995",
                              f"Slim.prune.sensitivity_cache_dir={tmp_path / 'cache'}"))
    assert not (tmp_path / "cache").exists()
    assert not os.path.exists(os.path.join(tmp_path, "output", "DigitsNet", "best_model.pdparams"))
