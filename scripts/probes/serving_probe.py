"""Serving probe (measurement only, not part of the package): random-init paddle.vision nets at 224, NNCF INT8
and OpenVINO/Paddle variants timed interleaved (ppslim.bench.timing), repeated in sessions. PROBE_EXTRA=scripts/probes/ort_extra.py
adds PaddleSlim INT8 on oneDNN, paddle2onnx -> ONNX Runtime (FP32, QDQ INT8) and OpenVINO reading the QDQ ONNX
(needs paddle2onnx 1.2.11 + onnxruntime 1.23.2 on PYTHONPATH; they are not in the locks)."""
import ppslim  # noqa: F401  (before paddle)
import argparse, json, os, sys, time
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--arch", default="resnet50")
ap.add_argument("--batches", default="1,16")
ap.add_argument("--rounds", type=int, default=15)
ap.add_argument("--sessions", type=int, default=3)
ap.add_argument("--variants", default="")
ap.add_argument("--work", default="/tmp/probe/work")
ap.add_argument("--model-dir", default="", help="use this exported FP32 inference dir instead of random init")
args = ap.parse_args()

import paddle
import openvino as ov
import nncf
from ppslim.bench import timing
from ppslim.data import digits  # noqa

work = os.path.join(args.work, args.arch)
os.makedirs(work, exist_ok=True)
size = 224
# ---- FP32 model
if args.model_dir:
    mf, pf = os.path.join(args.model_dir, "inference.pdmodel"), os.path.join(args.model_dir, "inference.pdiparams")
else:
    mf, pf = os.path.join(work, "inference.pdmodel"), os.path.join(work, "inference.pdiparams")
    if not os.path.isfile(mf):
        paddle.seed(0)
        net = getattr(paddle.vision.models, args.arch)(num_classes=10)
        net.eval()
        paddle.jit.save(net, os.path.join(work, "inference"),
                        input_spec=[paddle.static.InputSpec([None, 3, None, None], "float32", "x")])
# ---- calibration / timing images: digits resized to 224
from PIL import Image
root = "dataset/digits"
files = [l.split()[0] for l in open(os.path.join(root, "train_list.txt"))][:64]
def load(f):
    im = np.asarray(Image.open(os.path.join(root, f)).convert("RGB").resize((size, size)), "float32") / 255.0
    return ((im - 0.5) / 0.5).transpose(2, 0, 1)
imgs = np.stack([load(f) for f in files]).astype("float32")
calib = [imgs[i:i + 1] for i in range(len(imgs))]

core = ov.Core()
def nncf_q(tag, **kw):
    path = os.path.join(work, f"nncf_{tag}.xml")
    if not os.path.isfile(path):
        q = nncf.quantize(core.read_model(mf, pf), nncf.Dataset(calib), subset_size=len(calib), **kw)
        ov.save_model(q, path, compress_to_fp16=False)
    return path

def fix_hw(model, batch=-1):
    m = model.clone() if hasattr(model, "clone") else model
    m.reshape([batch, 3, size, size])
    return m

def ov_runner(xml, bin_=None, batch=None, config=None, share=True, streams=1):
    """batch None: dynamic batch; else static."""
    model = core.read_model(xml, bin_) if bin_ else core.read_model(xml)
    cache = {}
    cfg = dict(config or {})
    def get(shape):
        if shape not in cache:
            m = model.clone(); m.reshape(list(shape) if batch else [-1, *shape[1:]])
            c = core.compile_model(m, "CPU", cfg)
            cache[shape] = (c, [c.create_infer_request() for _ in range(streams)])
        return cache[shape]
    def run(x):
        if streams == 1 or len(x) < 2:
            c, reqs = get(tuple(x.shape))
            r = reqs[0]
            if share:
                r.infer({0: x}, share_inputs=True, share_outputs=True)
            else:
                r.infer({0: x})
            return np.array(r.get_output_tensor(0).data)
        parts = np.array_split(x, streams)
        c, reqs = get(tuple(parts[0].shape))
        for r, p in zip(reqs, parts):
            r.start_async({0: p}, share_inputs=share)
        for r in reqs:
            r.wait()
        return np.concatenate([np.array(r.get_output_tensor(0).data) for r in reqs])
    return run

def peer_runner(xml):
    m = core.read_model(xml)
    m.reshape([-1, 3, size, size])
    c = core.compile_model(m, "CPU")
    return lambda x: c(x)[0]

def paddle_runner(model_file, params_file, backend):
    from ppslim.serve import backends
    from ppslim.config import InferenceBackend, Device
    s = backends.Serving(InferenceBackend(backend))
    return backends.create_predictor(model_file, params_file, s, 2)

