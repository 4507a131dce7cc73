"""PaddleClas ``ImageNetDataset``: an image root plus a list file of ``relative/path label`` lines."""
from __future__ import annotations

import os

import numpy as np

from ..errors import ConfigError


def read_label_list(image_root: str, cls_label_path: str, delimiter: str, key_path: str,
                    relabel: bool = False) -> list[tuple[str, int]]:
    """Parse and check a label list; every error names the file, the line and the key it came from.

    ``relabel`` maps the labels found, in increasing order, to 0..K-1 (PaddleClas's ``relabel``
    for lists whose labels do not start at 0 or have gaps)."""
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
    if relabel:
        new = {old: i for i, old in enumerate(sorted({label for _, label in samples}))}
        samples = [(path, new[label]) for path, label in samples]
    return samples


def to_chw(img, where: str = "transform_ops") -> np.ndarray:
    """PaddleClas's datasets run their ops on HWC images and transpose to CHW after the last one."""
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"{where} must end with an HWC image, got an array of shape {arr.shape}")
    return np.ascontiguousarray(arr.transpose((2, 0, 1)))


class DatasetTransform:
    """``transform_ops`` with the dataset's HWC -> CHW step after them (e.g. for inference fallbacks)."""

    def __init__(self, ops):
        self.ops = ops

    def __call__(self, data):
        return to_chw(self.ops(data))


class ImageNetDataset:
    """Map-style dataset yielding ``(CHW float32 image, int64 label)``: the configured ops run on the
    decoded HWC image, then it is transposed to CHW, as in PaddleClas's ``CommonDataset``.

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
            img = to_chw(self.transform(f.read()))
        # float32, or float16 from NormalizeImage.output_fp16 (AMP O2's pure-fp16 network)
        return img.astype(img.dtype if img.dtype == np.float16 else "float32", copy=False), np.int64(label)

    @property
    def labels(self) -> np.ndarray:
        return np.array([label for _, label in self.samples], dtype="int64")


class MultiScaleDataset(ImageNetDataset):
    """PaddleClas's ``MultiScaleDataset``: indexed by ``(w, h, index)`` from ``MultiScaleSampler``;
    every RandCropImage/ResizeImage/CropImage op gets ``size: [w, h]`` for that sample (ResizeImage
    loses ``resize_short``; the ops keep their other parameters, which PaddleClas drops). A plain
    integer index (calibration, verification) uses ``default_size``, the sampler's first scale."""

    def __init__(self, samples, specs, path: str, default_size: tuple[int, int]):
        super().__init__(samples, None)
        self.specs, self.path, self.default_size = tuple(specs), path, tuple(default_size)
        self._by_size: dict = {}

    def transform_for(self, w: int, h: int):
        if (w, h) not in self._by_size:
            from ..config import MULTI_SCALE_RESIZE_OPS, OpSpec
            from .ops import build_transforms

            specs = []
            for op in self.specs:
                if op.name in MULTI_SCALE_RESIZE_OPS:
                    params = {k: v for k, v in op.params.items() if k not in ("size", "resize_short")}
                    op = OpSpec(op.name, {**params, "size": [int(w), int(h)]})
                specs.append(op)
            self._by_size[(w, h)] = build_transforms(specs, self.path)
        return self._by_size[(w, h)]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            key = (*self.default_size, int(key))
        if not isinstance(key, (tuple, list)) or len(key) != 3:
            raise TypeError(f"MultiScaleDataset is indexed by (w, h, index) or an index, got {key!r}")
        w, h, idx = key
        self.transform = self.transform_for(w, h)
        return super().__getitem__(idx)


def _as_paddle_dataset(base):
    import paddle

    return type(base.__name__, (base, paddle.io.Dataset), {})


def make_dataset(samples, transform):
    return _as_paddle_dataset(ImageNetDataset)(samples, transform)


def make_multi_scale_dataset(samples, specs, path: str, default_size: tuple[int, int]):
    return _as_paddle_dataset(MultiScaleDataset)(samples, specs, path, default_size)
