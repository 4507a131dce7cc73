"""``NormalizeImage`` and ``ToCHWImage`` with PaddleClas's parameters and defaults."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from ...errors import ConfigError
from .base import TRANSFORMS, parse_number, to_array

ORDERS = ("chw", "hwc", "")


def parse_scale(scale: Union[float, int, str, None]) -> float:
    """PaddleClas writes ``scale: 1.0/255.0``; read that as a fraction, never with ``eval``."""
    return 1.0 / 255.0 if scale is None else parse_number(scale, "NormalizeImage.scale")


@TRANSFORMS.register("NormalizeImage")
class NormalizeImage:
    """``(img * scale - mean) / std`` per channel, float32.

    ``order`` says where the channels are: ``chw`` (PaddleClas's default) or ``hwc``/``''``. In
    ``DataLoader.*.dataset.transform_ops`` images are HWC (the dataset transposes after the ops), so
    the config check refuses ``chw`` there. ``channel_num: 4`` appends a zero channel (PaddleClas's
    NHWC fast path). ``output_fp16`` gives float16 images, for AMP O2's pure-fp16 network (the config
    check refuses it without ``AMP.level: O2``, as PaddleClas's configs pair them).
    """

    def __init__(self, scale: Union[float, str, None] = None, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, order: str = "chw", output_fp16: bool = False,
                 channel_num: int = 3):
        if order not in ORDERS:
            raise ConfigError("NormalizeImage.order", f"{order!r} not in {list(ORDERS)}")
        if channel_num not in (3, 4):
            raise ConfigError("NormalizeImage.channel_num", f"expected 3 or 4, got {channel_num!r}")
        self.scale = np.float32(parse_scale(scale))
        self.order = order
        self.channel_num = channel_num
        self.dtype = "float16" if output_fp16 else "float32"
        shape = (3, 1, 1) if order == "chw" else (1, 1, 3)
        mean = [0.485, 0.456, 0.406] if mean is None else mean
        std = [0.229, 0.224, 0.225] if std is None else std
        for key, value in (("mean", mean), ("std", std)):
            if not isinstance(value, (list, tuple)) or len(value) != 3:
                raise ConfigError(f"NormalizeImage.{key}", f"expected 3 numbers, got {value!r}")
        if any(s == 0 for s in std):
            raise ConfigError("NormalizeImage.std", f"expected non-zero numbers, got {list(std)}")
        self.mean = np.array(mean, dtype="float32").reshape(shape)
        self.std = np.array(std, dtype="float32").reshape(shape)

    def __call__(self, img):
        img = to_array(img)
        axis = 0 if self.order == "chw" else 2
        if img.shape[axis] != 3:
            raise ValueError(f"NormalizeImage (order {self.order!r}) expects 3 channels on axis {axis}, "
                             f"got an image of shape {img.shape}")
        out = (img.astype("float32") * self.scale - self.mean) / self.std
        if self.channel_num == 4:
            pad_shape = list(out.shape)
            pad_shape[axis] = 1
            out = np.concatenate((out, np.zeros(pad_shape, dtype="float32")), axis=axis)
        return out.astype(self.dtype)


@TRANSFORMS.register("ToCHWImage")
class ToCHWImage:
    """HWC -> CHW. For ``Infer.transforms`` (as in PaddleClas's inference configs); the datasets
    already transpose after their ops, so the config check refuses it in ``transform_ops``."""

    def __call__(self, img):
        return np.ascontiguousarray(to_array(img).transpose((2, 0, 1)))
