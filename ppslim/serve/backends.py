"""Serving backends: resolve ``Global.inference_backend`` for one model on this CPU, then build its predictor.

A :class:`Serving` is one concrete way to run a model (``paddle-cpu-onednn_bf16``, ``openvino-cpu-int8``, ...).
:func:`resolve` picks it (``auto``: what ``ppslim bench`` recorded as fastest for this artifact on a CPU with
the same features, see :mod:`.pick`; else oneDNN, oneDNN INT8 for a PaddleSlim INT8 program, OpenVINO for
an OpenVINO IR) and refuses, in one line naming the key, what cannot run: BF16 without avx512_bf16/AMX,
OpenVINO on a PaddleSlim INT8 program, a Paddle backend on an OpenVINO IR.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from .. import logs
from ..config import Device, InferenceBackend, OpenVinoPrecision
from ..errors import ArtifactError, ConfigError
from . import cpu

log = logging.getLogger(__name__)

BACKEND_KEY = "Global.inference_backend"
PRECISION_KEY = "Global.openvino_precision"
OPENVINO_MODEL_SUFFIX = ".xml"

QUANT_OPS = ("quantize_linear", "dequantize_linear", "fake_quantize_abs_max", "fake_quantize_moving_average_abs_max",
             "fake_channel_wise_quantize_abs_max", "fake_dequantize_max_abs", "fake_channel_wise_dequantize_max_abs",
             "fake_quantize_dequantize_moving_average_abs_max", "fake_channel_wise_quantize_dequantize_abs_max",
             "fake_quantize_range_abs_max", "fake_quantize_dequantize_abs_max")


# ------------------------------------------------------------------------------- what a model is
def is_openvino_ir(model_file: str) -> bool:
    return model_file.endswith(OPENVINO_MODEL_SUFFIX)


def read_program_ops(model_file: str) -> list[str]:
    """The op types of a saved inference program; a file that is not one raises ``ArtifactError``."""
    from paddle.base import core

    with open(model_file, "rb") as f:
        blob = f.read()
    try:
        # ProgramDesc parses without building Python Operators, which needs static mode.
        desc = core.ProgramDesc(blob)
        ops = [desc.block(b).op(i).type() for b in range(desc.num_blocks()) for i in range(desc.block(b).op_size())]
    except Exception as e:  # the C++ parser raises its own error types
        raise ArtifactError(f"{model_file}: not a Paddle inference program ({type(e).__name__})") from None
    if not ops:
        raise ArtifactError(f"{model_file}: not a Paddle inference program (no ops)")
    return ops


def openvino_ops(model_file: str) -> list[str]:
    """The op types of an OpenVINO IR (read from its XML, no weights loaded)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(model_file).getroot()
    except (ET.ParseError, OSError) as e:
        raise ArtifactError(f"{model_file}: not an OpenVINO IR ({type(e).__name__})") from None
    return [layer.get("type") for layer in root.iter("layer")]


def is_quantized(model_file: str) -> bool:
    """A PaddleSlim INT8 program (quant/dequant ops) or an NNCF INT8 IR (FakeQuantize layers)."""
    if is_openvino_ir(model_file):
        return "FakeQuantize" in openvino_ops(model_file)
    return any(op in QUANT_OPS for op in read_program_ops(model_file))


# ------------------------------------------------------------------------------- resolution
@dataclass(frozen=True)
class Serving:
    """One concrete way to run a model: a backend (never ``auto``) and, for OpenVINO, its precision."""
    backend: InferenceBackend
    precision: str = "fp32"        # fp32 | bf16 | int8: what the compute runs in
    openvino_precision: Optional[OpenVinoPrecision] = None   # the hint given to OpenVINO (None: its default)
    device: Device = Device.CPU
    streams: int = 1               # OpenVINO: a batch is split over this many parallel streams
    static_batch: bool = True      # OpenVINO: compile per batch size (False: one model with a dynamic batch)

    @property
    def name(self) -> str:
        """What every reported number is labelled with, e.g. ``paddle-cpu-onednn_int8``, ``openvino-cpu-bf16``."""
        if self.device == Device.GPU:
            return "paddle-gpu"
        if self.backend == InferenceBackend.OPENVINO:
            streams = f"-{self.streams}streams" if self.streams > 1 else ""
            dynamic = "" if self.static_batch else "-dynbatch"
            return f"openvino-cpu-{'f32' if self.precision == 'fp32' else self.precision}{streams}{dynamic}"
        return f"paddle-cpu-{self.backend.value}"

    def as_dict(self) -> dict:
        return {"backend": self.backend.value, "precision": self.precision, "name": self.name,
                "openvino_precision": self.openvino_precision.value if self.openvino_precision else None,
                "streams": self.streams, "static_batch": self.static_batch}


