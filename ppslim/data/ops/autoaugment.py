"""Policy augmentations on PIL: ``AutoAugment`` (ImageNet policy), ``RandAugment``, ``RandAugmentV3``
and ``TimmAutoAugment`` (timm's ``rand-...`` RandAugment strings), with PaddleClas's magnitudes.

All take and return an HWC uint8 array (or a PIL image, returned as PIL); place them before
``NormalizeImage``. The primitive image operations are Pillow's ``ImageOps``/``ImageEnhance``/affine
transforms; the random choices use Python's ``random`` and numpy's ``np.random`` (seeded by ppslim).
"""
from __future__ import annotations

import random
import re
from typing import Optional, Sequence

import numpy as np

from ...errors import ConfigError
from .base import TRANSFORMS, check_interpolation, is_pil, like_input, parse_number, pil_resample, to_pil

MAX_LEVEL = 10.0


# ------------------------------------------------------------------------------- primitives
def _fill(img, fill):
    return tuple(fill) if img.mode == "RGB" else int(fill[0])


def _affine(img, matrix, fill, resample):
    from PIL import Image

    return img.transform(img.size, Image.AFFINE, matrix, resample, fillcolor=_fill(img, fill))


def shear_x(img, factor, fill, resample):
    return _affine(img, (1, factor, 0, 0, 1, 0), fill, resample)


def shear_y(img, factor, fill, resample):
    return _affine(img, (1, 0, 0, factor, 1, 0), fill, resample)


def translate_x(img, pixels, fill, resample):
    return _affine(img, (1, 0, pixels, 0, 1, 0), fill, resample)


def translate_y(img, pixels, fill, resample):
    return _affine(img, (1, 0, 0, 0, 1, pixels), fill, resample)


def rotate(img, degrees, fill, resample):
    return img.rotate(degrees, resample, fillcolor=_fill(img, fill))


def enhance(img, kind: str, factor: float):
    from PIL import ImageEnhance

    cls = {"color": ImageEnhance.Color, "contrast": ImageEnhance.Contrast, "brightness": ImageEnhance.Brightness,
           "sharpness": ImageEnhance.Sharpness}[kind]
    return cls(img).enhance(factor)


def posterize(img, bits: int):
    from PIL import ImageOps

    bits = int(bits)
    return img if bits >= 8 else ImageOps.posterize(img, max(0, bits))


def solarize(img, threshold):
    from PIL import ImageOps

    return ImageOps.solarize(img, threshold)


