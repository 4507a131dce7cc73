"""Losses by PaddleClas name. A loss list sums ``weight * loss`` over its entries."""
from __future__ import annotations

from typing import Optional

from .errors import ConfigError
from .registry import Registry

LOSSES = Registry("loss")


@LOSSES.register("CELoss")
class CELoss:
    """Cross entropy; ``epsilon`` > 0 turns on label smoothing."""

    def __init__(self, weight: float = 1.0, epsilon: Optional[float] = None):
        if epsilon is not None and not 0.0 <= epsilon < 1.0:
            raise ConfigError("CELoss.epsilon", f"expected a value in [0, 1), got {epsilon}")
        self.weight = weight
        self.epsilon = epsilon or 0.0

    def __call__(self, logits, label):
        if isinstance(label, tuple):  # a Mixup/CutMix batch: CE against the mixed target is linear in it
            label_a, label_b, lam = label
            return lam * self._ce(logits, label_a) + (1.0 - lam) * self._ce(logits, label_b)
        return self._ce(logits, label)

    def _ce(self, logits, label):
        import paddle.nn.functional as F

        if self.epsilon > 0:
            soft = F.label_smooth(F.one_hot(label.reshape([-1]), logits.shape[-1]), epsilon=self.epsilon)
            return F.cross_entropy(logits, soft, soft_label=True)
        return F.cross_entropy(logits, label.reshape([-1, 1]))


@LOSSES.register("MixCELoss")
class MixCELoss:
    """Cross entropy against a Mixup pair: ``lam * CE(y_a) + (1 - lam) * CE(y_b)``."""

    def __init__(self, weight: float = 1.0, epsilon: Optional[float] = None):
        self.ce = CELoss(weight, epsilon)
        self.weight = weight

    def __call__(self, logits, label):
        if not isinstance(label, tuple):  # eval batches are not mixed
            return self.ce(logits, label)
        label_a, label_b, lam = label
        return lam * self.ce(logits, label_a) + (1.0 - lam) * self.ce(logits, label_b)


class CombinedLoss:
    def __init__(self, losses):
        self.losses = list(losses)

    def __call__(self, logits, label):
        total = None
        for loss in self.losses:
            value = loss.weight * loss(logits, label)
            total = value if total is None else total + value
        return total


def build_loss(specs, path: str) -> CombinedLoss:
    if not specs:
        raise ConfigError(path, "at least one loss is required, e.g. [{CELoss: {weight: 1.0}}]")
    return CombinedLoss(LOSSES.build_list(specs, path))
