"""``ppslim <stage> -c CONFIG -o Key.sub=value ...``: parse, load the config once, call ``stage.run``.

The only place that sets up logging handlers (``ppslim.logs``) and prints. A stage logs everything
to ``<Global.output_dir>/logs/<stage>.log``; the console shows ppslim's own lines only (``-v``: all).
A ``PpslimError`` becomes one line on stderr and exit code 2; any other exception one line and
exit code 1, with its traceback in the log (or on the console when there is no log yet).
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from . import __version__, logs
from .errors import PpslimError

# stage name -> module under ppslim.stages; each has run(cfg) -> Result
STAGES = {
    "train": "FP32 baseline training",
    "eval": "score a checkpoint, inference model or Lite .nb on DataLoader.Eval",
    "export": "checkpoint -> verified Paddle inference model",
    "qat": "quantization-aware training (PACT optional) -> verified INT8 inference model",
    "prune": "FPGM / L1-norm filter pruning + fine-tuning",
    "ptq": "post-training static quantization of any inference model -> quant_post_static_model/",
    "lite": "inference model -> Paddle Lite .nb (x86 outputs verified, other targets converted)",
    "infer": "predict image files or a folder with any artifact, print top-k class names",
    "pipeline": "every stage on one config, ending in one summary table",
    "bench": "accuracy, size, FLOPs and latency of every artifact, side by side (JSON + Markdown + plot)",
}
# Subcommands with their own arguments: module -> add_arguments(parser) and main(args) -> result.
TOOLS = {"check": "ppslim.check", "k8s": "ppslim.k8s", "container": "ppslim.container"}


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="PaddleClas-style YAML config")
    p.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. -o Global.epochs=3 (repeatable)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppslim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ppslim {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and every third-party and C++ line on the console too")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in STAGES.items():
        _add_config_args(sub.add_parser(name, help=help_text))
    for name, module in TOOLS.items():
        tool = importlib.import_module(module)
        tool.add_arguments(sub.add_parser(name, help=tool.__doc__.splitlines()[0]))
    p = sub.add_parser("data", help="write a built-in data set in ImageNetDataset layout")
    p.add_argument("dataset", choices=["digits"])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true")
    return parser


def summarize(result) -> str:
    """One line of the result's scalar fields, for humans; ``--json`` gives everything."""
    from .artifacts import to_jsonable

    fields = to_jsonable(result)
    parts = []
    for key, value in fields.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:.4f}")
        elif isinstance(value, (int, str)):
            parts.append(f"{key}={value}")
        elif isinstance(value, dict) and all(isinstance(v, (int, float)) for v in value.values()):
            parts.append(f"{key}=" + ",".join(f"{k}:{v:.4g}" for k, v in value.items()))
    return f"{type(result).__name__}: " + " ".join(parts)


def run_command(args) -> object:
    if args.command == "data":
        from .data.digits import write_digits

        return write_digits(args.out)
    if args.command in TOOLS:
        return importlib.import_module(TOOLS[args.command]).main(args)
    from . import config

    overrides = [item for group in args.override for item in group]
    cfg = config.load(args.config, overrides)
    rank = logs.rank()
    logs.setup(args.verbose, logs.log_file(log_dir(cfg, args.command), args.command, rank), rank,
               header=f"ppslim {args.command} -c {args.config} " + " ".join(f"-o {o}" for o in overrides))
    name = args.command
    if name == "train":
        from .stages.train import planned_stage

        name, reason = planned_stage(cfg)
        if name != "train":
            logging.getLogger("ppslim.cli").info("ppslim train runs %s: %s", name, reason)
    return importlib.import_module(f"ppslim.stages.{name}").run(cfg)


def log_dir(cfg, command: str) -> str:
    """Where a stage's log goes: beside its outputs (``Bench.output_dir`` for bench)."""
    if command == "bench" and cfg.Bench is not None:
        return cfg.Bench.output_dir
    return cfg.Global.output_dir


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:300]}" if lines else type(error).__name__


def _fail(message: str) -> None:
    """One line on stderr, naming the log that holds the details when there is one."""
    path = logs.current_log(written=True)
    if path:
        logs.write(f"error: {message}")
    print(f"error: {message}" + (f" (log: {path})" if path else ""), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(args.verbose)  # console only until the config says where the stage's log goes
    log = logging.getLogger("ppslim.cli")
    try:
        try:
            result = run_command(args)
        except PpslimError as e:
            _fail(str(e))
            return 2
        except Exception as e:
            if logs.current_log() is None:
                raise  # no log file yet: the traceback stays on the console
            log.debug("%s failed", args.command, exc_info=True)  # the log file; the console too with -v
            _fail(_first_line(e))
            return 1
        if args.json:
            from .artifacts import to_jsonable

            print(json.dumps(to_jsonable(result), indent=2, sort_keys=True))
        elif hasattr(result, "report"):
            print(result.report())
        else:
            print(summarize(result))
        sys.stdout.flush()
        if logs.current_log(written=True):
            log.info("log: %s", logs.current_log())
        return getattr(result, "exit_code", 0)
    finally:
        logs.close()
