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
        import paddle.nn.functional as F

        if isinstance(logits, dict):  # a network built with return_patterns: {"logits": ..., "blocks3": ...}
            logits = logits["logits"]
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


@LOSSES.register("GoogLeNetLoss")
class GoogLeNetLoss:
    """GoogLeNet's main and two auxiliary heads: ``CE(out) + 0.3 * CE(aux1) + 0.3 * CE(aux2)``."""

    def __init__(self, weight: float = 1.0, epsilon: Optional[float] = None):
        if epsilon is not None and 0.0 < epsilon < 1.0:
            raise ConfigError("GoogLeNetLoss.epsilon", "GoogLeNet's loss takes no label smoothing (PaddleClas "
                              "refuses it too)")
        self.weight = weight
        self.ce = CELoss()

    def __call__(self, outputs, label):
        if not isinstance(outputs, (list, tuple)) or len(outputs) != 3:
            raise ConfigError("Loss", "GoogLeNetLoss needs Arch.name: GoogLeNet (three outputs)")
        main, aux1, aux2 = outputs
        return self.ce(main, label) + 0.3 * self.ce(aux1, label) + 0.3 * self.ce(aux2, label)


# ------------------------------------------------------------------------------- distillation
# A DistillationModel returns {member: logits}; these losses read members by name, as PaddleClas's
# ppcls/loss/distillationloss.py does, and sum over every listed pair or name.
def _pairs(value, path: str) -> tuple:
    if not value or any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in value):
        raise ConfigError(path, f"expected a list of [student, teacher] name pairs, got {value!r}")
    return tuple(tuple(p) for p in value)


def _pick(outputs, name: str, key):
    if not isinstance(outputs, dict):
        raise ConfigError("Loss", f"a Distillation* loss needs Arch.name: DistillationModel (outputs by member "
                          f"name); this network returns one tensor")
    if name not in outputs:
        raise ConfigError("Loss", f"no model named {name!r} in Arch.models {list(outputs)}")
    out = outputs[name]
    return out[key] if key is not None else out


def _soft_ce(logits, target_logits, epsilon: float):
    """PaddleClas's CELoss with logits as the label: soft label ``softmax(target)``; with ``epsilon``
    it smooths the raw target as PaddleClas's ``_labelsmoothing`` does."""
    import paddle
    import paddle.nn.functional as F

    if epsilon:
        soft = F.label_smooth(target_logits, epsilon=epsilon)
        return paddle.sum(-F.log_softmax(logits, axis=-1) * soft, axis=-1).mean()
    return F.cross_entropy(logits, F.softmax(target_logits, axis=-1), soft_label=True)


@LOSSES.register("DistillationCELoss")
class DistillationCELoss:
    """Cross entropy of each pair's first output against the softmax of the second (the teacher)."""

    def __init__(self, weight: float = 1.0, model_name_pairs=(), epsilon: Optional[float] = None,
                 key: Optional[str] = None, name: str = "loss_ce"):
        self.weight, self.key, self.name = weight, key, name
        self.pairs = _pairs(model_name_pairs, "DistillationCELoss.model_name_pairs")
        self.epsilon = epsilon if epsilon is not None and 0.0 < epsilon < 1.0 else 0.0  # PaddleClas drops others

    def __call__(self, outputs, label):
        total = None
        for a, b in self.pairs:
            value = _soft_ce(_pick(outputs, a, self.key), _pick(outputs, b, self.key), self.epsilon)
            total = value if total is None else total + value
        return total


@LOSSES.register("DistillationGTCELoss")
class DistillationGTCELoss:
    """Cross entropy of each named member against the ground truth (Mixup pairs mixed as MixCELoss)."""

    def __init__(self, weight: float = 1.0, model_names=(), epsilon: Optional[float] = None,
                 key: Optional[str] = None, name: str = "loss_gt_ce"):
        if not model_names:
            raise ConfigError("DistillationGTCELoss.model_names", "expected member names like [Student]")
        self.weight, self.key, self.name = weight, key, name
        self.model_names = tuple(model_names)
        self.ce = MixCELoss(1.0, epsilon if epsilon is not None and 0.0 < epsilon < 1.0 else None)

    def __call__(self, outputs, label):
        total = None
        for n in self.model_names:
            value = self.ce(_pick(outputs, n, self.key), label)
            total = value if total is None else total + value
        return total