def default_backend(model_file: str) -> InferenceBackend:
    """Today's rule when nothing was measured: oneDNN, oneDNN INT8 for a quantized Paddle program
    (without ``enable_mkldnn_int8`` an INT8 program runs 3-8x slower than FP32), OpenVINO for an IR."""
    if is_openvino_ir(model_file):
        return InferenceBackend.OPENVINO
    return InferenceBackend.ONEDNN_INT8 if is_quantized(model_file) else InferenceBackend.ONEDNN


def _flags_text(features: cpu.CpuFeatures) -> str:
    return ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in features.as_dict().items())


def resolve(backend: InferenceBackend, model_file: str, device: Device = Device.CPU,
            openvino_precision: OpenVinoPrecision = OpenVinoPrecision.AUTO,
            flags: Optional[Iterable[str]] = None, use_pick: bool = True, streams: int = 1,
            static_batch: bool = True) -> Serving:
    """The :class:`Serving` for ``backend`` on ``model_file`` here, or a one-line ``ConfigError``.

    :param flags: CPU flags to decide with (default: this CPU's); tests inject a flag set.
    :param use_pick: let ``auto`` use the backend ``ppslim bench`` recorded beside the model.
    :param streams: OpenVINO streams (``Global.openvino_streams``); the recorded pick brings its own.
    """
    features = cpu.features(flags)
    ir = is_openvino_ir(model_file)
    if device == Device.GPU:
        if ir or backend in (InferenceBackend.OPENVINO, InferenceBackend.ONEDNN_BF16):
            raise ConfigError(BACKEND_KEY, f"{backend.value if not ir else 'an OpenVINO IR'} runs on CPU only; "
                              "Global.device is gpu (Paddle Inference on CUDA serves GPUs)")
        return Serving(backend, device=Device.GPU)
    if backend == InferenceBackend.AUTO:
        from . import pick

        chosen = pick.recorded(os.path.dirname(model_file), features) if use_pick else None
        if chosen is not None:
            log.info("auto: serving %s with %s, measured fastest by ppslim bench on this CPU (%s)",
                     model_file, chosen["name"], _flags_text(features))
            return resolve(InferenceBackend(chosen["backend"]), model_file, device,
                           OpenVinoPrecision(chosen.get("openvino_precision") or "auto"), flags, use_pick=False,
                           streams=int(chosen.get("streams") or 1), static_batch=chosen.get("static_batch", True))
        backend = default_backend(model_file)
    quantized = is_quantized(model_file)
    if streams > 1 and backend != InferenceBackend.OPENVINO:
        raise ConfigError("Global.openvino_streams", f"{streams} streams apply to the openvino backend only, not "
                          f"{backend.value!r}")
    if ir and backend != InferenceBackend.OPENVINO:
        raise ConfigError(BACKEND_KEY, f"{backend.value!r} is a Paddle Inference backend and {model_file} is an "
                          "OpenVINO IR: use openvino (or auto)")
    if backend == InferenceBackend.OPENVINO:
        if quantized and not ir:
            raise ConfigError(BACKEND_KEY, "openvino cannot run a PaddleSlim INT8 program (its Paddle frontend fails "
                              "on dequantize_linear): quantize for OpenVINO with Slim.ptq.engine=nncf, or use "
                              "onednn_int8")
        if openvino_precision == OpenVinoPrecision.BF16 and not features.bf16:
            raise ConfigError(PRECISION_KEY, f"bf16 needs a CPU with avx512_bf16 or AMX ({_flags_text(features)})")
        hint = None if openvino_precision == OpenVinoPrecision.AUTO else openvino_precision
        if streams > 1 and not static_batch:
            raise ConfigError("Global.openvino_streams", "streams split a batch into static parts; a dynamic-batch "
                              "model runs on one stream")
        if quantized:
            return Serving(backend, "int8", hint, streams=streams, static_batch=static_batch)
        effective = hint or (OpenVinoPrecision.BF16 if features.bf16 else OpenVinoPrecision.F32)
        return Serving(backend, "bf16" if effective == OpenVinoPrecision.BF16 else "fp32", hint, streams=streams,
                       static_batch=static_batch)
    if backend == InferenceBackend.ONEDNN_BF16:
        if not features.bf16:
            raise ConfigError(BACKEND_KEY, f"onednn_bf16 needs a CPU with avx512_bf16 or AMX ({_flags_text(features)})")
        if quantized:
            raise ConfigError(BACKEND_KEY, "onednn_bf16 runs FP32 programs and this one is PaddleSlim INT8: use "
                              "onednn_int8")
        return Serving(backend, "bf16")
    if backend == InferenceBackend.ONEDNN_INT8:
        return Serving(backend, "int8" if quantized else "fp32")
    return Serving(backend, "int8" if quantized else "fp32")


