"""Batch ops (``batch_transform_ops``): ``MixupOperator``, ``CutmixOperator``, ``OpSampler``.

Each is called by the training loop on a whole NCHW batch as ``op(images, labels, rng)`` and returns
``(images, labels_a, labels_b, lam)``; the loss is ``lam * CE(labels_a) + (1 - lam) * CE(labels_b)``,
which is what PaddleClas's mixed one-hot targets give its ``CELoss`` (cross entropy is linear in
the target). ``rng`` is the trainer's ``np.random.RandomState(Global.seed)``.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from .base import BATCH_TRANSFORMS, parse_number


def _alpha(alpha, key: str) -> float:
    a = parse_number(alpha, key)
    if a <= 0:
        raise ConfigError(key, f"expected a number > 0, got {alpha}")
    return a


@BATCH_TRANSFORMS.register("MixupOperator")
class MixupOperator:
    """Mixup (Zhang et al. 2018): ``lam ~ Beta(alpha, alpha)``, images ``lam * x + (1 - lam) * x[perm]``."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = _alpha(alpha, "MixupOperator.alpha")

    def __call__(self, images: np.ndarray, labels: np.ndarray, rng: np.random.RandomState):
        perm = rng.permutation(len(images))
        lam = float(rng.beta(self.alpha, self.alpha))
        mixed = lam * images + (1.0 - lam) * images[perm]
        return mixed.astype("float32"), labels, labels[perm], lam


@BATCH_TRANSFORMS.register("CutmixOperator")
class CutmixOperator:
    """CutMix (Yun et al. 2019): paste a box of ``x[perm]`` whose side is ``sqrt(1 - lam)`` of the
    image's (``lam ~ Beta(alpha, alpha)``, uniform centre, clipped at the border); ``lam`` becomes
    the share of the image left unpasted."""

    def __init__(self, alpha: float = 0.2):
        self.alpha = _alpha(alpha, "CutmixOperator.alpha")

    def __call__(self, images: np.ndarray, labels: np.ndarray, rng: np.random.RandomState):
        perm = rng.permutation(len(images))
        lam = float(rng.beta(self.alpha, self.alpha))
        h, w = images.shape[2], images.shape[3]
        cut = np.sqrt(1.0 - lam)
        cut_h, cut_w = int(h * cut), int(w * cut)
        cy, cx = rng.randint(h), rng.randint(w)
        y1, y2 = np.clip(cy - cut_h // 2, 0, h), np.clip(cy + cut_h // 2, 0, h)
        x1, x2 = np.clip(cx - cut_w // 2, 0, w), np.clip(cx + cut_w // 2, 0, w)
        out = np.array(images, dtype="float32")
        out[:, :, y1:y2, x1:x2] = images[perm][:, :, y1:y2, x1:x2]
        lam = 1.0 - float((y2 - y1) * (x2 - x1)) / (h * w)
        return out, labels, labels[perm], lam


@BATCH_TRANSFORMS.register("OpSampler")
class OpSampler:
    """Per batch, run one of the listed batch ops, each with its ``prob``; with the remaining
    probability (1 - sum) the batch is left as it is. Example::

        - OpSampler:
            MixupOperator: {alpha: 0.8, prob: 0.5}
            CutmixOperator: {alpha: 1.0, prob: 0.5}
    """

    def __init__(self, **ops):
        if not ops:
            raise ConfigError("OpSampler", "expected at least one batch op, e.g. {MixupOperator: {alpha: 0.2, "
                              "prob: 0.5}}")
        self.ops, self.probs = [], []
        for name, params in ops.items():
            key = f"OpSampler.{name}"
            if name not in ("MixupOperator", "CutmixOperator"):
                raise ConfigError(key, f"{name!r} not in [CutmixOperator, MixupOperator]")
            params = dict(params or {})
            if "prob" not in params:
                raise ConfigError(f"{key}.prob", "required (PaddleClas treats a missing prob as 0 with a warning)")
            prob = parse_number(params.pop("prob"), f"{key}.prob")
            if not 0 <= prob <= 1:
                raise ConfigError(f"{key}.prob", f"expected a probability in [0, 1], got {prob}")
            unknown = set(params) - {"alpha"}
            if unknown:
                raise ConfigError(f"{key}.{sorted(unknown)[0]}", "unknown parameter; accepted: [alpha, prob]")
            try:
                self.ops.append(BATCH_TRANSFORMS[name](**params))
            except ConfigError as e:
                raise ConfigError(f"OpSampler.{e.key_path}", e.msg) from None
            self.probs.append(prob)
        if sum(self.probs) > 1 + 1e-9:
            raise ConfigError("OpSampler", f"the ops' probs sum to {sum(self.probs):g}; expected at most 1")

    def __call__(self, images: np.ndarray, labels: np.ndarray, rng: np.random.RandomState):
        draw = rng.random_sample()
        edge = 0.0
        for op, prob in zip(self.ops, self.probs):
            edge += prob
            if draw < edge:
                return op(images, labels, rng)
        return images, labels, labels, 1.0
