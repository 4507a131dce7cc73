"""Occlusion augmentations on HWC arrays: ``RandomErasing``, ``Cutout``, ``GridMask``, ``HideAndSeek``."""
from __future__ import annotations

import math
import random
from typing import Sequence, Union

import numpy as np

from ...errors import ConfigError
from .base import TRANSFORMS, check_choice, parse_number, probability, to_array

Number = Union[int, float, str]


def _int_at_least(value, low: int, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(key, f"expected an integer >= {low}, got {value!r}")
    return value


@TRANSFORMS.register("RandomErasing")
class RandomErasing:
    """Random Erasing (Zhong et al. 2020): with probability ``EPSILON`` erase one box of area share
    in [``sl``, ``sh``] and aspect ratio in [``r1``, 1/``r1``] (log-uniform with ``use_log_aspect``),
    trying up to ``attempt`` boxes. ``mode``: ``const`` fills ``mean``, ``rand`` one normal value per
    channel, ``pixel`` normal noise per pixel. Usually placed after ``NormalizeImage``.
    Numbers may be written as fractions (``sh: 1.0/3.0``).
    """

    def __init__(self, EPSILON: Number = 0.5, sl: Number = 0.02, sh: Number = 0.4, r1: Number = 0.3,  # noqa: N803
                 mean: Sequence[float] = (0.0, 0.0, 0.0), attempt: int = 100, use_log_aspect: bool = False,
                 mode: str = "const"):
        self.epsilon = probability(EPSILON, "RandomErasing.EPSILON")
        self.sl = parse_number(sl, "RandomErasing.sl")
        self.sh = parse_number(sh, "RandomErasing.sh")
        if not 0 < self.sl <= self.sh <= 1:
            raise ConfigError("RandomErasing.sh", f"expected 0 < sl <= sh <= 1, got sl={sl!r}, sh={sh!r}")
        r1 = parse_number(r1, "RandomErasing.r1")
        if r1 <= 0:
            raise ConfigError("RandomErasing.r1", f"expected a number > 0, got {r1!r}")
        self.use_log_aspect = bool(use_log_aspect)
        self.r1 = (math.log(r1), math.log(1 / r1)) if self.use_log_aspect else (r1, 1 / r1)
        self.attempt = _int_at_least(attempt, 1, "RandomErasing.attempt")
        self.mode = check_choice(mode, ("const", "rand", "pixel"), "RandomErasing.mode")
        if not isinstance(mean, (list, tuple)) or len(mean) != 3:
            raise ConfigError("RandomErasing.mean", f"expected 3 numbers, got {mean!r}")
        self.mean = np.array(mean, dtype="float32")

    def _pixels(self, h: int, w: int, c: int):
        if self.mode == "rand":
            return np.random.normal(size=(1, 1, c))
        if self.mode == "pixel":
            return np.random.normal(size=(h, w, c))
        return self.mean[:c].reshape(1, 1, -1) if c <= 3 else np.zeros((1, 1, c))

    def __call__(self, img):
        if random.random() > self.epsilon:
            return img
        img = np.array(to_array(img))  # a copy: never write into the caller's array
        img_h, img_w, img_c = img.shape
        for _ in range(self.attempt):
            area = random.uniform(self.sl, self.sh) * img_h * img_w
            aspect = random.uniform(*self.r1)
            if self.use_log_aspect:
                aspect = math.exp(aspect)
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if w < img_w and h < img_h:
                y = random.randint(0, img_h - h)
                x = random.randint(0, img_w - w)
                img[y:y + h, x:x + w, :] = self._pixels(h, w, img_c)
                return img
        return img


@TRANSFORMS.register("Cutout")
class Cutout:
    """Cutout (DeVries & Taylor 2017): ``n_holes`` squares of side ``length`` at uniform centres
    (clipped at the border) filled with ``fill_value`` (``none``: a random colour per hole).
    PaddleClas's op only stores ``fill_value`` when it is ``none`` (any other value fails at the
    first image) and only draws when it is; ppslim fills as the parameter says."""

    def __init__(self, n_holes: int = 1, length: int = 112, fill_value=(0, 0, 0)):
        self.n_holes = _int_at_least(n_holes, 1, "Cutout.n_holes")
        self.length = _int_at_least(length, 1, "Cutout.length")
        if fill_value is None or fill_value == "none":
            self.fill_value = None
        elif isinstance(fill_value, (list, tuple)) and len(fill_value) == 3:
            self.fill_value = tuple(float(v) for v in fill_value)
        elif isinstance(fill_value, (int, float)) and not isinstance(fill_value, bool):
            self.fill_value = (float(fill_value),) * 3
        else:
            raise ConfigError("Cutout.fill_value", f"expected 3 numbers, a number or 'none', got {fill_value!r}")

    def __call__(self, img):
        img = np.array(to_array(img))
        h, w, c = img.shape
        for _ in range(self.n_holes):
            y, x = np.random.randint(h), np.random.randint(w)
            y1, y2 = np.clip(y - self.length // 2, 0, h), np.clip(y + self.length // 2, 0, h)
            x1, x2 = np.clip(x - self.length // 2, 0, w), np.clip(x + self.length // 2, 0, w)
            fill = self.fill_value or tuple(random.randint(0, 255) for _ in range(3))
            img[y1:y2, x1:x2, :] = np.resize(np.array(fill, dtype=img.dtype), c)
        return img


@TRANSFORMS.register("GridMask")
class GridMask:
    """GridMask (Chen et al. 2020): with probability ``prob`` drop a grid of squares: period ``d``
    drawn from [``d1``, ``d2``), square side ``ratio * d``, random offset, the mask rotated by up to
    ``rotate`` degrees; ``mode: 1`` keeps the squares and drops the rest.

    PaddleClas scales ``prob`` by ``epoch / 240`` through a module global that its trainer never
    advances (so its GridMask never fires); ppslim applies ``prob`` as written.
    """

    def __init__(self, d1: int = 96, d2: int = 224, rotate: int = 1, ratio: float = 0.5, mode: int = 0,
                 prob: float = 1.0):
        self.d1 = _int_at_least(d1, 1, "GridMask.d1")
        self.d2 = _int_at_least(d2, self.d1 + 1, "GridMask.d2")
        self.rotate = _int_at_least(rotate, 1, "GridMask.rotate")
        self.ratio = parse_number(ratio, "GridMask.ratio")
        if not 0 < self.ratio < 1:
            raise ConfigError("GridMask.ratio", f"expected a ratio in (0, 1), got {ratio!r}")
        self.mode = check_choice(mode, (0, 1), "GridMask.mode")
        self.prob = probability(prob, "GridMask.prob")

    def __call__(self, img):
        from PIL import Image

        if np.random.rand() > self.prob:
            return img
        img = to_array(img)
        h, w = img.shape[:2]
        hh, ww = int(1.5 * h), int(1.5 * w)
        d = np.random.randint(self.d1, self.d2)
        side = int(d * self.ratio + 0.5)
        mask = np.ones((hh, ww), np.uint8)
        st_h, st_w = np.random.randint(d), np.random.randint(d)
        for i in range(-1, hh // d + 1):
            s = max(min(d * i + st_h, hh), 0)
            mask[s:max(min(d * i + st_h + side, hh), 0), :] = 0
        for i in range(-1, ww // d + 1):
            s = max(min(d * i + st_w, ww), 0)
            mask[:, s:max(min(d * i + st_w + side, ww), 0)] = 0
        mask = np.asarray(Image.fromarray(mask).rotate(np.random.randint(self.rotate)))
        mask = mask[(hh - h) // 2:(hh - h) // 2 + h, (ww - w) // 2:(ww - w) // 2 + w]
        if self.mode == 1:
            mask = 1 - mask
        return (img * mask[:, :, None]).astype(img.dtype)


@TRANSFORMS.register("HideAndSeek")
class HideAndSeek:
    """Hide-and-Seek (Singh & Lee 2017): split the image into squares of a side drawn from
    {0 (no hiding), 16, 32, 44, 56} and zero each with probability 1/2. PaddleClas indexes the image
    as CHW although its datasets hand HWC arrays to the ops; ppslim hides spatial squares on HWC."""

    GRID_SIZES = (0, 16, 32, 44, 56)
    HIDE_PROB = 0.5

    def __call__(self, img):
        img = np.array(to_array(img))
        grid = int(np.random.choice(self.GRID_SIZES))
        if grid == 0:
            return img
        h, w = img.shape[:2]
        for x in range(0, w, grid):
            for y in range(0, h, grid):
                if random.random() <= self.HIDE_PROB:
                    img[y:min(h, y + grid), x:min(w, x + grid), :] = 0
        return img
