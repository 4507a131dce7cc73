"""``ppslim eval``: score any artifact on ``DataLoader.Eval`` and say which backend produced the number.

The artifact is ``Global.inference_model_dir`` when set (a Paddle inference model folder, or a
Paddle Lite ``.nb`` file), else the checkpoint ``Global.pretrained_model`` (default: the run's
best model), run in dygraph. The result names the artifact's sha256; when the artifact's own
``result.json`` recorded another one (the files were replaced since), a warning says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import data, provenance
from ..train import engine
from ..config import Config
from ..predict import open_artifact, topk_scores


@dataclass(frozen=True)
class EvalResult:
    artifact: str
    kind: str          # checkpoint | inference_model | lite
    backend: str
    top1: float
    top5: float
    images: int
    size_bytes: int
    sha256: str


def run(cfg: Config) -> EvalResult:
    data.check_dataset(cfg, "Eval")
    artifact = open_artifact(cfg)
    digest = provenance.check_recorded(artifact.path, cfg.Global.output_dir)
    if artifact.kind == "lite":  # one subprocess for the whole split, not one per batch
        images, labels = data.real_images(cfg, None)
        logits = artifact.run(images)
    else:
        logits, labels = [], []
        for images, batch_labels in engine.progress(data.build_loader(cfg, "Eval", shuffle=False).loader, "eval"):
            logits.append(artifact.run(images.numpy()))
            labels.append(batch_labels.numpy().reshape(-1))
        logits, labels = np.concatenate(logits), np.concatenate(labels)
    scores = topk_scores(logits, labels, ks=(1, min(5, logits.shape[1])))
    return EvalResult(artifact.path, artifact.kind, artifact.backend, scores["top1"],
                      scores.get("top5", scores["top1"]), len(labels), artifact.size_bytes, digest)
