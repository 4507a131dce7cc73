"""``ppslim prune``: FPGM / L1-norm filter pruning of a trained model, then fine-tuning.

``Slim.prune.pruned_ratio`` is given (one ratio, or a per-layer map), or solved for
``Slim.prune.target_flops_reduction``: ``auto`` (sensitivity-guided per-layer ratios) or ``uniform``
(one ratio for every Conv2D), see :mod:`ppslim.compress.sensitivity`."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Optional

from .. import artifacts, data, models, provenance
from ..train import engine
from ..config import Config
from ..errors import ConfigError, PpslimError
from ..compress import sensitivity
from ..compress.pruning import prune, ratios_for
from ..restore import load_trained_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneResult:
    run_dir: str
    best_model: str
    method: str
    flops_before: int
    flops_after: int
    params_before: int
    params_after: int
    flops_reduction: float
    top1_before_finetune: float
    best_top1: float
    epochs_run: int
    seconds: float
    # How the ratios were chosen: "fixed" (given), "auto" (sensitivity-guided) or "uniform" (one ratio
    # solved for target_flops_reduction); the per-layer ratios pruned (structured Conv2D weight names).
    mode: str = "fixed"
    ratios: Optional[dict] = None
    target_flops_reduction: Optional[float] = None
    uniform_ratio: Optional[float] = None
    solve_seconds: Optional[float] = None          # choosing the ratios in this run (analysis included)
    sensitivity_file: Optional[str] = None         # auto: the sensitivity table (JSON, structured names)
    sensitivity_cached: Optional[bool] = None      # auto: reused from sensitivity_file, not computed
    sensitivity_seconds: Optional[float] = None    # auto: what the analysis took when it was computed
    sensitivity_images: Optional[int] = None
    sensitivity_metric: Optional[str] = None


def run(cfg: Config) -> PruneResult:
    g = cfg.Global
    arch, prune_cfg = cfg.require("Arch"), cfg.require("Slim.prune")
    if arch.name == models.DISTILLATION and not arch.import_path:
        raise ConfigError("Arch.name", "pruning a DistillationModel is not supported (it would prune the teacher "
                          "too); prune a plain Arch")
    data.check_dataset(cfg, "Train")
    data.check_dataset(cfg, "Eval")
    runtime = engine.setup_runtime(cfg)
    run_dir = artifacts.model_dir(g.output_dir, arch.name)
    record = provenance.Record(cfg, "prune", g.pretrained_model)
    if runtime.is_main and not engine.resolve_resume(g.checkpoints, run_dir):
        record.guard(run_dir, "Global.output_dir", whole_folder=False)
        provenance.clear_run(run_dir)
    if g.pretrained_model:
        model, states = load_trained_model(cfg, artifacts.strip_suffix(g.pretrained_model), "Global.pretrained_model")
        if states.get("quant") or states.get("prune_plan"):
            raise PpslimError("Global.pretrained_model is already pruned or quantized; prune the FP32 model, "
                              "then run qat on the pruned checkpoint")
    else:
        model = models.build_model(arch, pretrained=True)  # Arch.pretrained: PaddleClas's weights
        if not arch.pretrained:
            log.warning("pruning without Global.pretrained_model or Arch.pretrained ranks random filters; "
                        "prune a trained model")
    shape = g.image_shape
    flops_before, params_before = models.count_flops(model, shape), models.count_params(model)
    solved = sensitivity.solve(cfg, model) if prune_cfg.mode is not None else None
    ratios = solved.ratios if solved is not None else ratios_for(model, prune_cfg.pruned_ratio)
    plan = prune(model, prune_cfg.name, ratios, shape)
    flops_after, params_after = models.count_flops(model, shape), models.count_params(model)
    reduction = round(1 - flops_after / flops_before, 4)
    log.info("FLOPs %d -> %d (-%.1f%%), params %d -> %d", flops_before, flops_after, 100 * reduction,
             params_before, params_after)
    if solved is not None and abs(reduction - solved.target) > sensitivity.FLOPS_TOLERANCE:
        raise PpslimError(f"pruned_ratio: {solved.mode} removed {reduction:.1%} of the FLOPs, not "
                          f"Slim.prune.target_flops_reduction {solved.target:.1%} (+-{sensitivity.FLOPS_TOLERANCE:.0%}):"
                          f" this network's filter counts are too coarse for that target")
    top1_before = engine.evaluate(model, data.build_loader(cfg, "Eval", shuffle=False), cfg).get("top1", 0.0)
    lr = cfg.Optimizer.lr
    if prune_cfg.finetune_lr is not None:
        lr = replace(lr, learning_rate=prune_cfg.finetune_lr, warmup_epoch=0)
    fitted = engine.fit(model, cfg, runtime, run_dir, epochs=prune_cfg.finetune_epochs, lr=lr, resume=g.checkpoints,
                        extra_state={"prune_plan": plan})
    sens = solved.sensitivity if solved is not None else None
    result = PruneResult(run_dir, fitted.best_model, plan["method"], flops_before, flops_after, params_before,
                         params_after, reduction, top1_before, fitted.best_top1, fitted.epochs_run, fitted.seconds,
                         mode=solved.mode if solved is not None else "fixed", ratios=plan["ratios"],
                         target_flops_reduction=solved.target if solved is not None else None,
                         uniform_ratio=solved.uniform_ratio if solved is not None else None,
                         solve_seconds=solved.seconds if solved is not None else None,
                         sensitivity_file=sens.path if sens else None,
                         sensitivity_cached=sens.cached if sens else None,
                         sensitivity_seconds=sens.seconds if sens else None,
                         sensitivity_images=sens.images if sens else None,
                         sensitivity_metric=sens.metric if sens else None)
    if runtime.is_main:
        record.write_result(run_dir, result, fitted.best_model)
    return result
