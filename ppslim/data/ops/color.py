"""``ColorJitter``: PaddleClas's wrapper of ``paddle.vision.transforms.ColorJitter``."""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from .base import TRANSFORMS, is_pil, like_input, parse_number, to_pil


@TRANSFORMS.register("ColorJitter")
class ColorJitter:
    """With probability ``prob`` (PaddleClas's default 2: always) jitter brightness, contrast and
    saturation by a factor in [1 - x, 1 + x] and hue by up to ``hue`` (<= 0.5), in random order,
    with ``paddle.vision.transforms.ColorJitter`` on a PIL image."""

    def __init__(self, prob: float = 2, brightness: float = 0, contrast: float = 0, saturation: float = 0,
                 hue: float = 0):
        self.prob = parse_number(prob, "ColorJitter.prob")
        self.factors = {}
        for key, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation),
                           ("hue", hue)):
            v = parse_number(value, f"ColorJitter.{key}")
            if v < 0 or (key == "hue" and v > 0.5):
                raise ConfigError(f"ColorJitter.{key}", f"expected a number in [0, {0.5 if key == 'hue' else 'inf'}"
                                  f"{']' if key == 'hue' else ')'}, got {value!r}")
            self.factors[key] = v
        self._op = None

    def __call__(self, img):
        if np.random.random() >= self.prob:
            return img
        if self._op is None:
            import paddle.vision.transforms as T

            self._op = T.ColorJitter(**self.factors)
        was_pil = is_pil(img)
        return like_input(self._op._apply_image(to_pil(img)), was_pil)


@TRANSFORMS.register("PCALighting")
class PCALighting:
    """AlexNet-style lighting noise: add ``eigvec @ (alpha * eigval)`` to every pixel's RGB, with
    ``alpha ~ N(0, 0.1)`` per image and ImageNet's RGB eigenvalues/vectors (PaddleClas's fixed values).
    Returns float32. As in PaddleClas, placed before ``NormalizeImage`` the offset is on the 0..255
    scale, where it is tiny."""

    ALPHASTD = 0.1
    EIGVAL = np.array([0.2175, 0.0188, 0.0045], dtype="float32")
    EIGVEC = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]],
                      dtype="float32")

    def __call__(self, img):
        from .base import to_array

        img = to_array(img)
        alpha = np.random.normal(0, self.ALPHASTD, size=3).astype("float32")
        rgb = (self.EIGVEC * (alpha * self.EIGVAL)[None, :]).sum(axis=1)
        return img.astype("float32") + rgb.reshape(1, 1, 3)
