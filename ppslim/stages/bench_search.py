"""``ppslim bench``'s section on compression that finds its own best (``Bench.search``).

On a setting where FP32 sits well below 100% (``Bench.search.setting``: configs/digits_hard, MobileNetV3_small_x0_35
on a 449 / 1,348 split of the digits at 32x32), each searching method runs beside the fixed recipe it must beat,
from the same trained FP32 checkpoint (``train.yaml``, trained once and cached under ``<Bench.output_dir>/cache``):

- PTQ (``ptq.yaml``, ``Slim.ptq.algo: auto``): the search, and every fixed algorithm of ``Bench.search.ptq_algos``;
- QAT (``qat.yaml``, ``Slim.quant.distill``): with distillation, and plain (the same file without it: equal epochs,
  schedule and data), each at ``Bench.search.qat_seeds`` seeds from the file's ``Global.seed``;
- pruning (``prune_auto.yaml``, ``Slim.prune.pruned_ratio: auto``): sensitivity-guided ratios, and
  ``prune_uniform.yaml``, one FPGM ratio for every layer solved for the same ``target_flops_reduction``, fine-tuned
  alike.

Every artifact is an accuracy row of the ``digits_hard`` group: served on the setting's
``Global.inference_backend``, verified against the group's FP32 row, scored on its val split and timed with the
rest of the bench.
"""
from __future__ import annotations

import logging
import os

from .. import config as config_mod
from ..config import Config, PrunedRatioMode, PtqAlgo
from ..errors import ArtifactError, ConfigError, refusal_reason
from . import export, prune, qat, train
from .bench import (UNSATURATED, Artifact, cached_stage, copy_model, ptq_or_refusal, recipe_digest, search_note,
                    search_record)
from .pipeline import derive, suffixed

log = logging.getLogger(__name__)

STAGE_FILES = ("train", "ptq", "qat", "prune_auto", "prune_uniform")


def setting_configs(cfg: Config) -> dict[str, Config]:
    """The unsaturated setting's stage configs (``<Bench.search.setting>/<stage>.yaml``), checked to hold what
    the section compares, each writing under the bench's own output folders."""
    folder = os.path.normpath(os.path.join(os.path.dirname(cfg.source or "."), cfg.Bench.search.setting))
    out = {}
    for stage in STAGE_FILES:
        path = os.path.join(folder, f"{stage}.yaml")
        if not os.path.isfile(path):
            raise ConfigError("Bench.search.setting", f"{folder!r} has no {stage}.yaml (expected "
                              f"{', '.join(f + '.yaml' for f in STAGE_FILES)}: the unsaturated setting's stages)")
        out[stage] = config_mod.load(path)
    wants = {"ptq": ("Slim.ptq.algo", out["ptq"].require("Slim.ptq").algo == PtqAlgo.AUTO, "auto"),
             "qat": ("Slim.quant.distill", out["qat"].require("Slim.quant").distill is not None, "a distill block"),
             "prune_auto": ("Slim.prune.pruned_ratio",
                            out["prune_auto"].require("Slim.prune").mode == PrunedRatioMode.AUTO, "auto"),
             "prune_uniform": ("Slim.prune.target_flops_reduction",
                               out["prune_uniform"].require("Slim.prune").mode == PrunedRatioMode.UNIFORM and
                               out["prune_uniform"].Slim.prune.target_flops_reduction ==
                               out["prune_auto"].Slim.prune.target_flops_reduction,
                               "pruned_ratio uniform at prune_auto.yaml's target")}
    for stage, (key, ok, expected) in wants.items():
        if not ok:
            raise ConfigError(f"{os.path.join(folder, stage + '.yaml')}: {key}", f"Bench.search compares the "
                              f"searching method with the fixed one: expected {expected}")
    g = cfg.Global
    root = os.path.join(suffixed(g.output_dir, "bench"), UNSATURATED)
    inference = os.path.join(suffixed(g.save_inference_dir, "bench"), UNSATURATED)
    return {stage: derive(c, f"Global.output_dir={os.path.join(root, stage)}",
                          f"Global.save_inference_dir={os.path.join(inference, stage)}") for stage, c in out.items()}


def _refusal(error) -> str:
    return "refused by verification: " + refusal_reason(error)


