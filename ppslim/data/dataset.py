"""PaddleClas ``ImageNetDataset``: an image root plus a list file of ``relative/path label`` lines."""
from __future__ import annotations

import os

import numpy as np

from ..errors import ConfigError


def read_label_list(image_root: str, cls_label_path: str, delimiter: str, key_path: str) -> list[tuple[str, int]]:
    """Parse and check a label list; every error names the file, the line and the key it came from."""
    if not image_root or not os.path.isdir(image_root):
        raise ConfigError(f"{key_path}.image_root", f"image folder not found: {image_root!r}")
    if not cls_label_path or not os.path.isfile(cls_label_path):
        raise ConfigError(f"{key_path}.cls_label_path", f"label list not found: {cls_label_path!r}")
    samples = []
    with open(cls_label_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            rel, sep, label = line.rpartition(delimiter)
            if not sep or not label.strip().lstrip("-").isdigit():
                raise ConfigError(f"{key_path}.cls_label_path",
                                  f"{cls_label_path}:{lineno}: expected 'relative/path{delimiter}label', got {line!r}")
            samples.append((os.path.join(image_root, rel), int(label)))
    if not samples:
        raise ConfigError(f"{key_path}.cls_label_path", f"{cls_label_path} lists no images")
    missing = [p for p, _ in samples[:1000] if not os.path.isfile(p)]
    if missing:
        raise ConfigError(f"{key_path}.image_root", f"{len(missing)} listed image(s) missing under "
                          f"{image_root!r}, first: {missing[0]}")
    return samples


class ImageNetDataset:
    """Map-style dataset yielding ``(CHW float32 image, int64 label)`` after the configured ops.

    Subclassed from ``paddle.io.Dataset`` lazily (see :func:`make_dataset`) so that reading the
    list, which the config check does, never imports paddle.
    """

    def __init__(self, samples: list[tuple[str, int]], transform):
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, idx: int):
        path, label = self.samples[idx]
        with open(path, "rb") as f:
            img = self.transform(f.read())
        return np.asarray(img, dtype="float32"), np.int64(label)

    @property
    def labels(self) -> np.ndarray:
        return np.array([label for _, label in self.samples], dtype="int64")


def make_dataset(samples, transform):
    import paddle

    cls = type("ImageNetDataset", (ImageNetDataset, paddle.io.Dataset), {})
    return cls(samples, transform)
