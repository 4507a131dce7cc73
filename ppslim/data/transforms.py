"""Image ops under their PaddleClas names, built on ``paddle.vision.transforms``.

Each op is a callable on one sample (bytes for ``DecodeImage``, an HWC ``uint8``/``float32``
array after it). Paddle is imported when an op is built, so config validation stays light.
"""
from __future__ import annotations

import io
from fractions import Fraction
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError
from ..registry import Registry

TRANSFORMS = Registry("transform op")
BATCH_TRANSFORMS = Registry("batch transform op")

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos")


def _interp(name: Optional[str]) -> str:
    name = name or "bilinear"
    if name not in _INTERPOLATIONS:
        raise ConfigError("interpolation", f"{name!r} not in {list(_INTERPOLATIONS)}")
    return name


def parse_scale(scale: Union[float, int, str, None]) -> float:
    """PaddleClas writes ``scale: 1.0/255.0``; read that as a fraction, never with ``eval``."""
    if scale is None:
        return 1.0 / 255.0
    if isinstance(scale, (int, float)):
        return float(scale)
    try:
        num, _, den = str(scale).partition("/")
        return float(Fraction(num.strip()) / (Fraction(den.strip()) if den else 1))
    except (ValueError, ZeroDivisionError):
        raise ConfigError("NormalizeImage.scale", f"expected a number or 'a/b', got {scale!r}") from None


@TRANSFORMS.register("DecodeImage")
class DecodeImage:
    """Encoded image bytes -> HWC uint8 array (RGB unless ``to_rgb`` is false)."""

    def __init__(self, to_rgb: bool = True, channel_first: bool = False):
        self.to_rgb = to_rgb
        self.channel_first = channel_first

    def __call__(self, data):
        from PIL import Image

        img = Image.open(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data)
        img = np.asarray(img.convert("RGB" if self.to_rgb else "L"))
        if img.ndim == 2:
            img = img[:, :, None]
        return img.transpose(2, 0, 1) if self.channel_first else img


@TRANSFORMS.register("ResizeImage")
class ResizeImage:
    """Resize to ``size`` ([w, h] or int for square) or make the short side ``resize_short``."""

    def __init__(self, size: Union[int, Sequence[int], None] = None, resize_short: Optional[int] = None,
                 interpolation: Optional[str] = None, backend: str = "cv2"):
        import paddle.vision.transforms as T

        if (size is None) == (resize_short is None):
            raise ConfigError("ResizeImage", "set exactly one of size or resize_short")
        if size is not None:
            # PaddleClas gives [w, h]; paddle.vision wants (h, w).
            target = (size, size) if isinstance(size, int) else (size[1], size[0])
        else:
            target = resize_short
        self.op = T.Resize(target, interpolation=_interp(interpolation))

    def __call__(self, img):
        out = self.op(img)
        return out[:, :, None] if out.ndim == 2 else out


@TRANSFORMS.register("CropImage")
class CropImage:
    def __init__(self, size: Union[int, Sequence[int]]):
        import paddle.vision.transforms as T

        self.op = T.CenterCrop(size if isinstance(size, int) else (size[1], size[0]))

    def __call__(self, img):
        return self.op(img)


@TRANSFORMS.register("RandCropImage")
class RandCropImage:
    def __init__(self, size: Union[int, Sequence[int]], scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0), interpolation: Optional[str] = None):
        import paddle.vision.transforms as T

        self.op = T.RandomResizedCrop(size if isinstance(size, int) else (size[1], size[0]),
                                      scale=tuple(scale), ratio=tuple(ratio), interpolation=_interp(interpolation))

    def __call__(self, img):
        out = self.op(img)
        return out[:, :, None] if out.ndim == 2 else out


@TRANSFORMS.register("RandFlipImage")
class RandFlipImage:
    """``flip_code`` 1 flips left-right, 0 up-down (PaddleClas/cv2 convention)."""

    def __init__(self, flip_code: int = 1):
        import paddle.vision.transforms as T

        if flip_code not in (0, 1):
            raise ConfigError("RandFlipImage.flip_code", f"expected 0 or 1, got {flip_code}")
        self.op = T.RandomHorizontalFlip(0.5) if flip_code == 1 else T.RandomVerticalFlip(0.5)

    def __call__(self, img):
        return np.ascontiguousarray(self.op(img))


@TRANSFORMS.register("NormalizeImage")
class NormalizeImage:
    """``(img * scale - mean) / std`` on HWC (``order: ''``/``hwc``) or CHW (``order: chw``) input."""

    def __init__(self, scale: Union[float, str, None] = None, mean: Sequence[float] = (0.485, 0.456, 0.406),
                 std: Sequence[float] = (0.229, 0.224, 0.225), order: str = "", output_fp16: bool = False,
                 channel_num: int = 3):
        import paddle.vision.transforms as T

        if output_fp16:
            raise ConfigError("NormalizeImage.output_fp16", "fp16 input is not supported; use false")
        if order not in ("", "hwc", "chw"):
            raise ConfigError("NormalizeImage.order", f"{order!r} not in ['', 'hwc', 'chw']")
        self.scale = parse_scale(scale)
        self.op = T.Normalize(mean=list(mean), std=list(std), data_format="CHW" if order == "chw" else "HWC")

    def __call__(self, img):
        return self.op(np.asarray(img, dtype="float32") * self.scale).astype("float32")


@TRANSFORMS.register("ToCHWImage")
class ToCHWImage:
    def __init__(self):
        import paddle.vision.transforms as T

        self.op = T.Transpose((2, 0, 1))

    def __call__(self, img):
        return np.ascontiguousarray(self.op(img))


@BATCH_TRANSFORMS.register("MixupOperator")
class MixupOperator:
    """Mix each batch with a shuffled copy of itself (Zhang et al. 2018); pairs with ``MixCELoss``.

    Returns ``(images, labels, shuffled_labels, lam)`` for the whole batch.
    """

    def __init__(self, alpha: float = 0.2):
        if alpha <= 0:
            raise ConfigError("MixupOperator.alpha", f"expected a number > 0, got {alpha}")
        self.alpha = alpha

    def __call__(self, images: np.ndarray, labels: np.ndarray, rng: np.random.RandomState):
        lam = float(rng.beta(self.alpha, self.alpha))
        perm = rng.permutation(len(images))
        mixed = lam * images + (1.0 - lam) * images[perm]
        return mixed.astype("float32"), labels, labels[perm], lam


class Compose:
    """Apply ops in order (config order is the contract, as in PaddleClas)."""

    def __init__(self, ops):
        self.ops = list(ops)

    def __call__(self, x):
        for op in self.ops:
            x = op(x)
        return x


def build_transforms(specs, path: str) -> Compose:
    return Compose(TRANSFORMS.build_list(specs, path))
