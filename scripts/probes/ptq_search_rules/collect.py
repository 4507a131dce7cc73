"""Collect one trained model's PTQ search: every candidate's outputs on the holdout and on the Eval split (+ fixed KL).

Usage (from the repo root): collect.py CONFIG|lat:ARCH MODEL_DIR OUT.npz [overrides...]; see run.sh."""
import os, sys, shutil, dataclasses
import numpy as np
from ppslim import config as C, data, artifacts
from ppslim.compress import ptq_search
from ppslim.stages import ptq as ptq_stage
from ppslim.predict import paddle_predictor, predict_all
cfgpath, model_dir, dst, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if cfgpath.startswith("lat:"):
    from ppslim.stages import bench as B
    from ppslim.stages.pipeline import derive
    base = C.load("configs/digits/bench.yaml")
    arch = cfgpath[4:]
    cfg = derive(B.export_config(base, base.Bench, arch, arch), f"Global.inference_model_dir={model_dir}", "Slim.ptq.algo=auto", *extra)
else:
    cfg = C.load(cfgpath, [f"Global.inference_model_dir={model_dir}", "Slim.ptq.algo=auto", *extra])
ptq = ptq_stage.settings(cfg)
mf, pf = ptq_stage.model_files(cfg, ptq)
calib = ptq_stage.calibration(cfg, ptq)
hold = ptq_search.holdout_split(cfg, ptq, ptq.search or C.PtqSearchConfig(), calib)
work = dst + "_work"; shutil.rmtree(work, ignore_errors=True); os.makedirs(work)
out = ptq_search.search(cfg, ptq, mf, pf, hold, work, ptq_stage.quantize)
ev, labels = data.real_images(cfg, None, "Eval")
g = cfg.Global
def outs(m, p, imgs):
    pr = paddle_predictor(m, p, g.inference_backend, g.device, g.cpu_threads, g.openvino_precision, g.openvino_streams)
    return predict_all(pr, imgs)
res = dict(ref_val=outs(mf, pf, ev), ref_hold=outs(mf, pf, hold.images), val_labels=labels,
           hold_labels=hold.labels)
names, skips, status, hv, vv = [], [], [], [], []
for r in out.rows:
    d = os.path.join(work, f"candidate_{r.index:02d}")
    if r.status.startswith("skipped") or not os.path.exists(os.path.join(d, "inference.pdmodel")): continue
    m, p = artifacts.inference_files(d)
    names.append(r.name); skips.append(len(r.settings.get("skip_tensors", ()))); status.append(r.status)
    hv.append(outs(m, p, hold.images)); vv.append(outs(m, p, ev))
# the fixed KL recipe (the bench's fixed list has it; the search's default algos do not)
kd = os.path.join(work, "kl"); os.makedirs(kd)
try:
    ptq_stage.quantize(dataclasses.replace(ptq, algo=C.PtqAlgo.KL, search=None), mf, pf, calib, kd, {})
    m, p = artifacts.inference_files(kd)
    names.append("KL(fixed)"); skips.append(0); status.append("fixed"); hv.append(outs(m, p, hold.images)); vv.append(outs(m, p, ev))
except Exception as e:
    print("KL failed", e)
np.savez(dst, names=np.array(names), skips=np.array(skips), status=np.array(status), hold=np.stack(hv), val=np.stack(vv), **res)
shutil.rmtree(work)
print("saved", dst, names)