def _variant(c: Config, variant: str, *overrides: str) -> Config:
    """``c`` writing into folders of its own for ``variant`` (the fixed and searching runs side by side)."""
    g = c.Global
    return derive(c, f"Global.output_dir={os.path.join(os.path.dirname(g.output_dir), variant)}",
                  f"Global.save_inference_dir={os.path.join(os.path.dirname(g.save_inference_dir), variant)}",
                  "Global.overwrite=true", *overrides)


def qat_variant(variant: str, index: int, seed: int) -> str:
    """The first seed's row keeps the plain variant name (``qat``, ``qat_distill``); the others carry their seed."""
    return variant if index == 0 else f"{variant}_s{seed}"


def _qat_row(c: Config, variant: str, label: str, seed: int, base: dict, *overrides: str) -> Artifact:
    """One QAT run of the comparison at ``seed``: the exported INT8 row, or the row saying why it was refused."""
    extra = {"seed": seed}
    try:
        result = qat.run(_variant(c, variant, f"Global.seed={seed}", *overrides))
    except ArtifactError as e:  # an INT8 export refused by verification is a row that says why
        log.warning("%s (seed %d) refused: %s", label, seed, e)
        return Artifact(f"{label}, seed {seed}", UNSATURATED, variant, "", "INT8", **base, note=_refusal(e),
                        extra=extra)
    # no reference: fine-tuning moves the weights away from FP32's (qat.run verified the export against its own
    # fine-tuned graph), as for the digits QAT row
    return Artifact(f"{label}, {result.epochs_run} epochs, seed {seed}", UNSATURATED, variant, result.model_dir,
                    "INT8", **base, note=f"QAT fine-tuning top-1 {result.best_top1:.4f}",
                    extra={**extra, "distill": getattr(result, "distill", None)})


def unsaturated_artifacts(cfg: Config) -> tuple[list[Artifact], Config]:
    """Train (cached), export and compress the unsaturated setting every way ``Bench.search`` compares.

    Returns the artifacts (group ``digits_hard``) and the config whose Eval split scores them (``train.yaml``)."""
    bench, stages = cfg.Bench, setting_configs(cfg)
    tcfg = stages["train"]
    trained = cached_stage(tcfg, bench, UNSATURATED, recipe_digest(tcfg), train)
    weights = f"Global.pretrained_model={trained['best_model']}"
    fp32 = export.run(derive(tcfg, weights))
    base = {"params": fp32.params, "flops": fp32.flops}
    fp32_name = f"{tcfg.Arch.name} FP32"
    out = [Artifact(fp32_name, UNSATURATED, "fp32", fp32.model_dir, "FP32", **base,
                    note=f"trained {trained['epochs_run']} epochs (cached)")]

    def ptq_row(name: str, variant: str, *overrides: str) -> Artifact:
        src = copy_model(fp32.model_dir, suffixed(stages["ptq"].Global.save_inference_dir, variant))
        result, error = ptq_or_refusal(derive(stages["ptq"], f"Global.inference_model_dir={src}",
                                              "Global.overwrite=true", *overrides))
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
    out.append(ptq_row("PTQ INT8 auto (search)", "ptq_auto"))

    distill = stages["qat"].Slim.quant.distill
    first_seed = stages["qat"].Global.seed
    for seed in range(first_seed, first_seed + bench.search.qat_seeds):
        for variant, label, overrides in (("qat", "QAT INT8", ["Slim.quant.distill=null"]),
                                          ("qat_distill", f"QAT INT8 + distillation (w {distill.weight:g}, "
                                           f"T {distill.temperature:g})", [])):
            out.append(_qat_row(stages["qat"], qat_variant(variant, seed - first_seed, seed), label, seed, base,
                                weights, *overrides))

    target = stages["prune_auto"].Slim.prune.target_flops_reduction
    for variant, label, stage in (("pruned_uniform", "FPGM uniform ratio", "prune_uniform"),
                                  ("pruned_sensitivity", "FPGM sensitivity-guided ratios", "prune_auto")):
        pcfg = _variant(stages[stage], variant, weights)
        pruned = prune.run(pcfg)
        exported = export.run(derive(pcfg, f"Global.pretrained_model={pruned.best_model}"))
        out.append(Artifact(f"{label} (FLOPs target -{100 * target:.0f}%)", UNSATURATED, variant,
                            exported.model_dir, "FP32", exported.params, exported.flops,
                            note=f"FLOPs -{100 * pruned.flops_reduction:.1f}%",
                            extra={"flops_reduction": pruned.flops_reduction, "ratios": pruned.ratios,
                                   "sensitivity_seconds": pruned.sensitivity_seconds}))
    return out, tcfg
