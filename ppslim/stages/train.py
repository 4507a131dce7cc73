"""``ppslim train``: the FP32 baseline."""
from __future__ import annotations

from dataclasses import dataclass

from .. import artifacts, data, models, provenance
from ..train import engine
from ..config import Config
from ..errors import ConfigError


@dataclass(frozen=True)
class TrainResult:
    run_dir: str
    best_model: str
    best_top1: float
    best_epoch: int
    epochs_run: int
    last_epoch: int
    final_metrics: dict
    params: int
    flops: int
    seconds: float


def planned_stage(cfg: Config) -> tuple[str, str]:
    """What ``ppslim train`` runs on ``cfg``, and why: PaddleClas's ``tools/train.py`` trains with QAT
    when the config has ``Slim.quant`` and prunes first when it has ``Slim.prune``, so ``ppslim train``
    on a PaddleClas slim config runs ``qat`` or ``prune``."""
    slim = cfg.Slim
    if slim.quant is not None and slim.prune is not None:
        raise ConfigError("Slim", "has both quant and prune: run `ppslim prune -c CONFIG`, then `ppslim qat -c "
                          "CONFIG -o Global.pretrained_model=<pruned best_model>` (two stages, two run folders)")
    if slim.quant is not None:
        return "qat", f"the config has Slim.quant ({slim.quant.name}), as PaddleClas's tools/train.py"
    if slim.prune is not None:
        return "prune", f"the config has Slim.prune ({slim.prune.name}), as PaddleClas's tools/train.py"
    return "train", ""


def run(cfg: Config) -> TrainResult:
    """Train ``Arch`` on ``DataLoader.Train``; resume from ``Global.checkpoints`` when set."""
    arch = cfg.require("Arch")
    data.check_dataset(cfg, "Train")
    if cfg.Global.eval_during_train:
        data.check_dataset(cfg, "Eval")
    runtime = engine.setup_runtime(cfg)
    run_dir = artifacts.model_dir(cfg.Global.output_dir, arch.name)
    resuming = engine.resolve_resume(cfg.Global.checkpoints, run_dir)
    record = provenance.Record(cfg, "train", cfg.Global.pretrained_model)
    if runtime.is_main and not resuming:
        record.guard(run_dir, "Global.output_dir", whole_folder=False)
        provenance.clear_run(run_dir)
    # Arch.pretrained (PaddleClas's weights) initialises the network unless a checkpoint does.
    model = models.build_model(arch, pretrained=not (cfg.Global.pretrained_model or resuming))
    if cfg.Global.pretrained_model and not resuming:
        models.load_weights(model, cfg.Global.pretrained_model)
    fitted = engine.fit(model, cfg, runtime, run_dir, resume=cfg.Global.checkpoints)
    deployed = models.inference_network(model)  # a DistillationModel deploys its student
    result = TrainResult(run_dir=run_dir, best_model=fitted.best_model, best_top1=fitted.best_top1,
                         best_epoch=fitted.best_epoch, epochs_run=fitted.epochs_run, last_epoch=fitted.last_epoch,
                         final_metrics=fitted.final_metrics, params=models.count_params(deployed),
                         flops=models.count_flops(deployed, cfg.Global.image_shape), seconds=fitted.seconds)
    if runtime.is_main:
        record.write_result(run_dir, result, fitted.best_model)
    return result
