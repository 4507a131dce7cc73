"""Write Paddle inference models that are checked before they are kept.

Every producer (FP32 export, QAT export, PTQ) saves into a temp dir, runs the new model with the
predictor users will deploy with on real images, compares with its reference, and only then
renames the dir into place. A refused artifact leaves nothing behind.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import artifacts, data
from .config import Config
from .predict import Agreement, paddle_predictor, predict_all, verify


@dataclass(frozen=True)
class SavedModel:
    model_dir: str
    model_file: str
    params_file: str
    params_bytes: int
    backend: str
    agreement: Agreement


def input_spec(cfg: Config):
    from paddle.static import InputSpec

    return [InputSpec(shape=[None, *cfg.Global.image_shape], dtype="float32", name="x")]


def verification_images(cfg: Config) -> np.ndarray:
    images, _ = data.real_images(cfg, cfg.Global.verify_images)
    return images


def save_verified(cfg: Config, out_dir: str, save: Callable[[str], None], reference: np.ndarray, what: str,
                  model_filename: str = artifacts.MODEL_FILE, params_filename: str = artifacts.PARAMS_FILE,
                  images: np.ndarray | None = None, **verify_kw) -> SavedModel:
    """``save(tmp_dir)`` writes the model; it is kept at ``out_dir`` only if its outputs on the
    verification images match ``reference`` (logits of the same images from the source model)."""
    images = verification_images(cfg) if images is None else images
    with artifacts.atomic_dir(out_dir) as tmp:
        save(tmp)
        model_file, params_file = artifacts.inference_files(tmp, model_filename, params_filename, key=what)
        predictor = paddle_predictor(model_file, params_file, cfg.Global.inference_backend, cfg.Global.device,
                                     cfg.Global.cpu_threads)
        agreement = verify(reference, predict_all(predictor, images), cfg, what, **verify_kw)
        size = os.path.getsize(params_file)
    return SavedModel(out_dir, os.path.join(out_dir, model_filename), os.path.join(out_dir, params_filename),
                      size, predictor.backend, agreement)
