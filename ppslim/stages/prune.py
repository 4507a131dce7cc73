"""``ppslim prune``: FPGM / L1-norm filter pruning of a trained model, then fine-tuning."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from .. import artifacts, data, models, provenance
from ..train import engine
from ..config import Config
from ..errors import ConfigError, PpslimError
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
    plan = prune(model, prune_cfg.name, ratios_for(model, prune_cfg.pruned_ratio), shape)
    flops_after, params_after = models.count_flops(model, shape), models.count_params(model)
    log.info("FLOPs %d -> %d (-%.1f%%), params %d -> %d", flops_before, flops_after,
             100 * (1 - flops_after / flops_before), params_before, params_after)
    top1_before = engine.evaluate(model, data.build_loader(cfg, "Eval", shuffle=False), cfg).get("top1", 0.0)
    lr = cfg.Optimizer.lr
    if prune_cfg.finetune_lr is not None:
        lr = replace(lr, learning_rate=prune_cfg.finetune_lr, warmup_epoch=0)
    fitted = engine.fit(model, cfg, runtime, run_dir, epochs=prune_cfg.finetune_epochs, lr=lr, resume=g.checkpoints,
                        extra_state={"prune_plan": plan})
    result = PruneResult(run_dir, fitted.best_model, plan["method"], flops_before, flops_after, params_before,
                         params_after, round(1 - flops_after / flops_before, 4), top1_before, fitted.best_top1,
                         fitted.epochs_run, fitted.seconds)
    if runtime.is_main:
        record.write_result(run_dir, result, fitted.best_model)
    return result
