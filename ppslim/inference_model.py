"""Write Paddle inference models that are checked before they are kept.

Every producer (FP32 export, QAT export, PTQ) saves into a temp dir, runs the new model with the
predictor users will deploy with on real images, compares with its reference, and only then
renames the dir into place. A refused artifact leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import artifacts, data, logs, tracing
from .config import Config, InferenceBackend
from .predict import Agreement, backend_name, paddle_predictor, predict_all, verify


@dataclass(frozen=True)
class SavedModel:
    model_dir: str
    model_file: str
    params_file: str
    params_bytes: int
    backend: str
    agreement: Agreement


def input_spec(cfg: Config, dynamic_hw: bool = False):
    """The exported program's input: ``[N, *Global.image_shape]``; with ``dynamic_hw`` any height and width
    (a fully convolutional network with adaptive pooling, trained small and served large)."""
    from paddle.static import InputSpec

    c, h, w = cfg.Global.image_shape
    return [InputSpec(shape=[None, c, None, None] if dynamic_hw else [None, c, h, w], dtype="float32", name="x")]


def verification_images(cfg: Config) -> np.ndarray:
    images, _ = data.real_images(cfg, cfg.Global.verify_images)
    return images


def _digest(model_file: str, params_file: str, images: np.ndarray, backend: str) -> str:
    h = hashlib.sha256(backend.encode())
    for path in (model_file, params_file):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()


def model_outputs(cfg: Config, model_file: str, params_file: str, images: np.ndarray,
                  backend: InferenceBackend = InferenceBackend.AUTO) -> np.ndarray:
    """Logits of an inference model on ``images``. A model ``save_verified`` wrote already carries
    them (``artifacts.OUTPUTS_FILE``, keyed by the digest of its files, the images and the backend),
    so PTQ of a model ppslim exported does not run the FP32 model on the same images twice."""
    cache = os.path.join(os.path.dirname(model_file), artifacts.OUTPUTS_FILE)
    if os.path.isfile(cache):
        name = backend_name(backend, cfg.Global.device, model_file, cfg.Global.openvino_precision,
                            cfg.Global.openvino_streams)
        with np.load(cache) as stored:
            if str(stored["digest"]) == _digest(model_file, params_file, images, name):
                return stored["logits"]
    predictor = paddle_predictor(model_file, params_file, backend, cfg.Global.device, cfg.Global.cpu_threads,
                                 cfg.Global.openvino_precision, cfg.Global.openvino_streams)
    return predict_all(predictor, images)


def save_verified(cfg: Config, out_dir: str, save: Callable[[str], None], reference: np.ndarray, what: str,
                  model_filename: str = artifacts.MODEL_FILE, params_filename: str = artifacts.PARAMS_FILE,
                  images: np.ndarray | None = None, **verify_kw) -> SavedModel:
    """``save(tmp_dir)`` writes the model; it is kept at ``out_dir`` only if its outputs on the
    verification images match ``reference`` (logits of the same images from the source model)."""
    images = verification_images(cfg) if images is None else images
    with artifacts.atomic_dir(out_dir) as tmp:
        # jit.save, QAT export and quant_post_static print from C++ and PaddleSlim
        with logs.capture_native(), tracing.clean_trace():
            save(tmp)
        model_file, params_file = artifacts.inference_files(tmp, model_filename, params_filename, key=what)
        predictor = paddle_predictor(model_file, params_file, cfg.Global.inference_backend, cfg.Global.device,
                                     cfg.Global.cpu_threads, cfg.Global.openvino_precision,
                                     cfg.Global.openvino_streams)
        outputs = predict_all(predictor, images)
        agreement = verify(reference, outputs, cfg, what, **verify_kw)
        np.savez(os.path.join(tmp, artifacts.OUTPUTS_FILE), logits=outputs,
                 digest=_digest(model_file, params_file, images, predictor.backend))
        size = os.path.getsize(params_file)
    return SavedModel(out_dir, os.path.join(out_dir, model_filename), os.path.join(out_dir, params_filename),
                      size, predictor.backend, agreement)