def solarize_add(img, add: int, threshold: int = 128):
    lut = [min(255, i + add) if i < threshold else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


def autocontrast(img):
    from PIL import ImageOps

    return ImageOps.autocontrast(img)


def equalize(img):
    from PIL import ImageOps

    return ImageOps.equalize(img)


def invert(img):
    from PIL import ImageOps

    return ImageOps.invert(img)


def _sign() -> int:
    return random.choice((-1, 1))


def apply_named(img, name: str, value, fill, resample):
    """One PaddleClas-style named op (``shearX``, ``translateX`` as a fraction of the size, ``color``
    as ``1 +- value``, ...) with a random sign where PaddleClas draws one."""
    from PIL import Image

    if name == "shearX":
        return shear_x(img, value * _sign(), fill, resample)
    if name == "shearY":
        return shear_y(img, value * _sign(), fill, resample)
    if name == "translateX":
        return translate_x(img, value * img.size[0] * _sign(), fill, Image.NEAREST if resample is None else resample)
    if name == "translateY":
        return translate_y(img, value * img.size[1] * _sign(), fill, Image.NEAREST if resample is None else resample)
    if name in ("color", "contrast", "sharpness", "brightness"):
        return enhance(img, name, 1 + value * _sign())
    if name == "posterize":
        return posterize(img, value)
    if name == "solarize":
        return solarize(img, value)
    if name == "autocontrast":
        return autocontrast(img)
    if name == "equalize":
        return equalize(img)
    if name == "invert":
        return invert(img)
    raise KeyError(name)


def _fillcolor(value, key: str) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(
            isinstance(v, int) and 0 <= v <= 255 for v in value):
        raise ConfigError(key, f"expected 3 integers in 0..255, got {value!r}")
    return tuple(value)


def _layers(num_layers, key: str) -> int:
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
        raise ConfigError(key, f"expected an integer >= 0, got {num_layers!r}")
    return num_layers


def _magnitude(magnitude, key: str) -> float:
    m = parse_number(magnitude, key)
    if not 0 <= m <= MAX_LEVEL:
        raise ConfigError(key, f"expected a magnitude in [0, {MAX_LEVEL:g}], got {magnitude!r}")
    return m


# ------------------------------------------------------------------------------- AutoAugment
# The ImageNet policy of Cubuk et al. 2019 as PaddleClas lists it: (p1, op1, level1, p2, op2, level2).
IMAGENET_POLICY = (
    (0.4, "posterize", 8, 0.6, "rotate", 9), (0.6, "solarize", 5, 0.6, "autocontrast", 5),
    (0.8, "equalize", 8, 0.6, "equalize", 3), (0.6, "posterize", 7, 0.6, "posterize", 6),
    (0.4, "equalize", 7, 0.2, "solarize", 4), (0.4, "equalize", 4, 0.8, "rotate", 8),
    (0.6, "solarize", 3, 0.6, "equalize", 7), (0.8, "posterize", 5, 1.0, "equalize", 2),
    (0.2, "rotate", 3, 0.6, "solarize", 8), (0.6, "equalize", 8, 0.4, "posterize", 6),
    (0.8, "rotate", 8, 0.4, "color", 0), (0.4, "rotate", 9, 0.6, "equalize", 2),
    (0.0, "equalize", 7, 0.8, "equalize", 8), (0.6, "invert", 4, 1.0, "equalize", 8),
    (0.6, "color", 4, 1.0, "contrast", 8), (0.8, "rotate", 8, 1.0, "color", 2),
    (0.8, "color", 8, 0.8, "solarize", 7), (0.4, "sharpness", 7, 0.6, "invert", 8),
    (0.6, "shearX", 5, 1.0, "equalize", 9), (0.4, "color", 0, 0.6, "equalize", 3),
    (0.4, "equalize", 7, 0.2, "solarize", 4), (0.6, "solarize", 5, 0.6, "autocontrast", 5),
    (0.6, "invert", 4, 1.0, "equalize", 8), (0.6, "color", 4, 1.0, "contrast", 8),
    (0.8, "equalize", 8, 0.6, "equalize", 3),
)


def _level_value(name: str, level: int):
    """The magnitude at ``level`` (0..9) on each op's 10-step range."""
    ranges = {"shearX": (0, 0.3), "shearY": (0, 0.3), "translateX": (0, 150 / 331), "translateY": (0, 150 / 331),
              "rotate": (0, 30), "color": (0, 0.9), "contrast": (0, 0.9), "sharpness": (0, 0.9),
              "brightness": (0, 0.9), "solarize": (256, 0)}
    if name == "posterize":
        return int(np.round(np.linspace(8, 4, 10)[level]))
    if name in ranges:
        return float(np.linspace(*ranges[name], 10)[level])
    return 0


@TRANSFORMS.register("AutoAugment")
class AutoAugment:
    """AutoAugment's ImageNet policy: one of 25 sub-policies per image, each two ops with their own
    probability and level; rotations fill with ``fillcolor`` (grey by default)."""

    def __init__(self, fillcolor: Sequence[int] = (128, 128, 128)):
        self.fill = _fillcolor(fillcolor, "AutoAugment.fillcolor")
        self.policy = [(p1, n1, _level_value(n1, l1), p2, n2, _level_value(n2, l2))
                       for p1, n1, l1, p2, n2, l2 in IMAGENET_POLICY]

    def _op(self, img, name, value):
        from PIL import Image

        if name == "rotate":  # PaddleClas rotates one way only, filling the corners grey
            return rotate(img, value, self.fill, Image.NEAREST)
        return apply_named(img, name, value, self.fill, Image.BICUBIC if name.startswith("shear") else None)

    def __call__(self, img):
        was_pil, pil = is_pil(img), to_pil(img)
        p1, n1, v1, p2, n2, v2 = self.policy[random.randint(0, len(self.policy) - 1)]
        if random.random() < p1:
            pil = self._op(pil, n1, v1)
        if random.random() < p2:
            pil = self._op(pil, n2, v2)
        return like_input(pil, was_pil)


# ------------------------------------------------------------------------------- RandAugment
RAND_OPS = ("shearX", "shearY", "translateX", "translateY", "rotate", "color", "posterize", "solarize",
            "contrast", "sharpness", "brightness", "autocontrast", "equalize", "invert")


@TRANSFORMS.register("RandAugment")
class RandAugment:
    """PaddleClas's RandAugment: ``num_layers`` ops drawn uniformly (with replacement) from 14, each
    applied at one strength set by ``magnitude`` (0..10)."""

    def __init__(self, num_layers: int = 2, magnitude: float = 5, fillcolor: Sequence[int] = (128, 128, 128)):
        self.num_layers = _layers(num_layers, f"{type(self).__name__}.num_layers")
        self.magnitude = _magnitude(magnitude, f"{type(self).__name__}.magnitude")
        self.fill = _fillcolor(fillcolor, f"{type(self).__name__}.fillcolor")
        self.levels = self._levels(self.magnitude / MAX_LEVEL)

    @staticmethod
    def _levels(a: float) -> dict:
        return {"shearX": 0.3 * a, "shearY": 0.3 * a, "translateX": 150.0 / 331 * a, "translateY": 150.0 / 331 * a,
                "rotate": 30 * a, "color": 0.9 * a, "posterize": int(4.0 * a), "solarize": 256.0 * a,
                "contrast": 0.9 * a, "sharpness": 0.9 * a, "brightness": 0.9 * a}

    def _op(self, img, name, value):
        from PIL import Image

        if name == "rotate":
            return rotate(img, value, self.fill, Image.NEAREST)
        return apply_named(img, name, value, self.fill, Image.BICUBIC if name.startswith("shear") else None)

    def __call__(self, img):
        was_pil, pil = is_pil(img), to_pil(img)
        for _ in range(self.num_layers):
            name = RAND_OPS[np.random.randint(len(RAND_OPS))]
            pil = self._op(pil, name, self.levels.get(name, 0))
        return like_input(pil, was_pil)


@TRANSFORMS.register("RandAugmentV3")
class RandAugmentV3(RandAugment):
    """PaddleClas's RandAugment for MobileViTV2: black fill, ``interpolation`` for every geometric op,
    rotations both ways, and posterize/solarize that get stronger with ``magnitude``."""

    def __init__(self, num_layers: int = 2, magnitude: float = 3, fillcolor: Sequence[int] = (0, 0, 0),
                 interpolation: str = "bicubic"):
        super().__init__(num_layers, magnitude, fillcolor)
        self.interpolation = check_interpolation(interpolation, "pil", "RandAugmentV3.interpolation")
        a = self.magnitude / MAX_LEVEL
        self.levels.update(posterize=8 - int(4.0 * a), solarize=255.0 * (1 - a))

    def _op(self, img, name, value):
        resample = pil_resample(self.interpolation)
        if name == "rotate":
            return rotate(img, value * _sign(), self.fill, resample)
        if name in ("shearX", "shearY", "translateX", "translateY"):
            return apply_named(img, name, value, self.fill, resample)
        return apply_named(img, name, value, self.fill, None)


# ------------------------------------------------------------------------------- TimmAutoAugment
RAND_TRANSFORMS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
                   "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
RAND_INCREASING_TRANSFORMS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing",
                              "SolarizeIncreasing", "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing",
                              "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel",
                              "TranslateYRel")
