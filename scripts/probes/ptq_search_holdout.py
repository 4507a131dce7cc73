"""Probe (measurement only, not part of the package): how well can a PTQ search rank its candidates?

Runs the default ``Slim.ptq.algo: auto`` search on an exported model with its candidate models kept, scores every
candidate on the whole val split (which the search never sees), then asks: if a labelled holdout the model never
trained on were carved out of those val images at random (``--sizes``), how often would the candidate best on it
(top-1, then cross-entropy) reach the hindsight-best fixed algorithm on the rest of the split?

    .venv/bin/python scripts/probes/ptq_search_holdout.py -c configs/digits_hard/ptq.yaml \\
        -o Global.inference_model_dir=inference/digits_hard Global.inference_backend=auto --work /tmp/holdout

Prints one JSON line per candidate (holdout and val metrics) and one line per holdout size.
"""
import ppslim  # noqa: F401  (before paddle)
import argparse
import json
import os
import shutil

import numpy as np

from ppslim import config, data, logs
from ppslim.compress import ptq_search
from ppslim.config import PtqSearchConfig
from ppslim.predict import paddle_predictor, predict_all
from ppslim.stages import ptq


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("-o", "--override", nargs="*", default=[])
    ap.add_argument("--work", default="/tmp/ptq_search_holdout")
    ap.add_argument("--sizes", default="150,300,500")
    ap.add_argument("--trials", type=int, default=400)
    args = ap.parse_args()
    cfg = config.load(args.config, [*args.override, "Slim.ptq.algo=auto"])
    os.makedirs(args.work, exist_ok=True)
    logs.setup(False, os.path.join(args.work, "probe.log"), 0)
    p = cfg.Slim.ptq
    model_file, params_file = ptq.model_files(cfg, p)
    holdout = ptq_search.holdout_split(cfg, p, p.search or PtqSearchConfig(), ptq.calibration(cfg, p))
    work = os.path.join(args.work, "candidates")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    outcome = ptq_search.search(cfg, p, model_file, params_file, holdout, work, ptq.quantize)
    images, labels = data.real_images(cfg, None)
    labels = np.asarray(labels)
    outputs, fixed = {}, []
    for row in outcome.rows:
        folder = os.path.join(work, f"candidate_{row.index:02d}")
        if row.status != "ok":
            continue
        model, params = (os.path.join(folder, f) for f in ("inference.pdmodel", "inference.pdiparams"))
        out = predict_all(paddle_predictor(model, params, cfg.Global.inference_backend), images)
        outputs[row.name] = out
        if row.stage == "algo" and row.settings["hist_percent"] in (None, p.hist_percent):
            fixed.append(row.name)  # an algorithm at PaddleSlim's defaults: what a fixed recipe runs
        print(json.dumps({"candidate": row.name, "stage": row.stage, "holdout_top1": row.holdout_top1,
                          "holdout_nll": row.holdout_nll, "val_top1": float((out.argmax(1) == labels).mean())}))
    rng = np.random.default_rng(0)
    for size in (int(s) for s in args.sizes.split(",")):
        wins, deltas = 0, []
        for _ in range(args.trials):
            order = rng.permutation(len(labels))
            held, rest = order[:size], order[size:]

            def key(name: str) -> tuple:
                out = outputs[name][held]  # ranked as the search ranks: top-1, then its cross-entropy
                return (-(out.argmax(1) == labels[held]).mean(), ptq_search.cross_entropy(out, labels[held]))

            pick = min(outputs, key=key)
            top1 = {n: (outputs[n][rest].argmax(1) == labels[rest]).mean() for n in outputs}
            best_fixed = max(top1[n] for n in fixed)
            wins += top1[pick] >= best_fixed
            deltas.append(100 * (top1[pick] - best_fixed))
        print(json.dumps({"holdout_images": size, "trials": args.trials, "share_at_least_best_fixed": wins / args.trials,
                          "mean_delta_pt": round(float(np.mean(deltas)), 3)}))


if __name__ == "__main__":
    main()
