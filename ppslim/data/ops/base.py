"""Shared pieces of the PaddleClas transform ops: the registries, number parsing, image conversions.

Ops follow PaddleClas's data contract: each one takes and returns one sample, an HWC ``numpy`` array
(or a PIL image where PaddleClas passes one, e.g. after ``DecodeImage: {to_np: false}``); the
dataset turns the final HWC array into CHW. Randomness comes from Python's ``random`` and numpy's
global ``np.random``, which ``engine.seed_everything`` seeds in the main process and the loader's
worker initialiser seeds per worker, so a seed fixes the pixels.

Constructors only check and store their parameters (no paddle, no cv2 import), so config validation
builds every op once and a bad value fails at load time with its key path.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence, Union

import numpy as np

from ...errors import ConfigError
from ...registry import Registry

TRANSFORMS = Registry("transform op", build_on_check=True)
BATCH_TRANSFORMS = Registry("batch transform op", build_on_check=True)

Number = Union[int, float, str]

# PaddleClas's interpolation names per backend ("random" picks bilinear or bicubic per call).
CV2_INTERPOLATIONS = ("nearest", "bilinear", "area", "bicubic", "lanczos", "random")
PIL_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "lanczos", "hamming", "random")
BACKENDS = ("cv2", "pil")


def parse_number(value: Number, key: str) -> float:
    """A number, or a fraction written as text (``1.0/255.0``, ``1.0/3.0``), read without ``eval``."""
    if isinstance(value, bool):
        raise ConfigError(key, f"expected a number or 'a/b', got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        num, _, den = str(value).partition("/")
        return float(Fraction(num.strip()) / (Fraction(den.strip()) if den else 1))
    except (ValueError, ZeroDivisionError):
        raise ConfigError(key, f"expected a number or 'a/b', got {value!r}") from None


def check_choice(value, choices: Sequence, key: str):
    if value not in choices:
        raise ConfigError(key, f"{value!r} not in {list(choices)}")
    return value


def check_backend(backend: str, key: str) -> str:
    """PaddleClas falls back to cv2 with a warning for other names; ppslim refuses them."""
    if not isinstance(backend, str) or backend.lower() not in BACKENDS:
        raise ConfigError(key, f"{backend!r} not in {list(BACKENDS)}")
    return backend.lower()


def check_interpolation(name, backend: str, key: str):
    """``None`` is bilinear, as in PaddleClas; the names each backend knows differ."""
    if name is None:
        return "bilinear"
    valid = CV2_INTERPOLATIONS if backend == "cv2" else PIL_INTERPOLATIONS
    if not isinstance(name, str) or name.lower() not in valid:
        raise ConfigError(key, f"{name!r} not in {list(valid)} (backend {backend})")
    return name.lower()


def size_wh(size, key: str) -> tuple[int, int]:
    """PaddleClas sizes: an int for a square, or ``[w, h]``."""
    if isinstance(size, bool):
        raise ConfigError(key, f"expected an integer or [w, h], got {size!r}")
    if isinstance(size, int):
        pair = (size, size)
    elif isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        pair = (size[0], size[1])
    else:
        raise ConfigError(key, f"expected an integer or [w, h], got {size!r}")
    if min(pair) < 1:
        raise ConfigError(key, f"expected sizes >= 1, got {size!r}")
    return pair


def probability(value, key: str) -> float:
    p = parse_number(value, key)
    if not 0.0 <= p <= 1.0:
        raise ConfigError(key, f"expected a probability in [0, 1], got {value!r}")
    return p


def is_pil(img) -> bool:
    from PIL import Image

    return isinstance(img, Image.Image)


def to_array(img) -> np.ndarray:
    """An HWC array (PIL images converted, 2-D arrays given a channel axis)."""
    arr = np.asarray(img) if is_pil(img) else img
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected an image array, got {type(img).__name__}")
    return arr[:, :, None] if arr.ndim == 2 else arr


def to_pil(img):
    """A PIL image of a uint8 HWC array (one channel becomes mode L)."""
    from PIL import Image

    if is_pil(img):
        return img
    arr = np.ascontiguousarray(img)
    if arr.dtype != np.uint8:
        raise TypeError(f"PIL-based ops need uint8 images (place them before NormalizeImage), got {arr.dtype}")
    return Image.fromarray(arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)


def like_input(out_pil, was_pil: bool):
    """Return PIL when PIL came in, else an HWC array (PaddleClas's wrappers do the same)."""
    return out_pil if was_pil else to_array(out_pil)


def cv2_resize(img: np.ndarray, size_wh_: tuple[int, int], interpolation: str) -> np.ndarray:
    import random

    import cv2

    flags = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA,
             "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
    name = random.choice(("bilinear", "bicubic")) if interpolation == "random" else interpolation
    out = cv2.resize(np.ascontiguousarray(img), tuple(size_wh_), interpolation=flags[name])
    return out[:, :, None] if out.ndim == 2 else out


def pil_resample(interpolation: str):
    import random

    from PIL import Image

    flags = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "box": Image.BOX,
             "lanczos": Image.LANCZOS, "hamming": Image.HAMMING}
    name = random.choice(("bilinear", "bicubic")) if interpolation == "random" else interpolation
    return flags[name]


def resize(img, size_wh_: tuple[int, int], interpolation: str, backend: str, return_numpy: bool = True):
    """PaddleClas's UnifiedResize: cv2 or PIL, to ``(w, h)``."""
    if backend == "cv2":
        return cv2_resize(to_array(img), size_wh_, interpolation)
    out = to_pil(img).resize(tuple(size_wh_), pil_resample(interpolation))
    return to_array(out) if return_numpy else out