# timm's weight set 0 (``-w0``) for choosing ops.
RAND_CHOICE_WEIGHTS_0 = {"Rotate": 0.3, "ShearX": 0.2, "ShearY": 0.2, "TranslateXRel": 0.1, "TranslateYRel": 0.1,
                         "Color": .025, "Sharpness": 0.025, "AutoContrast": 0.025, "Solarize": .005,
                         "SolarizeAdd": .005, "Contrast": .005, "Brightness": .005, "Equalize": .005,
                         "Posterize": 0, "Invert": 0}
TRANSLATE_PCT = 0.45


def _signed(v: float) -> float:
    return -v if random.random() > 0.5 else v


def timm_op(img, name: str, m: float, fill, resample):
    """One timm RandAugment op at magnitude ``m`` (0..10)."""
    a = m / MAX_LEVEL
    if name == "Rotate":
        return rotate(img, _signed(a * 30.0), fill, resample)
    if name in ("ShearX", "ShearY"):
        return (shear_x if name == "ShearX" else shear_y)(img, _signed(a * 0.3), fill, resample)
    if name == "TranslateXRel":
        return translate_x(img, _signed(a * TRANSLATE_PCT) * img.size[0], fill, resample)
    if name == "TranslateYRel":
        return translate_y(img, _signed(a * TRANSLATE_PCT) * img.size[1], fill, resample)
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return enhance(img, name.lower(), a * 1.8 + 0.1)
    if name.endswith("Increasing") and name[:-len("Increasing")] in ("Color", "Contrast", "Brightness", "Sharpness"):
        return enhance(img, name[:-len("Increasing")].lower(), 1.0 + _signed(a * 0.9))
    if name == "Posterize":
        return posterize(img, int(a * 4))
    if name == "PosterizeIncreasing":
        return posterize(img, 4 - int(a * 4))
    if name == "Solarize":
        return solarize(img, int(a * 256))
    if name == "SolarizeIncreasing":
        return solarize(img, 256 - int(a * 256))
    if name == "SolarizeAdd":
        return solarize_add(img, int(a * 110))
    if name == "AutoContrast":
        return autocontrast(img)
    if name == "Equalize":
        return equalize(img)
    if name == "Invert":
        return invert(img)
    raise KeyError(name)


