"""Fast checks of the pieces behind the compression stages (tiny networks, no data)."""
from __future__ import annotations

import numpy as np
import pytest

from ppslim import gpu, reporting
from ppslim.config import ArchConfig, PruneMethod, from_dict
from ppslim.errors import ArtifactError, ConfigError, PpslimError, refusal_reason
from ppslim.predict import compare, verify


def test_compare_and_verify():
    ref = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    same = compare(ref, ref * 1.01)
    assert same.cosine == pytest.approx(1.0) and same.top1_agreement == 1.0
    cfg = from_dict({})
    assert verify(ref, ref + 0.01, cfg, "ok").top1_agreement == 1.0
    flipped = ref[:, ::-1].copy()
    with pytest.raises(ArtifactError, match=r"thing: .* \(cosine .* < 0.99, top-1 agreement 0.500 < 0.95\); artifact refused"):
        verify(ref, flipped, cfg, "thing")
    with pytest.raises(ArtifactError, match="non-finite outputs"):
        verify(ref, np.full_like(ref, np.nan), cfg, "nan", min_cosine=-1, min_agreement=0)
    with pytest.raises(ArtifactError) as refused:  # a subject with ": " in it (a PTQ search candidate)
        verify(ref, flipped, cfg, "PTQ (auto: hist(0.999))")
    assert refusal_reason(refused.value).startswith("outputs disagree with the reference on 2 real images (cosine")
    assert refusal_reason(ArtifactError("PTQ of m refused: no candidate passed")) == "no candidate passed"


def test_markdown_table_formats_and_missing_values():
    table = reporting.markdown_table([{"a": "x", "n": 1234567, "f": 0.12345, "d": -0.5}, {"a": "y"}],
                                     [("a", "A"), ("n", "N"), ("f", "F"), ("d", "D", "+.2f")])
    lines = table.splitlines()
    assert lines[0] == "| A | N | F | D |" and lines[2] == "| x | 1,234,567 | 0.1235 | -0.50 |"
    assert lines[3] == "| y | - | - | - |"


@pytest.mark.parametrize("capability, archs, ok", [
    ((8, 6), gpu.CUDA11_ARCHS, True), ((8, 9), gpu.CUDA11_ARCHS, True),   # Ada runs sm_86 code
    ((7, 5), gpu.CUDA11_ARCHS, True), ((9, 0), gpu.CUDA11_ARCHS, False),  # Hopper needs the CUDA 12 build
    ((9, 0), gpu.CUDA12_ARCHS, True), ((5, 2), gpu.CUDA11_ARCHS, False)])
def test_gpu_generation_coverage(capability, archs, ok):
    assert gpu.supported(capability, archs) is ok


def test_gpu_check_names_what_to_do_on_cpu_build():
    with pytest.raises(PpslimError, match="CPU build"):
        gpu.check_gpu_supported()


def _digits_net():
    from ppslim import models

    return models.build_model(ArchConfig(name="DigitsNet", class_num=10))


def test_pruning_plan_replays_on_a_fresh_network():
    from ppslim import models
    from ppslim.compress.pruning import apply_plan, prune, ratios_for

    net = _digits_net()
    before = models.count_flops(net, (3, 32, 32))
    plan = prune(net, PruneMethod.L1_NORM, ratios_for(net, 0.5), (3, 32, 32))
    assert models.count_flops(net, (3, 32, 32)) < 0.4 * before
    assert not any(name.endswith("_backup") for name in net.state_dict())
    fresh = _digits_net()
    apply_plan(fresh, plan, (3, 32, 32))
    assert {k: list(v.shape) for k, v in fresh.state_dict().items()} == \
        {k: list(v.shape) for k, v in net.state_dict().items()}
    broken = dict(plan, shapes={**plan["shapes"], "fc.weight": [1, 1]})
    with pytest.raises(PpslimError, match="other shapes than recorded"):
        apply_plan(_digits_net(), broken, (3, 32, 32))


