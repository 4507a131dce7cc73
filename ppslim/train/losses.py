"""Losses by PaddleClas name. A loss list sums ``weight * loss`` over its entries."""
from __future__ import annotations

from typing import Optional

from ..errors import ConfigError
from ..registry import Registry

# Built once while the config is checked (constructors import no paddle), so bad values fail at load.
LOSSES = Registry("loss", build_on_check=True)


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


def _activated_pair(outputs, a: str, b: str, key, act: Optional[str]):
    """Members ``a`` and ``b``'s outputs (``key`` of each), through ``act`` (softmax, sigmoid or none)."""
    import paddle.nn.functional as F

    x, t = _pick(outputs, a, key), _pick(outputs, b, key)
    if act == "softmax":
        return F.softmax(x, axis=-1), F.softmax(t, axis=-1)
    if act == "sigmoid":
        return F.sigmoid(x), F.sigmoid(t)
    return x, t


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
        total = None
        for a, b in self.pairs:
            x, t = _activated_pair(outputs, a, b, self.key, self.act)
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
            x, t = _activated_pair(outputs, a, b, self.key, self.act)
            value = fn(x, t)
            total = value if total is None else total + value
        return total


class _PairLoss:
    """Sums ``pair_loss(student_out, teacher_out, label)`` over ``model_name_pairs``."""

    def __init__(self, weight: float, model_name_pairs, key: Optional[str], name: str):
        self.weight, self.key, self.name = weight, key, name
        self.pairs = _pairs(model_name_pairs, f"{type(self).__name__}.model_name_pairs")

    def __call__(self, outputs, label):
        if isinstance(label, tuple):
            raise ConfigError("Loss.Train", f"{type(self).__name__} reads hard labels; it cannot follow a "
                              "Mixup/Cutmix batch op")
        total = None
        for a, b in self.pairs:
            value = self.pair_loss(_pick(outputs, a, self.key), _pick(outputs, b, self.key), label)
            total = value if total is None else total + value
        return total

    def target(self, teacher, label, use_target_as_gt: bool):
        """PaddleClas's rule (names and all): the teacher's argmax when there is no label or
        ``use_target_as_gt`` is set, else the ground truth."""
        return (teacher.argmax(axis=-1) if label is None or use_target_as_gt else label).reshape([-1])


@LOSSES.register("DistillationDKDLoss")
class DistillationDKDLoss(_PairLoss):
    """Decoupled KD (arXiv 2203.08679): ``alpha * TCKD + beta * NCKD`` at ``temperature``."""

    def __init__(self, weight: float = 1.0, model_name_pairs=(), key: Optional[str] = None, temperature: float = 1.0,
                 alpha: float = 1.0, beta: float = 1.0, use_target_as_gt: bool = False, name: str = "loss_dkd"):
        super().__init__(weight, model_name_pairs, key, name)
        self.T, self.alpha, self.beta, self.use_target_as_gt = float(temperature), alpha, beta, use_target_as_gt

    def pair_loss(self, s, t, label):
        import paddle
        import paddle.nn.functional as F

        gt = F.one_hot(self.target(t, label, self.use_target_as_gt), s.shape[-1])
        other = 1 - gt
        ps, pt = F.softmax(s / self.T, axis=1), F.softmax(t / self.T, axis=1)
        def binary(p):  # probability of the target class vs all the others
            return paddle.concat([(p * gt).sum(1, keepdim=True), (p * other).sum(1, keepdim=True)], 1)
        n, t2 = s.shape[0], self.T ** 2
        tckd = F.kl_div(paddle.log(binary(ps)), binary(pt), reduction="sum") * t2 / n
        nckd = F.kl_div(F.log_softmax(s / self.T - 1000.0 * gt, axis=1), F.softmax(t / self.T - 1000.0 * gt, axis=1),
                        reduction="sum") * t2 / n
        return self.alpha * tckd + self.beta * nckd


@LOSSES.register("DistillationWSLLoss")
class DistillationWSLLoss(_PairLoss):
    """Weighted soft labels (arXiv 2102.00650): soft-target CE weighted by ``1 - exp(-CE_s / CE_t)``."""

    def __init__(self, weight: float = 1.0, model_name_pairs=(), key: Optional[str] = None, temperature: float = 2.0,
                 use_target_as_gt: bool = False, name: str = "wsl_loss"):
        super().__init__(weight, model_name_pairs, key, name)
        self.T, self.use_target_as_gt = float(temperature), use_target_as_gt

    def pair_loss(self, s, t, label):
        import paddle
        import paddle.nn.functional as F

        gt = F.one_hot(self.target(t, label, self.use_target_as_gt), s.shape[-1])
        ce_s = -paddle.sum(gt * F.log_softmax(s.detach()), axis=1)
        ce_t = -paddle.sum(gt * F.log_softmax(t.detach()), axis=1)
        ratio = paddle.maximum(ce_s / (ce_t + 1e-7), paddle.zeros_like(ce_s))
        kd = -paddle.sum(F.softmax(t / self.T) * F.log_softmax(s / self.T), axis=1)
        return self.T ** 2 * paddle.mean(kd * (1 - paddle.exp(-ratio)))


