"""``ppslim infer``: predict image files (``Infer.infer_imgs``: a file or a folder) with any artifact."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..config import Config
from ..data import build_infer_transform
from ..errors import ConfigError
from ..predict import open_artifact, softmax

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class Prediction:
    file: str
    class_ids: tuple
    scores: tuple
    label_names: tuple


@dataclass(frozen=True)
class InferResult:
    artifact: str
    backend: str
    predictions: tuple

    def report(self) -> str:
        lines = [f"{len(self.predictions)} image(s), artifact {self.artifact}, backend {self.backend}"]
        for p in self.predictions:
            top = ", ".join(f"{name} ({score:.3f})" for name, score in zip(p.label_names, p.scores))
            lines.append(f"{p.file}: {top}")
        return "\n".join(lines)


def image_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ConfigError("Infer.infer_imgs", f"no such image file or folder: {path!r}")
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(path) for f in names
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ConfigError("Infer.infer_imgs", f"{path!r} holds no {'/'.join(IMAGE_EXTENSIONS)} images")
    return files


def class_names(path: str | None) -> dict[int, str]:
    """PaddleClas ``class_id_map_file``: ``<id> <name>`` per line."""
    if not path:
        return {}
    if not os.path.isfile(path):
        raise ConfigError("Infer.PostProcess.class_id_map_file", f"file not found: {path!r}")
    names = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, name = line.strip().partition(" ")
            if key.isdigit():
                names[int(key)] = name.strip() or key
    return names


def run(cfg: Config) -> InferResult:
    infer = cfg.require("Infer")
    files = image_files(infer.infer_imgs)
    names = class_names(infer.PostProcess.class_id_map_file)
    transform = build_infer_transform(cfg)
    artifact = open_artifact(cfg)
    predictions = []
    for start in range(0, len(files), infer.batch_size):
        batch_files = files[start:start + infer.batch_size]
        batch = []
        for path in batch_files:
            with open(path, "rb") as f:
                batch.append(np.asarray(transform(f.read()), dtype="float32"))
        probs = softmax(artifact.run(np.stack(batch)))
        k = min(infer.PostProcess.topk, probs.shape[1])
        for path, row in zip(batch_files, probs):
            ids = np.argsort(-row)[:k]
            predictions.append(Prediction(path, tuple(int(i) for i in ids), tuple(round(float(row[i]), 5) for i in ids),
                                          tuple(names.get(int(i), str(int(i))) for i in ids)))
    return InferResult(artifact.path, artifact.backend, tuple(predictions))