@LOSSES.register("DistillationDMLLoss")
class DistillationDMLLoss:
    """Deep mutual learning: symmetric KL of the pair's softmax (or sigmoid) outputs, times class count,
    averaged (``sum_across_class_dim``: summed over classes, averaged over the batch)."""

    def __init__(self, weight: float = 1.0, model_name_pairs=(), act: Optional[str] = "softmax",
                 weight_ratio: bool = False, sum_across_class_dim: bool = False, key: Optional[str] = None,
                 name: str = "loss_dml", eps: float = 1e-12):
        if act not in (None, "softmax", "sigmoid"):
            raise ConfigError("DistillationDMLLoss.act", f"{act!r} not in [softmax, sigmoid, null]")
        if weight_ratio:
            raise ConfigError("DistillationDMLLoss.weight_ratio", "multi-label DML (label ratios) is not "
                              "supported; set it to false")
        self.weight, self.key, self.name, self.act, self.eps = weight, key, name, act, eps
        self.sum_across_class_dim = sum_across_class_dim
        self.pairs = _pairs(model_name_pairs, "DistillationDMLLoss.model_name_pairs")

    def _kldiv(self, x, target):
        import paddle

        return target * paddle.log((target + self.eps) / (x + self.eps)) * x.shape[-1]

    def __call__(self, outputs, label):
        import paddle.nn.functional as F

        total = None
        for a, b in self.pairs:
            x, t = _pick(outputs, a, self.key), _pick(outputs, b, self.key)
            if self.act == "softmax":
                x, t = F.softmax(x, axis=-1), F.softmax(t, axis=-1)
            elif self.act == "sigmoid":
                x, t = F.sigmoid(x), F.sigmoid(t)
            loss = (self._kldiv(x, t) + self._kldiv(t, x)) / 2
            value = loss.sum(1).mean() if self.sum_across_class_dim else loss.mean()
            total = value if total is None else total + value
        return total


@LOSSES.register("DistillationKLDivLoss")
class DistillationKLDivLoss:
    """Hinton's soft-target loss: ``KL(softmax(t/T) || log_softmax(s/T)) * T^2``, summed, per image."""

    def __init__(self, weight: float = 1.0, model_name_pairs=(), temperature: float = 4, key: Optional[str] = None,
                 name: str = "loss_kl"):
        if temperature <= 0:
            raise ConfigError("DistillationKLDivLoss.temperature", f"expected a number > 0, got {temperature}")
        self.weight, self.key, self.name, self.T = weight, key, name, float(temperature)
        self.pairs = _pairs(model_name_pairs, "DistillationKLDivLoss.model_name_pairs")

    def __call__(self, outputs, label):
        import paddle.nn.functional as F

        total = None
        for a, b in self.pairs:
            s, t = _pick(outputs, a, self.key), _pick(outputs, b, self.key)
            value = F.kl_div(F.log_softmax(s / self.T, axis=1), F.softmax(t / self.T, axis=1),
                             reduction="sum") * (self.T ** 2) / s.shape[0]
            total = value if total is None else total + value
        return total


@LOSSES.register("DistillationDistanceLoss")
class DistillationDistanceLoss:
    """L1 / L2 (MSE) / smooth-L1 distance between the pair's outputs, after an optional activation."""

    def __init__(self, weight: float = 1.0, mode: str = "l2", model_name_pairs=(), act: Optional[str] = None,
                 key: Optional[str] = None, name: str = "loss_"):
        if mode not in ("l1", "l2", "smooth_l1"):
            raise ConfigError("DistillationDistanceLoss.mode", f"{mode!r} not in [l1, l2, smooth_l1]")
        if act not in (None, "sigmoid", "softmax"):
            raise ConfigError("DistillationDistanceLoss.act", f"{act!r} not in [sigmoid, softmax, null]")
        self.weight, self.mode, self.act, self.key, self.name = weight, mode, act, key, name + mode
        self.pairs = _pairs(model_name_pairs, "DistillationDistanceLoss.model_name_pairs")

    def __call__(self, outputs, label):
        import paddle.nn.functional as F

        fn = {"l1": F.l1_loss, "l2": F.mse_loss, "smooth_l1": F.smooth_l1_loss}[self.mode]
        total = None
        for a, b in self.pairs:
            x, t = _pick(outputs, a, self.key), _pick(outputs, b, self.key)
            if self.act == "softmax":
                x, t = F.softmax(x, axis=-1), F.softmax(t, axis=-1)
            elif self.act == "sigmoid":
                x, t = F.sigmoid(x), F.sigmoid(t)
            value = fn(x, t)
            total = value if total is None else total + value
        return total


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
