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
# What `ppslim <stage> --help` says: what the stage reads, what it writes, which keys matter most.
DETAILS = {
    "train": "Trains Arch on DataLoader.Train (evaluating on DataLoader.Eval) and writes checkpoints to "
             "Global.output_dir/<Arch.name>/ (best_model, latest, epoch_N).",
    "eval": "Scores Global.inference_model_dir (an inference model folder, a .pdmodel file or a Lite .nb) "
            "or the checkpoint Global.pretrained_model on DataLoader.Eval; prints top-1/top-5, the backend "
            "and the artifact's sha256.",
    "export": "Turns Global.pretrained_model (default: the run's best_model) into inference.pdmodel/.pdiparams "
              "in Global.save_inference_dir, kept only if its outputs match the checkpoint's.",
    "qat": "Fine-tunes Global.pretrained_model with fake quantization (Slim.quant) and writes a verified INT8 "
           "model to Global.save_inference_dir.",
    "prune": "Prunes filters of Global.pretrained_model (Slim.prune) and fine-tunes; run export on the result.",
    "ptq": "Quantizes any Paddle inference model to INT8 without training. The model: Slim.ptq.model_dir, "
           "Global.inference_model_dir or Global.save_inference_dir, a folder with one *.pdmodel + "
           "*.pdiparams pair (any names) or a .pdmodel file. Calibration images: Slim.ptq.calib_dir (a folder, "
           "no labels) or DataLoader.Train. Output: Slim.ptq.output_dir, default <model folder>/"
           "quant_post_static_model/. Without Slim.ptq the defaults (hist, 16 x 10 images) are used. "
           "Example: ppslim ptq -c configs/own_model/ptq.yaml -o Global.inference_model_dir=my_model "
           "Slim.ptq.calib_dir=my_images",
    "lite": "Converts an inference model to Paddle Lite .nb files for Slim.lite.valid_targets (x86 files are "
            "run and verified here).",
    "infer": "Predicts the images of Infer.infer_imgs with any artifact and prints the top-k class names.",
    "pipeline": "train, export, PTQ, QAT, prune, Lite and eval on one config (what `make demo` runs), ending in "
                "one summary table.",
    "bench": "Accuracy, size, FLOPs and latency of every artifact, side by side (JSON + Markdown + plot).",
}
DESCRIPTION = ("Compress PaddlePaddle image classifiers: train, quantize (QAT, PTQ), prune, export and convert\n"
               "them, each result checked against its source before it is kept. Every stage reads a\n"
               "PaddleClas-style YAML config (-c) with -o Key.sub=value overrides.")
EPILOG = ("examples:\n"
          "  ppslim train -c configs/digits/train.yaml -o Global.epochs=3\n"
          "  ppslim ptq -c configs/own_model/ptq.yaml -o Global.inference_model_dir=my_model "
          "Slim.ptq.calib_dir=my_images\n"
          "  ppslim eval -c configs/digits/train.yaml -o Global.inference_model_dir=inference/digits\n"
          "Run `ppslim <command> --help` for what a command reads and writes. Errors are one line "
          "(exit code 2) naming the config key to fix.")
# Subcommands with their own arguments: module -> add_arguments(parser) and main(args) -> result.
TOOLS = {"check": "ppslim.check", "k8s": "ppslim.k8s", "container": "ppslim.container"}
TOOL_HELP = {"check": "validate configs without running them and print each plan (many -c in one process)",
             "k8s": "render or apply a Kubernetes Job for a stage (train/qat/prune on N pods; ptq/export/eval on one)",
             "container": "build the ppslim image, or run a stage in it (docker) or in the local venv"}


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="PaddleClas-style YAML config (e.g. configs/digits/train.yaml)")
    p.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                   help="set a config key, e.g. -o Global.epochs=3 Slim.ptq.algo=avg (repeatable); "
                        "-o Global.overwrite=true replaces an artifact made from other settings")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON instead of one line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppslim", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ppslim {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and every third-party and C++ line on the console too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in STAGES.items():
        _add_config_args(sub.add_parser(name, help=help_text, description=DETAILS[name]))
    for name, module in TOOLS.items():
        tool = importlib.import_module(module)
        tool.add_arguments(sub.add_parser(name, help=TOOL_HELP[name], description=TOOL_HELP[name]))
    p = sub.add_parser("data", help="write a built-in data set in ImageNetDataset layout",
                       description="Writes the scikit-learn digits (1,797 PNGs) with train/val label lists, "
                                   "the data the digits configs expect under dataset/digits (and, with "
                                   "--val-fraction 0.75, the harder split configs/digits_hard expects).")
    p.add_argument("dataset", choices=["digits"], help="the data set to write")
    p.add_argument("--out", required=True, help="output folder, e.g. dataset/digits")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="share of the images in the val split (default 0.2; dataset/digits_hard uses 0.75)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
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
        elif isinstance(value, dict) and isinstance(value.get("summary"), str):  # e.g. PtqResult.search
            parts.append(f"{key}={value['summary']}")
        elif isinstance(value, dict) and all(isinstance(v, (int, float, str)) for v in value.values()):
            parts.append(f"{key}=" + ",".join(f"{k}:{v}" if isinstance(v, str) else f"{k}:{v:.4g}"
                                              for k, v in value.items()))
    return f"{type(result).__name__}: " + " ".join(parts)


def run_command(args) -> object:
    if args.command == "data":
        from .data.digits import write_digits

        return write_digits(args.out, **({} if args.val_fraction is None else {"val_fraction": args.val_fraction}))
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
