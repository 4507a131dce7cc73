"""Probe: NNCF settings on the bench's trained resnet50 (after `make bench`): cosine vs FP32 on the 64
verification images (the bar is 0.95), top-1 agreement and batch-1 latency at 224 (12 runs, median).

Run: .venv/bin/python scripts/probes/nncf_variants.py [variant ...]
Measured 2026-12-05 on an AMD EPYC, 2 cores, AVX2 only (no VNNI/AMX): every variant stays below the bar
(default 0.9465, overflow_fix enable 0.9485, + first conv and fc in FP32 0.949, mixed preset 0.9487,
full bias correction 0.9485, transformer/SmoothQuant 0.9127; b1 24.1-28.9 ms, FP32 52.1 ms). NNCF's
quantize_with_accuracy_control (cosine on 256 held-out Train images, max_drop 0.04) reverted 1-2 ops per step
for 25 min without lowering the drop below 0.0485: the error is spread over the network, not in a few layers.
"""
import json
import os
import sys
import time

import numpy as np
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.chdir(ROOT)
from ppslim import config
from ppslim.stages import bench as B, ptq
from ppslim.compress import nncf_ptq
from ppslim.predict import compare
import nncf, openvino as ov
from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters as AQP, OverflowFix as OF

cfg = config.load("configs/digits/bench.yaml")
ecfg = B.export_config(cfg, cfg.Bench, "resnet50", "resnet50")
src = "inference/digits_bench/resnet50"
pcfg = B.derive(ecfg, f"Global.inference_model_dir={src}")
st = ptq.settings(pcfg)
cal = ptq.calibration(pcfg, st)
images = nncf_ptq.calibration_images(st, cal)
ver = ptq.verification_images(pcfg, cal)
ref = np.load(src + "/verification_outputs.npz")["logits"]
core = ov.Core()
mf, pf = src + "/inference.pdmodel", src + "/inference.pdiparams"
fp = core.read_model(mf, pf)
print("fp32 ov cos", compare(ref, core.compile_model(fp, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(ver)[0]).cosine)
x1 = np.random.RandomState(0).rand(1, 3, 224, 224).astype("float32")
def lat(model):
    m = model.clone(); m.reshape([1, 3, 224, 224]); c = core.compile_model(m, "CPU")
    for _ in range(3): c(x1)
    ts = []
    for _ in range(12):
        t = time.perf_counter(); c(x1); ts.append(time.perf_counter() - t)
    return round(1000 * float(np.median(ts)), 2)
names = [op.get_friendly_name() for op in fp.get_ordered_ops() if op.get_type_name() in ("Convolution", "MatMul")]
print("convs", len(names), names[:2], names[-2:])
variants = {
  "default": dict(),
  "enable": dict(advanced_parameters=AQP(overflow_fix=OF.ENABLE)),
  "enable_ign_first_last": dict(advanced_parameters=AQP(overflow_fix=OF.ENABLE), ignored_scope=nncf.IgnoredScope(names=[names[0], names[-1]])),
  "enable_mixed": dict(preset=nncf.QuantizationPreset.MIXED, advanced_parameters=AQP(overflow_fix=OF.ENABLE)),
  "enable_slowbc": dict(fast_bias_correction=False, advanced_parameters=AQP(overflow_fix=OF.ENABLE)),
  "enable_sq": dict(model_type=nncf.ModelType.TRANSFORMER, advanced_parameters=AQP(overflow_fix=OF.ENABLE)),
}
which = sys.argv[1:] or list(variants)
for k in which:
    t = time.perf_counter()
    try:
        q = nncf.quantize(fp, nncf.Dataset(images), subset_size=len(images), **variants[k])
    except Exception as e:
        print(k, "FAILED", e); continue
    s = time.perf_counter() - t
    out = core.compile_model(q, "CPU")(ver)[0]
    r = compare(ref, out)
    print(json.dumps({"v": k, "cos": round(r.cosine, 4), "agree": r.top1_agreement, "quant_s": round(s, 1), "b1_ms": lat(q)}), flush=True)
print("fp32 b1", lat(fp))
