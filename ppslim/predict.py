"""Run artifacts: deploy predictors (Paddle Inference and OpenVINO, built by :mod:`ppslim.serve.backends`),
dygraph models, and the output comparison that every conversion must pass before its artifact is kept.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import logs
from .config import Config, Device, InferenceBackend, OpenVinoPrecision
from .errors import ArtifactError
from .serve import backends
from .serve.backends import (QUANT_OPS, PaddlePredictor, inference_config, is_quantized,  # noqa: F401 (re-exported)
                             read_program_ops)

log = logging.getLogger(__name__)



def stored_weight_dtypes(model_file: str, params_file: str) -> dict[str, str]:
    """Name -> dtype of every weight as stored in the params file.

    The program declares quantized weights as float32; only the loaded tensors show whether the
    file really holds int8 (onnx_format) or float32 values (legacy format, no size saving).
    """
    import paddle

    paddle.enable_static()
    try:
        scope = paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            exe = paddle.static.Executor(paddle.CPUPlace())
            program, _, _ = paddle.static.load_inference_model(
                os.path.dirname(model_file), exe, model_filename=os.path.basename(model_file),
                params_filename=os.path.basename(params_file))
            return {v.name: str(np.array(scope.find_var(v.name).get_tensor()).dtype) for v in program.list_vars()
                    if v.persistable and v.name not in ("feed", "fetch")}
    finally:
        paddle.disable_static()


def resolve_backend(backend: InferenceBackend, quantized: bool) -> InferenceBackend:
    """``auto`` without a model at hand: oneDNN, and oneDNN INT8 kernels for a quantized program.
    (:func:`ppslim.serve.backends.resolve` is the full rule, with bench's recorded pick.)"""
    if backend != InferenceBackend.AUTO:
        return backend
    return InferenceBackend.ONEDNN_INT8 if quantized else InferenceBackend.ONEDNN


def backend_name(backend: InferenceBackend, device: Device, model_file: str,
                 openvino_precision: OpenVinoPrecision = OpenVinoPrecision.AUTO, streams: int = 1) -> str:
    """What :func:`paddle_predictor` will run ``model_file`` with, e.g. ``paddle-cpu-onednn_int8``."""
    return backends.resolve(backend, model_file, device, openvino_precision, streams=streams).name


def paddle_predictor(model_file: str, params_file: str, backend: InferenceBackend = InferenceBackend.AUTO,
                     device: Device = Device.CPU, threads: int | None = None,
                     openvino_precision: OpenVinoPrecision = OpenVinoPrecision.AUTO, streams: int = 1):
    """The deploy predictor of an inference model (Paddle program or OpenVINO IR) for ``backend``, resolved
    by :func:`ppslim.serve.backends.resolve`; ``.backend`` names what runs it."""
    serving = backends.resolve(backend, model_file, device, openvino_precision, streams=streams)
    return backends.create_predictor(model_file, params_file, serving, threads)


def dygraph_predictor(model) -> Callable[[np.ndarray], np.ndarray]:
    import paddle

    model.eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with paddle.no_grad():
            return model(paddle.to_tensor(batch)).numpy()
    return run


def predict_all(run: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    starts = range(0, len(images), batch_size)
    return np.concatenate([run(images[i:i + batch_size]) for i in logs.progress(starts, "predict")])


def topk_scores(logits: np.ndarray, labels: np.ndarray, ks=(1, 5)) -> dict:
    order = np.argsort(-logits, axis=1)
    return {f"top{k}": float((order[:, :k] == labels[:, None]).any(axis=1).mean()) for k in ks}


@dataclass(frozen=True)
class Agreement:
    cosine: float
    top1_agreement: float
    images: int


def compare(reference: np.ndarray, candidate: np.ndarray) -> Agreement:
    """Mean per-image cosine of the logits and the share of images whose top-1 class is the same."""
    ref = reference.reshape(len(reference), -1).astype("float64")
    out = candidate.reshape(len(candidate), -1).astype("float64")
    denom = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    cos = np.where(denom > 0, (ref * out).sum(axis=1) / np.maximum(denom, 1e-30), 0.0)
    agree = (ref.argmax(1) == out.argmax(1)).mean()
    return Agreement(round(float(cos.mean()), 6), round(float(agree), 6), len(ref))


def shortfalls(result: Agreement, candidate: np.ndarray, min_cosine: float, min_agreement: float) -> list[str]:
    """Why outputs fail the verification bars (empty: they pass)."""
    failures = [f"cosine {result.cosine:.4f} < {min_cosine}"] if result.cosine < min_cosine else []
    if result.top1_agreement < min_agreement:
        failures.append(f"top-1 agreement {result.top1_agreement:.3f} < {min_agreement}")
    if not np.all(np.isfinite(candidate)):
        failures.append("non-finite outputs")
    return failures


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``[N, classes]`` logits (numerically shifted)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def verify(reference: np.ndarray, candidate: np.ndarray, cfg: Config, what: str, min_cosine: float | None = None,
           min_agreement: float | None = None) -> Agreement:
    """Refuse an artifact whose outputs drift from its reference beyond the configured tolerance."""
    g = cfg.Global
    result = compare(reference, candidate)
    min_cos = g.verify_min_cosine if min_cosine is None else min_cosine
    min_agree = g.verify_min_top1_agreement if min_agreement is None else min_agreement
    failures = shortfalls(result, candidate, min_cos, min_agree)
    if failures:
        reason = (f"outputs disagree with the reference on {result.images} real images ({', '.join(failures)}); "
                  "artifact refused")
        raise ArtifactError(f"{what}: {reason}", reason=reason)
    log.info("%s verified: cosine %.4f, top-1 agreement %.3f on %d images", what, result.cosine,
             result.top1_agreement, result.images)
    return result


@dataclass(frozen=True)
class OpenArtifact:
    """Any artifact behind one numpy-in/numpy-out callable, with what it is and how it runs."""
    run: Callable[[np.ndarray], np.ndarray]
    path: str
    kind: str      # checkpoint | inference_model | lite
    backend: str
    size_bytes: int


def open_artifact(cfg: Config) -> OpenArtifact:
    """``Global.inference_model_dir`` (a Paddle inference folder, an OpenVINO IR folder from
    ``Slim.ptq.engine: nncf``, or a Lite ``.nb``) when set, else the
    checkpoint ``Global.pretrained_model`` (default: the run's best model) in dygraph."""
    from . import artifacts
    from .restore import default_weights, load_trained_model

    g = cfg.Global
    path = g.inference_model_dir
    if path and path.endswith(".nb"):
        from .compress.lite import run_nb

        if not os.path.isfile(path):
            raise ArtifactError(f"Global.inference_model_dir: Lite model not found: {path!r}")
        return OpenArtifact(lambda batch: run_nb(path, batch), path, "lite", "paddle-lite-x86",
                            os.path.getsize(path))
    if path:
        model_file, params_file = artifacts.served_files(path)
        runner = paddle_predictor(model_file, params_file, g.inference_backend, g.device, g.cpu_threads,
                                  g.openvino_precision, g.openvino_streams)
        return OpenArtifact(runner, path, "inference_model", runner.backend, os.path.getsize(params_file))
    import paddle

    prefix, key = default_weights(cfg)
    paddle.set_device("gpu" if g.device == Device.GPU else "cpu")
    from .models import inference_network

    model, _ = load_trained_model(cfg, prefix, key)
    return OpenArtifact(dygraph_predictor(inference_network(model)), prefix + ".pdparams", "checkpoint",
                        f"dygraph-{g.device.value}", os.path.getsize(prefix + ".pdparams"))
