"""``ppslim bench``'s section on compression that finds its own best (``Bench.search``).

On a setting where FP32 sits well below 100% (``Bench.search.config``: configs/digits_hard, MobileNetV3_small_x0_35
on a 449 / 1,348 split of the digits at 32x32), each searching method runs beside the fixed recipe it must beat,
from the same trained FP32 checkpoint (trained once, cached under ``<Bench.output_dir>/cache``):

- PTQ: every fixed algorithm of ``Bench.search.ptq_algos``, and ``Slim.ptq.algo: auto`` (its candidate table,
  wall time and candidate count are kept with the row);
- QAT: plain, and with ``Slim.quant.distill`` (equal epochs, the same schedule);
- pruning: uniform FPGM, and sensitivity-guided ratios (``Slim.prune.pruned_ratio: auto``), both at the
  setting's ``Slim.prune.target_flops_reduction`` and fine-tuned alike.

Every artifact is an accuracy row of the ``digits_hard`` group: served on ``Global.inference_backend``, verified
against the group's FP32 row, scored on that setting's val split and timed with the rest of the bench.
"""
from __future__ import annotations

import logging
import os

from .. import config as config_mod
from ..config import Config
from . import export, prune, qat, train
from .bench import (UNSATURATED, Artifact, cached_stage, copy_model, ptq_or_refusal, recipe_digest,
                    search_note, search_record)
from .pipeline import derive, stage_config, suffixed

log = logging.getLogger(__name__)


def setting_config(cfg: Config) -> Config:
    """The unsaturated setting's config (``Bench.search.config``, relative to the bench config), writing under
    the bench's own output folders."""
    search = cfg.Bench.search
    path = os.path.normpath(os.path.join(os.path.dirname(cfg.source or "."), search.config))
    if not os.path.isfile(path):
        raise config_mod.ConfigError("Bench.search.config", f"config file not found: {path}")
    hard = config_mod.load(path)
    for section in ("Arch", "Slim.ptq", "Slim.quant", "Slim.prune"):
        hard.require(section)
    g = cfg.Global
    return derive(hard, f"Global.output_dir={os.path.join(suffixed(g.output_dir, 'bench'), UNSATURATED)}",
                  f"Global.save_inference_dir={os.path.join(suffixed(g.save_inference_dir, 'bench'), UNSATURATED)}")


def _refusal(error) -> str:
    return "refused by verification: " + str(error).split(": ", 1)[-1]


def unsaturated_artifacts(cfg: Config) -> tuple[list[Artifact], Config]:
    """Train (cached), export and compress the unsaturated setting every way ``Bench.search`` compares.

    Returns the artifacts (group ``digits_hard``) and the setting's config (whose Eval split scores them)."""
    bench, hard = cfg.Bench, setting_config(cfg)
    g = hard.Global
    trained = cached_stage(hard, bench, UNSATURATED, recipe_digest(hard), train)
    weights = f"Global.pretrained_model={trained['best_model']}"
    fp32 = export.run(derive(hard, weights))
    base = {"params": fp32.params, "flops": fp32.flops}
    arch = hard.Arch.name
    fp32_name = f"{arch} FP32"
    out = [Artifact(fp32_name, UNSATURATED, "fp32", fp32.model_dir, "FP32", **base,
                    note=f"trained {trained['epochs_run']} epochs, cached")]

    def ptq_row(name: str, variant: str, *overrides: str) -> Artifact:
        src = copy_model(fp32.model_dir, suffixed(g.save_inference_dir, variant))
        result, error = ptq_or_refusal(derive(hard, f"Global.inference_model_dir={src}", "Global.overwrite=true",
                                              *overrides))
        if error is not None:
            log.warning("%s refused: %s", name, error)
            return Artifact(name, UNSATURATED, variant, "", "INT8", **base, note=_refusal(error))
        search = search_record(result)
        note = f"{result.calib_images} calibration images" + (f"; {search_note(search)}" if search else "")
        return Artifact(name, UNSATURATED, variant, result.model_dir, "INT8", **base, reference=fp32_name, note=note,
                        extra={"ptq_algo": result.algo, **({"search": search} if search else {})})

    for algo in bench.search.ptq_algos:
        out.append(ptq_row(f"PTQ INT8 {algo.value}", f"ptq_{algo.value.lower()}", f"Slim.ptq.algo={algo.value}",
                           "Slim.ptq.search=null"))
    out.append(ptq_row("PTQ INT8 auto (search)", "ptq_auto", "Slim.ptq.algo=auto"))

    for variant, label, extra in (("qat", "QAT INT8", ["Slim.quant.distill=null"]),
                                  ("qat_distill", "QAT INT8 + distillation", [])):
        result = qat.run(stage_config(hard, variant, weights, *extra))
        out.append(Artifact(f"{label} ({result.epochs_run} epochs)", UNSATURATED, variant, result.model_dir, "INT8",
                            **base, reference=fp32_name,
                            extra={"distill": config_mod.to_dict(hard).get("Slim", {}).get("quant", {}).get("distill")
                                   if variant == "qat_distill" else None}))

    target = hard.Slim.prune.target_flops_reduction
    for variant, label, extra in (("pruned_uniform", "FPGM uniform", ["Slim.prune.pruned_ratio=uniform"]),
                                  ("pruned_sensitivity", "FPGM sensitivity-guided", [])):
        pruned = prune.run(stage_config(hard, variant, weights, *extra))
        exported = export.run(stage_config(hard, variant, f"Global.pretrained_model={pruned.best_model}"))
        out.append(Artifact(f"{label}, FLOPs -{100 * target:.0f}% target", UNSATURATED, variant,
                            exported.model_dir, "FP32", exported.params, exported.flops,
                            note=f"FLOPs -{100 * pruned.flops_reduction:.1f}%",
                            extra={"flops_reduction": pruned.flops_reduction,
                                   "ratios": getattr(pruned, "ratios", None)}))
    return out, hard