def parse_rand_config(config_str, key: str) -> dict:
    """``rand-m9-mstd0.5-inc1`` -> magnitude 9, magnitude_std 0.5, increasing ops, 2 layers."""
    if not isinstance(config_str, str):
        raise ConfigError(key, f"expected a string like 'rand-m9-mstd0.5-inc1', got {config_str!r} "
                          "(PaddleClas fails on it too)")
    parts = config_str.split("-")
    if parts[0] != "rand":
        raise ConfigError(key, f"{config_str!r}: only timm's RandAugment strings ('rand-...') are supported, "
                          "not 'auto-...'/'augmix-...' policies")
    out = {"magnitude": 10.0, "num_layers": 2, "magnitude_std": 0.0, "increasing": False, "weights": None}
    for part in parts[1:]:
        match = re.fullmatch(r"([a-z]+)(\d.*)", part)
        if not match:
            raise ConfigError(key, f"{config_str!r}: cannot read section {part!r}")
        name, value = match.groups()
        try:
            if name == "m":
                out["magnitude"] = float(int(value))
            elif name == "n":
                out["num_layers"] = int(value)
            elif name == "mstd":
                out["magnitude_std"] = float(value)
            elif name == "inc":  # timm/PaddleClas test bool("0"), so there inc0 also turns it on
                out["increasing"] = bool(int(value))
            elif name == "w":
                if int(value) != 0:
                    raise ConfigError(key, f"{config_str!r}: only weight set w0 exists")
                out["weights"] = 0
            else:
                raise ConfigError(key, f"{config_str!r}: unknown section {part!r} (known: m, n, mstd, inc, w)")
        except ValueError:
            raise ConfigError(key, f"{config_str!r}: bad number in section {part!r}") from None
    return out


@TRANSFORMS.register("TimmAutoAugment")
class TimmAutoAugment:
    """timm's RandAugment as PaddleClas wraps it: with probability ``prob``, ``n`` ops (default 2)
    drawn from 15 (the ``inc1`` set grows stronger with magnitude), each applied with probability
    1/2 at magnitude ``m`` plus Gaussian noise ``mstd``, clipped to 0..10. Geometric ops fill with
    ``mean`` (as 0..255 RGB) and resample with ``interpolation`` (``random``: bilinear or bicubic
    per op). ``img_size`` only sets timm's absolute translate, which the ``rand`` ops do not use.
    """

    def __init__(self, prob: float = 1.0, config_str: Optional[str] = "rand-m9-mstd0.5-inc1",
                 interpolation: Optional[str] = "bicubic", img_size=224,
                 mean: Sequence[float] = (0.485, 0.456, 0.406)):
        self.prob = parse_number(prob, "TimmAutoAugment.prob")
        cfg = parse_rand_config(config_str, "TimmAutoAugment.config_str")
        self.magnitude, self.num_layers = cfg["magnitude"], cfg["num_layers"]
        self.magnitude_std = cfg["magnitude_std"]
        self.names = RAND_INCREASING_TRANSFORMS if cfg["increasing"] else RAND_TRANSFORMS
        self.weights = None
        if cfg["weights"] is not None:
            w = np.array([RAND_CHOICE_WEIGHTS_0[n] for n in RAND_TRANSFORMS], dtype="float64")
            self.weights = w / w.sum()
            self.names = RAND_TRANSFORMS
        self.interpolation = "random" if interpolation in (None, "random") else check_interpolation(
            interpolation, "pil", "TimmAutoAugment.interpolation")
        if not isinstance(mean, (list, tuple)) or len(mean) != 3:
            raise ConfigError("TimmAutoAugment.mean", f"expected 3 numbers, got {mean!r}")
        self.fill = tuple(min(255, int(round(255 * float(x)))) for x in mean)
        if isinstance(img_size, bool) or not isinstance(img_size, (int, list, tuple)):
            raise ConfigError("TimmAutoAugment.img_size", f"expected an integer or [w, h], got {img_size!r}")

    def _one(self, img, name):
        if random.random() > 0.5:
            return img
        m = self.magnitude
        if self.magnitude_std > 0:
            m = random.gauss(m, self.magnitude_std)
        m = min(MAX_LEVEL, max(0.0, m))
        return timm_op(img, name, m, self.fill, pil_resample(self.interpolation))

    def __call__(self, img):
        was_pil, pil = is_pil(img), to_pil(img)
        if random.random() < self.prob:
            picks = np.random.choice(len(self.names), self.num_layers, replace=self.weights is None, p=self.weights)
            for i in picks:
                pil = self._one(pil, self.names[i])
        return like_input(pil, was_pil)
