"""Resizing, cropping and flipping ops with PaddleClas's parameters, on cv2 or PIL (``backend``)."""
from __future__ import annotations

import math
import random
from typing import Optional, Sequence, Union

import numpy as np

from ...errors import ConfigError
from .base import (TRANSFORMS, check_backend, check_interpolation, is_pil, parse_number, resize, size_wh,
                   to_array)

Size = Union[int, Sequence[int]]


@TRANSFORMS.register("ResizeImage")
class ResizeImage:
    """Resize to ``size`` (int, or ``[w, h]``) or scale so the short side is ``resize_short``
    (rounded, as PaddleClas does). ``backend`` cv2 (default) or pil; ``return_numpy: false`` keeps
    a PIL image with the pil backend."""

    def __init__(self, size: Optional[Size] = None, resize_short: Optional[int] = None,
                 interpolation: Optional[str] = None, backend: str = "cv2", return_numpy: bool = True):
        if (size is None) == (resize_short is None):
            raise ConfigError("ResizeImage", "set exactly one of size or resize_short")
        if resize_short is not None and (isinstance(resize_short, bool) or not isinstance(resize_short, int)
                                         or resize_short < 1):
            raise ConfigError("ResizeImage.resize_short", f"expected an integer >= 1, got {resize_short!r}")
        self.size = None if size is None else size_wh(size, "ResizeImage.size")
        self.resize_short = resize_short
        self.backend = check_backend(backend, "ResizeImage.backend")
        self.interpolation = check_interpolation(interpolation, self.backend, "ResizeImage.interpolation")
        self.return_numpy = return_numpy

    def __call__(self, img):
        w0, h0 = img.size if is_pil(img) else (img.shape[1], img.shape[0])
        if self.resize_short is not None:
            percent = self.resize_short / min(w0, h0)
            target = (int(round(w0 * percent)), int(round(h0 * percent)))
        else:
            target = self.size
        return resize(img, target, self.interpolation, self.backend, self.return_numpy)


@TRANSFORMS.register("CropImage")
class CropImage:
    """Center crop to ``size`` (int, or ``[w, h]``)."""

    def __init__(self, size: Size):
        self.w, self.h = size_wh(size, "CropImage.size")

    def __call__(self, img):
        img = to_array(img)
        img_h, img_w = img.shape[:2]
        if img_h < self.h or img_w < self.w:
            raise ValueError(f"CropImage: image {img_w}x{img_h} is smaller than the crop {self.w}x{self.h}")
        x0, y0 = (img_w - self.w) // 2, (img_h - self.h) // 2
        return img[y0:y0 + self.h, x0:x0 + self.w, :]


@TRANSFORMS.register("RandCropImage")
class RandCropImage:
    """Random-resized crop (Inception style) with PaddleClas's sampling: an aspect ratio from
    ``ratio`` (uniform, or log-uniform with ``use_log_aspect``), an area share from ``scale``
    bounded so the box fits, then a resize to ``size`` with ``backend``/``interpolation``.

    ``progress_size`` lists the sizes PaddleClas's progressive trainer (EfficientNetV2) switches
    ``size`` to by stage; ppslim has no progressive trainer, so it is refused.
    """

    def __init__(self, size: Size, progress_size: Optional[Sequence[int]] = None,
                 scale: Optional[Sequence[float]] = None, ratio: Optional[Sequence[float]] = None,
                 interpolation: Optional[str] = None, use_log_aspect: bool = False, backend: str = "cv2"):
        if progress_size is not None:
            raise ConfigError("RandCropImage.progress_size", "PaddleClas's progressive training (train_progressive, "
                              "EfficientNetV2) changes the crop size by stage; ppslim has no such trainer: remove it")
        self.size = size_wh(size, "RandCropImage.size")
        self.scale = self._pair(scale, (0.08, 1.0), "scale")
        self.ratio = self._pair(ratio, (3.0 / 4.0, 4.0 / 3.0), "ratio")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ConfigError("RandCropImage.scale", f"expected 0 < min <= max, got {list(scale)}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ConfigError("RandCropImage.ratio", f"expected 0 < min <= max, got {list(ratio)}")
        self.use_log_aspect = bool(use_log_aspect)
        self.backend = check_backend(backend, "RandCropImage.backend")
        self.interpolation = check_interpolation(interpolation, self.backend, "RandCropImage.interpolation")

    @staticmethod
    def _pair(value, default, key):
        if value is None:
            return default
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"RandCropImage.{key}", f"expected [min, max], got {value!r}")
        return tuple(parse_number(v, f"RandCropImage.{key}") for v in value)

    def __call__(self, img):
        img = to_array(img)
        if self.use_log_aspect:
            aspect = math.exp(random.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
        else:
            aspect = random.uniform(*self.ratio)
        img_h, img_w = img.shape[:2]
        bound = min((img_w / img_h) / aspect, (img_h / img_w) * aspect)
        area = img_w * img_h * random.uniform(min(self.scale[0], bound), min(self.scale[1], bound))
        w = max(1, min(img_w, int(math.sqrt(area * aspect))))
        h = max(1, min(img_h, int(math.sqrt(area / aspect))))
        x = random.randint(0, img_w - w)
        y = random.randint(0, img_h - h)
        return resize(img[y:y + h, x:x + w, :], self.size, self.interpolation, self.backend)


@TRANSFORMS.register("RandFlipImage")
class RandFlipImage:
    """With probability 1/2 flip: ``flip_code`` 1 left-right, 0 up-down, -1 both (cv2's codes)."""

    def __init__(self, flip_code: int = 1):
        if flip_code not in (-1, 0, 1) or isinstance(flip_code, bool):
            raise ConfigError("RandFlipImage.flip_code", f"expected -1, 0 or 1, got {flip_code!r}")
        self.flip_code = flip_code

    def __call__(self, img):
        if random.randint(0, 1) != 1:
            return img
        if is_pil(img):
            img = to_array(img)
        axes = {1: (1,), 0: (0,), -1: (0, 1)}[self.flip_code]
        return np.ascontiguousarray(np.flip(img, axis=axes))