@LOSSES.register("DistillationSKDLoss")
class DistillationSKDLoss(_PairLoss):
    """Spherical KD (arXiv 2010.07485): KD on layer-normalised logits times ``multiplier``, mixed with CE."""

    def __init__(self, weight: float = 1.0, model_name_pairs=(), key: Optional[str] = None, temperature: float = 1.0,
                 multiplier: float = 2.0, alpha: float = 0.9, use_target_as_gt: bool = False, name: str = "skd_loss"):
        super().__init__(weight, model_name_pairs, key, name)
        self.T, self.multiplier, self.alpha = float(temperature), multiplier, alpha
        self.use_target_as_gt = use_target_as_gt

    def pair_loss(self, s, t, label):
        import paddle
        import paddle.nn.functional as F

        gt = F.one_hot(self.target(t, label, self.use_target_as_gt), s.shape[-1])
        ns = F.layer_norm(s, s.shape[1:], weight=None, bias=None, epsilon=1e-7) * self.multiplier
        nt = F.layer_norm(t, t.shape[1:], weight=None, bias=None, epsilon=1e-7) * self.multiplier
        kd = paddle.mean(-paddle.sum(F.softmax(nt / self.T) * F.log_softmax(ns / self.T), axis=1)) * self.T ** 2
        ce = paddle.mean(-paddle.sum(gt * F.log_softmax(ns), axis=1))
        return kd * self.alpha + ce * (1 - self.alpha)


@LOSSES.register("DistillationDISTLoss")
class DistillationDISTLoss(_PairLoss):
    """DIST (arXiv 2205.10536): ``beta * (1 - Pearson across classes) + gamma * (1 - Pearson across the batch)``."""

    def __init__(self, weight: float = 1.0, model_name_pairs=(), key: Optional[str] = None, beta: float = 1.0,
                 gamma: float = 1.0, name: str = "loss_dist"):
        super().__init__(weight, model_name_pairs, key, name)
        self.beta, self.gamma = beta, gamma

    @staticmethod
    def _relation(a, b, eps=1e-8):
        a, b = a - a.mean(1).unsqueeze(1), b - b.mean(1).unsqueeze(1)
        return 1 - ((a * b).sum(1) / (a.norm(axis=1) * b.norm(axis=1) + eps)).mean()

    def pair_loss(self, s, t, label):
        import paddle.nn.functional as F

        ys, yt = F.softmax(s, axis=-1), F.softmax(t, axis=-1)
        inter, intra = self._relation(ys, yt), self._relation(ys.transpose([1, 0]), yt.transpose([1, 0]))
        return self.beta * inter + self.gamma * intra


# Base losses of DistillationPairLoss and the parameters each takes (checked without importing paddle).
PAIR_BASE_LOSSES = {
    "MGDLoss": {"required": ("student_channels", "teacher_channels"), "optional": ("alpha_mgd", "lambda_mgd")},
    "PEFDLoss": {"required": ("student_channel", "teacher_channel"), "optional": ("num_projectors", "mode")},
}


@LOSSES.register("DistillationPairLoss")
class DistillationPairLoss:
    """PaddleClas's pair loss on intermediate features: ``base_loss_name(student[s_key], teacher[t_key])``
    summed over ``model_name_pairs``. The features come from the members' ``return_patterns``. The base
    loss has trainable layers (see :mod:`ppslim.train.feature_losses`), trained with the network."""

    def __init__(self, base_loss_name: str, weight: float = 1.0, model_name_pairs=(), s_key: Optional[str] = None,
                 t_key: Optional[str] = None, name: str = "loss", **kwargs):
        from ..schema import did_you_mean

        spec = PAIR_BASE_LOSSES.get(base_loss_name)
        if spec is None:
            raise ConfigError("DistillationPairLoss.base_loss_name", f"{base_loss_name!r} not in "
                              f"{sorted(PAIR_BASE_LOSSES)}" + did_you_mean(base_loss_name, PAIR_BASE_LOSSES))
        for key in kwargs:
            if key not in spec["required"] + spec["optional"]:
                raise ConfigError(f"DistillationPairLoss.{key}", f"not a parameter of {base_loss_name}; accepted: "
                                  f"{list(spec['required'] + spec['optional'])}")
        for key in spec["required"]:
            if key not in kwargs:
                raise ConfigError(f"DistillationPairLoss.{key}", f"required by {base_loss_name}")
        if not isinstance(s_key, str) or not isinstance(t_key, str):
            raise ConfigError("DistillationPairLoss.s_key", "expected s_key and t_key naming a return_patterns "
                              f"feature of each member, got {s_key!r} / {t_key!r}")
        self.weight, self.name, self.s_key, self.t_key = weight, name, s_key, t_key
        self.pairs = _pairs(model_name_pairs, "DistillationPairLoss.model_name_pairs")
        self.base, self.kwargs, self._layer = base_loss_name, kwargs, None

    @property
    def layer(self):
        """The base loss with its trainable layers, built on first use (it needs paddle)."""
        if self._layer is None:
            from .feature_losses import BASE_LOSSES

            self._layer = BASE_LOSSES[self.base](**self.kwargs)
        return self._layer

    def __call__(self, outputs, label):
        total = None
        for s, t in self.pairs:
            value = self.layer(_pick(outputs, s, self.s_key), _pick(outputs, t, self.t_key))
            total = value if total is None else total + value
        return total


class CombinedLoss:
    def __init__(self, losses):
        self.losses = list(losses)

    def trainable_layers(self) -> list:
        """Losses with parameters of their own (``DistillationPairLoss``): the optimizer trains them too."""
        return [loss.layer for loss in self.losses if isinstance(loss, DistillationPairLoss)]

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


# PaddleClas losses ppslim does not train with, each refused in one line saying why.
for _name, _why in (
        ("SupConLoss", "supervised contrastive learning trains retrieval features (RecModel), which ppslim refuses"),
        ("AFDLoss", "attention-based feature distillation needs PaddleClas's AttentionModel, which ppslim refuses"),
        ("TripletLossV2", "metric learning for retrieval (RecModel)"), ("ArcMargin", "retrieval heads (RecModel)"),
        ("CenterLoss", "metric learning for retrieval (RecModel)")):
    LOSSES.refuse(_name, _why)
