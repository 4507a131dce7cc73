#!/usr/bin/env python3
"""Run PaddleClas's slim tutorial, step for step, through ppslim on PaddleClas's own config files.

    python scripts/paddleclas_tutorial.py PADDLECLAS_CHECKOUT WORKDIR [--recipes resnet50_vd,pplcnet,mobilenetv3]
                                          [--train-images 64] [--eval-images 32]

Each tutorial command (``tools/train.py``, ``deploy/slim/quant_post_static.py``, ``tools/export_model.py``,
Paddle Lite ``opt``) maps to one ``ppslim`` command on the same YAML file. The only overrides are the
ones a user on this machine needs: the digits data (a subset, at the configs' own 224 crops), CPU,
one epoch at a small-batch learning rate, no pretrained download, 10 classes, and (the networks being
barely trained) INT8 verification by output cosine without the top-1 agreement bar. Prints each command, its exit code, wall time and the
result line; writes ``WORKDIR/tutorial.json``. Exits non-zero if any step fails.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digits_subset(workdir: str, train: int, val: int) -> tuple[str, str, str]:
    """The digits data set (written once) and list files with its first ``train``/``val`` images."""
    root = os.path.join(workdir, "digits")
    if not os.path.isfile(os.path.join(root, "val_list.txt")):
        run_ppslim(["data", "digits", "--out", root], workdir, "data")
    lists = []
    for name, count in (("train_list.txt", train), ("val_list.txt", val)):
        with open(os.path.join(root, name)) as f:
            lines = f.readlines()[:count]
        path = os.path.join(workdir, f"subset_{name}")
        with open(path, "w") as f:
            f.writelines(lines)
        lists.append(path)
    return root, lists[0], lists[1]


def data_overrides(root: str, train_list: str, val_list: str, batch: int) -> list[str]:
    out = []
    for split, listing in (("Train", train_list), ("Eval", val_list)):
        out += [f"DataLoader.{split}.dataset.image_root={root}", f"DataLoader.{split}.dataset.cls_label_path={listing}",
                f"DataLoader.{split}.sampler.batch_size={batch}", f"DataLoader.{split}.loader.num_workers=0",
                f"DataLoader.{split}.loader.use_shared_memory=false"]
    return out


def run_ppslim(args: list[str], workdir: str, name: str) -> dict:
    cmd = [sys.executable, "-m", "ppslim", *args]
    shown = "ppslim " + " ".join(a if " " not in a else repr(a) for a in args)
    print(f"$ {shown}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")})
    seconds = round(time.perf_counter() - t0, 1)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    err = [line for line in proc.stderr.strip().splitlines() if line.startswith("error:")]
    print(f"  exit {proc.returncode} in {seconds} s: {err[-1] if proc.returncode else last[:300]}", flush=True)
    if proc.returncode:
        with open(os.path.join(workdir, f"{name}.stderr.txt"), "w") as f:
            f.write(proc.stderr)
    return {"step": name, "command": shown, "exit": proc.returncode, "seconds": seconds,
            "result": last if not proc.returncode else (err[-1] if err else proc.stderr[-2000:])}


def recipe_steps(recipe: str, pc: str, w: str, common: list[str]) -> list[tuple[str, list[str]]]:
    """(name, ppslim args) per tutorial command, on PaddleClas's own config files."""
    cfgs = os.path.join(pc, "ppcls", "configs")
    o = lambda *extra: [f"-o={x}" for x in (*common, *extra)]  # noqa: E731
    if recipe == "resnet50_vd":
        base = os.path.join(cfgs, "ImageNet", "ResNet", "ResNet50_vd.yaml")
        quant = os.path.join(cfgs, "slim", "ResNet50_vd_quantization.yaml")
        prune = os.path.join(cfgs, "slim", "ResNet50_vd_prune.yaml")
        fp32 = f"{w}/r50/output/ResNet50_vd/best_model"
        return [
            # tools/train.py -c ppcls/configs/ImageNet/ResNet/ResNet50_vd.yaml
            ("train", ["train", "-c", base, *o(f"Global.output_dir={w}/r50/output")]),
            # tools/export_model.py -c ResNet50_vd.yaml -o Global.pretrained_model=... (the PTQ input)
            ("export", ["export", "-c", base, *o(f"Global.pretrained_model={fp32}",
                                                 f"Global.save_inference_dir={w}/r50/inference")]),
            # tools/train.py -c ppcls/configs/slim/ResNet50_vd_quantization.yaml -o Global.device=cpu
            ("qat", ["train", "-c", quant, *o(f"Global.pretrained_model={fp32}", f"Global.output_dir={w}/r50/qat",
                                              f"Global.save_inference_dir={w}/r50/inference_qat")]),
            # deploy/slim/quant_post_static.py -c ResNet50_vd.yaml -o Global.save_inference_dir=...
            ("ptq", ["ptq", "-c", base, *o(f"Global.save_inference_dir={w}/r50/inference")]),
            # tools/train.py -c ppcls/configs/slim/ResNet50_vd_prune.yaml -o Global.device=cpu
            ("prune", ["train", "-c", prune, *o(f"Global.pretrained_model={fp32}",
                                                f"Global.output_dir={w}/r50/prune")]),
            # tools/export_model.py -c ResNet50_vd_prune.yaml -o Global.pretrained_model=./output/ResNet50_vd/best_model
            ("export_pruned", ["export", "-c", prune, *o(f"Global.pretrained_model={w}/r50/prune/ResNet50_vd/best_model",
                                                         f"Global.save_inference_dir={w}/r50/inference_pruned")]),
            # Paddle Lite opt --model_file ... --valid_targets arm
            ("lite", ["lite", "-c", base, *o(f"Global.inference_model_dir={w}/r50/inference_pruned")]),
        ]
    if recipe == "pplcnet":
        base = os.path.join(cfgs, "ImageNet", "PPLCNet", "PPLCNet_x1_0.yaml")
        quant = os.path.join(cfgs, "slim", "PPLCNet_x1_0_quantization.yaml")
        fp32 = f"{w}/lcnet/output/PPLCNet_x1_0/best_model"
        return [
            ("train", ["train", "-c", base, *o(f"Global.output_dir={w}/lcnet/output")]),
            ("qat", ["train", "-c", quant, *o(f"Global.pretrained_model={fp32}", f"Global.output_dir={w}/lcnet/qat",
                                              f"Global.save_inference_dir={w}/lcnet/inference_qat")]),
        ]
    if recipe == "mobilenetv3":
        base = os.path.join(cfgs, "ImageNet", "MobileNetV3", "MobileNetV3_large_x1_0.yaml")
        prune = os.path.join(cfgs, "slim", "MobileNetV3_large_x1_0_prune.yaml")
        fp32 = f"{w}/mv3/output/MobileNetV3_large_x1_0/best_model"
        return [
            ("train", ["train", "-c", base, *o(f"Global.output_dir={w}/mv3/output")]),
            ("prune", ["train", "-c", prune, *o(f"Global.pretrained_model={fp32}", f"Global.output_dir={w}/mv3/prune")]),
            ("export_pruned", ["export", "-c", prune, *o(
                f"Global.pretrained_model={w}/mv3/prune/MobileNetV3_large_x1_0/best_model",
                f"Global.save_inference_dir={w}/mv3/inference_pruned")]),
        ]
    raise SystemExit(f"unknown recipe {recipe!r}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paddleclas", help="a PaddleClas checkout (its ppcls/configs are read)")
    p.add_argument("workdir")
    p.add_argument("--recipes", default="resnet50_vd,pplcnet,mobilenetv3")
    p.add_argument("--train-images", type=int, default=64)
    p.add_argument("--eval-images", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--int8-min-agreement", type=float, default=0.0,
                   help="Global.verify_int8_min_top1_agreement for these barely trained networks (cosine still >= 0.95)")
    p.add_argument("--lr", type=float, default=0.01,
                   help="Optimizer.lr.learning_rate: the configs' rates are for batch 256-512 on 4-8 GPUs")
    args = p.parse_args()
    w = os.path.abspath(args.workdir)
    os.makedirs(w, exist_ok=True)
    root, train_list, val_list = digits_subset(w, args.train_images, args.eval_images)
    common = ["Global.device=cpu", "Global.epochs=1", "Arch.pretrained=false", "Arch.class_num=10",
              f"Optimizer.lr.learning_rate={args.lr}",
              # one epoch on 64 images leaves the networks barely trained (near-uniform logits), so whether
              # INT8 and FP32 pick the same class is noise: INT8 artifacts are held to the cosine bar only
              f"Global.verify_int8_min_top1_agreement={args.int8_min_agreement}",
              "Global.verify_images=16", *data_overrides(root, train_list, val_list, args.batch_size)]
    steps = []
    for recipe in args.recipes.split(","):
        print(f"== {recipe}", flush=True)
        for name, ppslim_args in recipe_steps(recipe, os.path.abspath(args.paddleclas), w, common):
            steps.append({"recipe": recipe, **run_ppslim(ppslim_args, w, f"{recipe}_{name}")})
            if steps[-1]["exit"]:
                break
    with open(os.path.join(w, "tutorial.json"), "w") as f:
        json.dump(steps, f, indent=2)
    failed = [s for s in steps if s["exit"]]
    print(f"{len(steps) - len(failed)} of {len(steps)} steps passed; {w}/tutorial.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