def ppslim_ov(xml, streams=1, static=True):
    from ppslim.serve import backends
    from ppslim.config import InferenceBackend
    s = backends.Serving(InferenceBackend.OPENVINO, "int8", None, streams=streams, static_batch=static)
    return backends.OpenVinoPredictor(xml, xml[:-4] + ".bin", s, 2)

V = {}
want = set(args.variants.split(",")) if args.variants else None
def add(name, fn):
    if want is None or name in want:
        V[name] = fn()

q = lambda: nncf_q("default")
add("peer", lambda: peer_runner(q()))
add("ppslim_cur_static", lambda: ppslim_ov(q()))
add("ppslim_cur_2streams", lambda: ppslim_ov(q(), 2))
add("ppslim_cur_dyn", lambda: ppslim_ov(q(), 1, False))
add("old_static", lambda: ov_runner(q(), batch=True, share=False, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2}))
add("old_2streams", lambda: ov_runner(q(), batch=True, share=False, config={"NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 2}, streams=2))
add("static_share", lambda: ov_runner(q(), batch=True, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2}))
add("dyn_share", lambda: ov_runner(q(), batch=None, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2}))
add("static_share_2streams", lambda: ov_runner(q(), batch=True, config={"NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 2}, streams=2))
add("static_share_nopin", lambda: ov_runner(q(), batch=True, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2, "ENABLE_CPU_PINNING": False}))
add("static_share_denorm", lambda: ov_runner(q(), batch=True, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2, "CPU_DENORMALS_OPTIMIZATION": True}))
add("static_share_tbbstatic", lambda: ov_runner(q(), batch=True, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2, "TBB_PARTITIONER": "STATIC"}))
add("static_share_tput", lambda: ov_runner(q(), batch=True, config={"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_NUM_THREADS": 2}))
add("q_cpu_static_share", lambda: ov_runner(nncf_q("cpu", target_device=nncf.TargetDevice.CPU), batch=True, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2}))
add("q_mixed_static_share", lambda: ov_runner(nncf_q("mixed", preset=nncf.QuantizationPreset.MIXED), batch=True, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2}))
add("ov_f32_static_share", lambda: ov_runner(mf, pf, batch=True, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2}))
add("ov_f32_2streams_share", lambda: ov_runner(mf, pf, batch=True, config={"NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 2}, streams=2))
add("paddle_fp32", lambda: paddle_runner(mf, pf, "onednn"))
def ppslim_ov_f32():
    from ppslim.serve import backends
    from ppslim.config import InferenceBackend, OpenVinoPrecision
    return backends.OpenVinoPredictor(mf, pf, backends.Serving(InferenceBackend.OPENVINO, "fp32", OpenVinoPrecision.F32), 2)
if want is None or "ov_f32_cur_static" in want:
    V["ov_f32_cur_static"] = ppslim_ov_f32()
extra = os.environ.get("PROBE_EXTRA")
if extra:
    exec(open(extra).read())

# correctness of the INT8 variants against the peer on the images
ref = None
for name, fn in V.items():
    out = np.concatenate([fn(imgs[i:i + 16]) for i in range(0, 64, 16)])
    if ref is None: ref = out
    cos = float((out * ref).sum() / (np.linalg.norm(out) * np.linalg.norm(ref) + 1e-30))
    print(f"# {name}: cosine vs {list(V)[0]} {cos:.5f}", flush=True)

res = {}
for bs in [int(b) for b in args.batches.split(",")]:
    batch = np.ascontiguousarray(np.resize(imgs, (bs, 3, size, size)))
    calls = {n: (lambda f=f: f(batch)) for n, f in V.items()}
    for s in range(args.sessions):
        run = timing.interleaved(calls, bs, 3, args.rounds)
        med = {n: l.median_ms for n, l in run.latencies.items()}
        res.setdefault(bs, []).append(med)
        base = med[list(V)[0]]
        print(f"b{bs} session {s} other_cpu {run.other_cpu_share:.2f}: " + ", ".join(
            f"{n} {m:.2f} ({base / m:.3f})" for n, m in med.items()), flush=True)
print("SUMMARY (median over sessions of per-session medians; ratio = first / variant)")
for bs, sess in res.items():
    for n in V:
        ms = np.median([s[n] for s in sess]); ratios = [s[list(V)[0]] / s[n] for s in sess]
        print(f"b{bs} {n:28s} {ms:9.2f} ms  ratio {np.median(ratios):.3f}  [{', '.join(f'{r:.3f}' for r in ratios)}]")