def test_qat_wrapping_counts_layers_and_state_is_named():
    from ppslim.config import QuantConfig
    from ppslim.compress.quant import qat_state, quant_settings, sync_qat_state, wrap_for_qat

    net = _digits_net()
    quanter = wrap_for_qat(net, quant_settings(QuantConfig()))
    assert quanter.wrapped_layers == 4  # 3 Conv2D + 1 Linear
    assert qat_state(net) and all(k.endswith(("._scale", "._accum", "._state")) for k in qat_state(net))
    assert sync_qat_state(net) == 0  # single process: nothing to average


def _table(losses_per_unit: dict) -> dict:
    """A sensitivity table whose loss grows linearly with the ratio, at a per-layer slope."""
    return {name: {f"{r / 10:.1f}": slope * r / 10 for r in range(1, 10)} for name, slope in losses_per_unit.items()}


def test_sensitivity_allocation_meets_flops_target_and_follows_sensitivity():
    """The loss-threshold allocation on a real network: the FLOPs target is met within tolerance, the least
    sensitive layer loses the most filters, and the order follows the table, not the layer sizes; solving
    leaves the network as it was."""
    from ppslim import models
    from ppslim.compress import sensitivity as sens

    shape = (3, 32, 32)
    net = _digits_net()
    net.eval()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    base = models.count_flops(net, shape)
    pruner = sens._pruner(net, PruneMethod.FPGM, shape)
    steep = _table({"features.0.weight": 0.5, "features.4.weight": 0.2, "features.8.weight": 0.05})
    for target in (0.3, 0.5):
        ratios, estimated = sens.allocate(pruner, net, shape, steep, target)
        assert abs(estimated - target) <= sens.FLOPS_TOLERANCE
        assert ratios.get("features.0.weight", 0.0) < ratios["features.4.weight"] < ratios["features.8.weight"]
    flipped = _table({"features.0.weight": 0.05, "features.4.weight": 0.2, "features.8.weight": 0.5})
    ratios, estimated = sens.allocate(pruner, net, shape, flipped, 0.3)
    assert abs(estimated - 0.3) <= sens.FLOPS_TOLERANCE
    assert ratios["features.0.weight"] > ratios["features.4.weight"] > ratios.get("features.8.weight", 0.0)
    # a measured curve that dips (noise) or is flat is read as its running worst: no jumps in the ratios
    noisy = {**steep, "features.8.weight": {**steep["features.8.weight"], "0.3": 0.0, "0.7": 0.0}}
    ratios, estimated = sens.allocate(pruner, net, shape, noisy, 0.5)
    assert abs(estimated - 0.5) <= sens.FLOPS_TOLERANCE

    ratio, reduction = sens._bisect_uniform(pruner, net, shape, 0.5)
    assert abs(reduction - 0.5) <= sens.FLOPS_TOLERANCE and 0.2 < ratio < 0.5
    with pytest.raises(ConfigError, match=r"^Slim.prune.target_flops_reduction: 0.995 not reachable: pruning 90%"):
        sens._check_reachable(pruner, net, shape, 0.995)
    sens.drop_backups(net)
    assert models.count_flops(net, shape) == base
    after = net.state_dict()
    assert set(after) == set(before) and all(np.array_equal(after[k].numpy(), v) for k, v in before.items())


def test_loss_curve_is_monotone_and_ratios_grow_with_the_threshold():
    from ppslim.compress.sensitivity import RAMP, loss_curve, ratios_at

    ratios, losses = loss_curve({"0.1": 0.2, "0.2": 0.1, "0.3": -0.05, "0.4": 0.3})
    assert list(ratios) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert np.allclose(losses, [0.0, 0.2, 0.2, 0.2, 0.3] + RAMP * ratios) and np.all(np.diff(losses) > 0)
    curves = {"a": loss_curve({"0.1": 0.01, "0.5": 0.02, "0.9": 0.05}), "b": loss_curve({"0.1": 0.3, "0.9": 0.9})}
    assert ratios_at(curves, 0.0) == {}
    low, high = ratios_at(curves, 0.02), ratios_at(curves, 0.5)
    assert low["b"] < 0.01 and 0.4 < low["a"] < 0.6  # b: read from (0, 0) to its first point
    assert high["a"] == 0.9 and 0.1 < high["b"] < 0.9