# ------------------------------------------------------------------------------- predictors
@dataclass
class PaddlePredictor:
    """A Paddle Inference predictor over one input and one output, with the backend it uses."""
    predictor: object
    backend: str

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        pred = self.predictor
        handle = pred.get_input_handle(pred.get_input_names()[0])
        handle.reshape(list(batch.shape))
        handle.copy_from_cpu(np.ascontiguousarray(batch, dtype="float32"))
        pred.run()
        return pred.get_output_handle(pred.get_output_names()[0]).copy_to_cpu()


def inference_config(model_file: str, params_file: str, backend: InferenceBackend, device: Device,
                     threads: int | None = None):
    """The Paddle Inference settings for ``backend`` (already resolved, not ``auto``) on ``device``."""
    from paddle.inference import Config as InferConfig

    config = InferConfig(model_file, params_file)
    config.disable_glog_info()
    config.switch_ir_optim(True)
    if device == Device.GPU:
        config.enable_use_gpu(256, 0)
        return config
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
    if backend == InferenceBackend.PLAIN:
        config.disable_mkldnn()
    else:
        config.enable_mkldnn()
        config.set_mkldnn_cache_capacity(10)
        if backend == InferenceBackend.ONEDNN_INT8:
            config.enable_mkldnn_int8()
        elif backend == InferenceBackend.ONEDNN_BF16:
            config.enable_mkldnn_bfloat16()
    return config


class OpenVinoPredictor:
    """An OpenVINO CPU model over one input and one output. Each input shape gets its own model compiled
    for that static shape (reshaped from the file's dynamic one), kept for the next call of that shape.
    With ``streams`` > 1 a batch is split into that many parts run in parallel, one stream each (the
    threads shared out among the streams)."""

    MAX_SHAPES = 6

    def __init__(self, model_file: str, params_file: str, serving: Serving, threads: int | None = None):
        import openvino as ov

        self.backend = serving.name
        self.core = ov.Core()
        self.model = self.core.read_model(model_file, params_file)
        if len(self.model.inputs) != 1 or len(self.model.outputs) != 1:
            raise ArtifactError(f"{model_file}: serving supports models with one input and one output")
        self.streams = serving.streams
        self.static_batch = serving.static_batch
        threads = int(threads or os.cpu_count() or 1)
        self.config = ({"PERFORMANCE_HINT": "LATENCY"} if self.streams == 1 else {"NUM_STREAMS": self.streams})
        self.config["INFERENCE_NUM_THREADS"] = threads
        if serving.openvino_precision is not None:
            self.config["INFERENCE_PRECISION_HINT"] = serving.openvino_precision.value
        self.requests: OrderedDict = OrderedDict()

    def request(self, shape: tuple, count: int = 1) -> list:
        """``count`` infer requests of one model compiled for ``shape``."""
        if not self.static_batch:
            shape = (-1, *shape[1:])  # one model for every batch size of this image size
        reqs = self.requests.get(shape)
        if reqs is None:
            model = self.model.clone()
            model.reshape(list(shape))
            with logs.capture_native():  # OpenVINO's plugins may print from C++ while compiling
                compiled = self.core.compile_model(model, "CPU", self.config)
            reqs = [compiled.create_infer_request() for _ in range(count)]
            self.requests[shape] = reqs
            while len(self.requests) > self.MAX_SHAPES:
                self.requests.popitem(last=False)
        return reqs

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype="float32")
        if self.streams == 1 or len(batch) < 2:
            req = self.request(tuple(batch.shape))[0]
            # zero-copy: the request reads the caller's array and writes into its own output tensor, which
            # the next call overwrites, so only the (small) output is copied out
            req.infer({0: batch}, share_inputs=True, share_outputs=True)
            return np.array(req.get_output_tensor(0).data)
        parts = np.array_split(batch, min(self.streams, len(batch)))
        reqs, used = [], {}
        for part in parts:  # equal parts share one compiled model (a request each), a shorter last part its own
            shape = tuple(part.shape)
            pool = self.request(shape, self.streams)
            reqs.append(pool[used.get(shape, 0)])
            used[shape] = used.get(shape, 0) + 1
        for req, part in zip(reqs, parts):  # views of the batch, alive until every request is done
            req.start_async({0: part}, share_inputs=True)
        for req in reqs:
            req.wait()
        return np.concatenate([np.array(req.get_output_tensor(0).data) for req in reqs])


