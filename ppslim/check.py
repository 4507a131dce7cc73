"""Check configs without running them: ``ppslim check -c A.yaml [-c B.yaml ...] [-o KEY=VALUE ...]``.

Each config is validated exactly as a stage would validate it, then the plan is printed: which stage
runs (a PaddleClas training config with a ``Slim`` section runs QAT or pruning, as PaddleClas's
``tools/train.py`` does), the network with its parameters and FLOPs, the data each split finds on
disk, and the device. Many configs are checked in one process; each refused one gets one line.
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import Optional

from .errors import PpslimError

log = logging.getLogger(__name__)

STAGE_CHOICES = ("train", "qat", "prune", "export", "eval", "infer", "ptq", "lite")


@dataclass(frozen=True)
class ConfigCheck:
    """What ``ppslim check`` found for one config file."""
    path: str
    status: str                      # ok | refused | crashed
    message: str = ""                # the one-line error for refused/crashed configs
    stage: str = ""
    stage_reason: str = ""
    arch: str = ""
    params: Optional[int] = None
    flops: Optional[int] = None
    image_shape: tuple = ()
    data: dict = field(default_factory=dict)   # split -> image count, or the reason it has none
    device: str = ""

    def lines(self) -> list[str]:
        if self.status != "ok":
            return [f"{self.path}: {self.status}: {self.message}"]
        net = self.arch
        if self.params is not None:
            net += f", {self.params:,} params"
        if self.flops is not None:
            net += f", {self.flops / 1e9:.3f} GFLOPs at {'x'.join(map(str, self.image_shape))}"
        data = ", ".join(f"{split} {v:,} images" if isinstance(v, int) else f"{split}: {v}"
                         for split, v in self.data.items()) or "no DataLoader section"
        return [f"{self.path}: ok",
                f"  stage    {self.stage}" + (f" ({self.stage_reason})" if self.stage_reason else ""),
                f"  network  {net}",
                f"  data     {data}",
                f"  device   {self.device}"]


@dataclass(frozen=True)
class CheckResult:
    checks: tuple[ConfigCheck, ...]

    @property
    def counts(self) -> dict:
        out = {"ok": 0, "refused": 0, "crashed": 0}
        for c in self.checks:
            out[c.status] += 1
        return out

    @property
    def exit_code(self) -> int:
        """0 when every config passed, 2 when one was refused (bad input), 1 when one crashed (a bug)."""
        counts = self.counts
        return 1 if counts["crashed"] else 2 if counts["refused"] else 0

    def report(self) -> str:
        out = [line for c in self.checks for line in c.lines()]
        counts = self.counts
        out.append(f"checked {len(self.checks)} config(s): {counts['ok']} ok, {counts['refused']} refused, "
                   f"{counts['crashed']} crashed")
        return "\n".join(out)


def add_arguments(p) -> None:
    p.add_argument("-c", "--config", action="append", required=True, metavar="CONFIG",
                   help="a config to check (repeatable: -c a.yaml -c b.yaml)")
    p.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override applied to every config, e.g. -o Global.device=cpu")
    p.add_argument("--stage", choices=STAGE_CHOICES, default=None,
                   help="check for this stage (default: what `ppslim train` would run on the config)")
    p.add_argument("--no-network", action="store_true",
                   help="skip building the network (no parameter or FLOPs count)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def main(args) -> CheckResult:
    """Check every ``-c`` config; third-party and native output (PaddleClas's logger, Paddle's warnings)
    goes to ``./output/logs/check.log``, the console shows only the plans."""
    from . import logs

    overrides = [item for group in args.override for item in group]
    logs.setup(args.verbose, logs.log_file("./output", "check", logs.rank()),
               header="ppslim check " + " ".join(f"-c {c}" for c in args.config))
    checks = []
    for path in args.config:
        with logs.capture_native():
            checks.append(check_one(path, overrides, args.stage, not args.no_network))
    return CheckResult(tuple(checks))


def check_one(path: str, overrides: list[str], stage: Optional[str] = None, build: bool = True) -> ConfigCheck:
    """Validate one config and describe its plan; never raises for a bad config."""
    from . import config

    try:
        cfg = config.load(path, overrides)
        return _plan(path, cfg, stage, build)
    except PpslimError as e:
        return ConfigCheck(path, "refused", str(e))
    except Exception as e:  # a bug in ppslim: report it and go on with the other configs
        log.debug("check of %s crashed:\n%s", path, traceback.format_exc())
        return ConfigCheck(path, "crashed", f"{type(e).__name__}: {e}".splitlines()[0][:300])


def _plan(path: str, cfg, stage: Optional[str], build: bool) -> ConfigCheck:
    from . import data
    from .stages.train import planned_stage

    if stage is None and cfg.Slim.quant is not None and cfg.Slim.prune is not None:
        stage, reason = "pipeline", "Slim has quant and prune; `ppslim train` refuses such a config"
    elif stage in (None, "train"):
        stage, reason = planned_stage(cfg)
    else:
        reason = ""
    if stage == "qat" and cfg.Slim.quant is not None and cfg.Slim.quant.distill is not None:
        from .compress.distill import teacher_source

        teacher_source(cfg)  # FP32 weights to teach from, as `ppslim qat` checks before training
    arch_name, params, flops = "", None, None
    if cfg.Arch is not None:
        arch_name = cfg.Arch.name
        if build:
            from . import models

            model = models.build_model(cfg.Arch)
            params = models.count_params(model)
            try:
                flops = models.count_flops(model, cfg.Global.image_shape)
            except Exception as e:  # FLOPs counting runs the network; report why it could not
                log.debug("FLOPs of %s not counted: %s", arch_name, e)
    elif stage in ("train", "qat", "prune"):
        raise PpslimError(f"Arch: required by `ppslim {stage}` but missing from the config")
    counts = {}
    for split in ("Train", "Eval"):
        if getattr(cfg.DataLoader, split) is None:
            continue
        try:
            counts[split] = len(data.check_dataset(cfg, split))
        except PpslimError as e:
            counts[split] = f"not on this machine ({getattr(e, 'msg', e)})"
    return ConfigCheck(path, "ok", stage=stage, stage_reason=reason, arch=arch_name, params=params, flops=flops,
                       image_shape=tuple(cfg.Global.image_shape), data=counts, device=str(cfg.Global.device))