def create_predictor(model_file: str, params_file: str, serving: Serving, threads: int | None = None):
    """A numpy-in/numpy-out predictor for ``serving`` (from :func:`resolve`), with ``.backend`` naming it."""
    if serving.backend == InferenceBackend.OPENVINO:
        return OpenVinoPredictor(model_file, params_file, serving, threads)
    from paddle.inference import create_predictor as paddle_create

    config = inference_config(model_file, params_file, serving.backend, serving.device, threads)
    with logs.capture_native():  # the IR passes print (oneDNN INT8: ~45 lines per predictor)
        predictor = paddle_create(config)
    return PaddlePredictor(predictor, serving.name)


def candidates(model_file: str, flags: Optional[Iterable[str]] = None) -> list[Serving]:
    """Every CPU serving that applies to ``model_file`` on this CPU (what ``ppslim bench`` times): Paddle
    oneDNN (INT8 kernels for an INT8 program, BF16 where the CPU has it), OpenVINO f32/bf16 (int8 for an
    NNCF IR), each OpenVINO one compiled per batch size, also with a batch split over 2 streams on a CPU with
    2+ cores, and as one dynamic-batch model (what ``core.compile_model`` of the file gives)."""
    # (streams, static batch): per-batch-size compiles on 1 or 2 streams, or one dynamic-batch model
    layouts = ([(1, True), (2, True)] if (os.cpu_count() or 1) >= 2 else [(1, True)]) + [(1, False)]
    if is_openvino_ir(model_file):
        return [resolve(InferenceBackend.OPENVINO, model_file, Device.CPU, OpenVinoPrecision.AUTO, flags, False, n, st)
                for n, st in layouts]
    out = []
    quantized = is_quantized(model_file)
    for backend, precision in ((InferenceBackend.ONEDNN, None), (InferenceBackend.ONEDNN_INT8, None),
                               (InferenceBackend.ONEDNN_BF16, None),
                               (InferenceBackend.OPENVINO, OpenVinoPrecision.F32),
                               (InferenceBackend.OPENVINO, OpenVinoPrecision.BF16)):
        if backend == InferenceBackend.ONEDNN_INT8 and not quantized:
            continue  # on an FP32 program it is oneDNN FP32 again
        if backend == InferenceBackend.ONEDNN and quantized:
            continue  # an INT8 program without the INT8 kernels: 3-8x slower than FP32, never the pick
        for n, st in (layouts if backend == InferenceBackend.OPENVINO else [(1, True)]):
            try:
                s = resolve(backend, model_file, Device.CPU, precision or OpenVinoPrecision.AUTO, flags,
                            use_pick=False, streams=n, static_batch=st)
            except ConfigError:
                break
            if s not in out:
                out.append(s)
    return out
