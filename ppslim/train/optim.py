"""Optimizers, LR schedules, weight-decay rules and gradient clipping from ``Optimizer``, with PaddleClas's meaning.

Schedules follow ``ppcls/optimizer/learning_rate.py``: every schedule counts iterations (optimizer
steps) unless ``by_epoch``, when it counts epochs; ``warmup_epoch`` wraps it in ``LinearWarmup``
from ``warmup_start_lr`` to ``learning_rate``. Built from paddle's own classes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from ..config import LrConfig, LrName, OptimizerConfig, OptimizerName

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """A paddle ``LRScheduler`` and when to step it."""
    scheduler: object
    by_epoch: bool

    @property
    def tag(self) -> str:
        """PaddleClas's log/VisualDL name for it: ``lr(LinearWarmup)``."""
        return f"lr({type(self.scheduler).__name__})"


def piecewise_from_lr(learning_rate: float, epochs: int) -> tuple[list[int], list[float]]:
    """PaddleClas's Piecewise when only ``learning_rate`` is given: divide by 10 every 30 epochs."""
    boundaries = list(range(0, epochs, 30))
    values = [learning_rate * 0.1 ** i for i in range(len(boundaries))]
    if len(boundaries) == 1:
        return [epochs], [values[0], values[0]]
    return boundaries[1:], values


def build_lr(lr: LrConfig, epochs: int, steps_per_epoch: int) -> Schedule:
    """The schedule ``lr`` names, for ``epochs`` of ``steps_per_epoch`` optimizer steps."""
    import paddle

    sched = paddle.optimizer.lr
    warmup_epoch = min(lr.warmup_epoch, epochs)  # PaddleClas caps warmup at the run's length
    if warmup_epoch < lr.warmup_epoch:
        log.warning("Optimizer.lr.warmup_epoch %d >= %d epochs: warming up for %d (as PaddleClas)",
                    lr.warmup_epoch, epochs, warmup_epoch)
    unit = 1 if lr.by_epoch else steps_per_epoch  # steps of the schedule per epoch
    warmup_steps = warmup_epoch * unit
    decay_steps = (epochs - warmup_epoch) * unit
    peak = lr.learning_rate
    if lr.name == LrName.COSINE:
        base = (sched.CosineAnnealingDecay(peak, T_max=decay_steps, eta_min=lr.eta_min) if decay_steps > 0
                else sched.LambdaDecay(peak, lambda _: 1.0))
    elif lr.name == LrName.LINEAR:
        base = (sched.PolynomialDecay(peak, decay_steps=decay_steps, end_lr=lr.end_lr, power=lr.power)
                if decay_steps > 0 else sched.LambdaDecay(peak, lambda _: 1.0))
    elif lr.name == LrName.PIECEWISE:
        bounds, values = ((list(lr.decay_epochs), list(lr.values)) if lr.values
                          else piecewise_from_lr(peak, epochs))
        peak = values[0]
        base = sched.PiecewiseDecay([e * unit for e in bounds], values)
    elif lr.name == LrName.STEP:
        base = sched.StepDecay(peak, step_size=max(1, int(lr.step_size * unit)), gamma=lr.gamma)
    elif lr.name == LrName.MULTI_STEP:
        base = sched.MultiStepDecay(peak, milestones=[m * unit for m in lr.milestones], gamma=lr.gamma)
    else:
        base = sched.LambdaDecay(peak, lambda _: 1.0)
    if warmup_steps:
        base = sched.LinearWarmup(base, warmup_steps, lr.warmup_start_lr, peak)
    return Schedule(base, lr.by_epoch)


def no_decay_names(opt: OptimizerConfig, model) -> set[str]:
    """Structured names of the parameters kept out of weight decay by ``no_weight_decay_name``
    (substrings, space separated) and ``one_dim_param_no_weight_decay``."""
    words = (opt.no_weight_decay_name or "").split()
    return {n for n, p in model.named_parameters()
            if any(w in n for w in words) or (opt.one_dim_param_no_weight_decay and len(p.shape) == 1)}


def _grad_clip(opt: OptimizerConfig):
    import paddle

    if opt.clip_norm is not None:
        return paddle.nn.ClipGradByNorm(opt.clip_norm)
    if opt.clip_grad is not None:
        return paddle.nn.ClipGradByGlobalNorm(opt.clip_grad)
    return None


def _decay(opt: OptimizerConfig):
    import paddle

    if opt.regularizer is not None:
        cls = paddle.regularizer.L1Decay if opt.regularizer.name == "L1" else paddle.regularizer.L2Decay
        return cls(opt.regularizer.coeff)
    if opt.weight_decay is not None and opt.name != OptimizerName.ADAMW:
        return paddle.regularizer.L2Decay(opt.weight_decay)
    return None


def build_optimizer(opt: OptimizerConfig, model, schedule: Schedule):
    """The paddle optimizer ``opt`` names over ``model``'s parameters, stepping ``schedule``."""
    import paddle

    lr, clip = schedule.scheduler, _grad_clip(opt)
    excluded = no_decay_names(opt, model)
    if opt.name == OptimizerName.ADAMW:
        skip = {p.name for n, p in model.named_parameters() if n in excluded}
        kwargs = {} if opt.weight_decay is None else {"weight_decay": opt.weight_decay}
        return paddle.optimizer.AdamW(lr, beta1=opt.beta1, beta2=opt.beta2, epsilon=opt.epsilon or 1e-8,
                                      parameters=model.parameters(), grad_clip=clip,
                                      apply_decay_param_fun=lambda name: name not in skip,
                                      multi_precision=opt.multi_precision, **kwargs)
    decay = _decay(opt)
    params: list = model.parameters()
    if excluded and decay is not None:
        # A parameter group's own weight_decay wins over the optimizer's: 0 for the excluded ones.
        named = list(model.named_parameters())
        params = [{"params": [p for n, p in named if n not in excluded]},
                  {"params": [p for n, p in named if n in excluded], "weight_decay": 0.0}]
    if opt.name == OptimizerName.MOMENTUM:
        return paddle.optimizer.Momentum(lr, momentum=0.9 if opt.momentum is None else opt.momentum,
                                         parameters=params, use_nesterov=opt.use_nesterov, weight_decay=decay,
                                         grad_clip=clip, multi_precision=opt.multi_precision)
    if opt.name == OptimizerName.SGD:
        return paddle.optimizer.SGD(lr, parameters=params, weight_decay=decay, grad_clip=clip,
                                    multi_precision=opt.multi_precision)
    if opt.name == OptimizerName.RMSPROP:
        if opt.multi_precision:
            log.debug("Optimizer.multi_precision: paddle's RMSProp keeps no master weights")
        return paddle.optimizer.RMSProp(lr, rho=opt.rho, epsilon=opt.epsilon or 1e-6,
                                        momentum=opt.momentum or 0.0, parameters=params, weight_decay=decay,
                                        grad_clip=clip)
    return paddle.optimizer.Adam(lr, beta1=opt.beta1, beta2=opt.beta2, epsilon=opt.epsilon or 1e-8,
                                 parameters=params, weight_decay=decay, grad_clip=clip,
                                 multi_precision=opt.multi_precision)


def lr_sequence(lr: LrConfig, epochs: int, steps_per_epoch: int, *, by_epoch: Optional[bool] = None) -> list[float]:
    """The LR used at each optimizer step of a run, stepping as ``fit`` does (for tests and reports)."""
    schedule = build_lr(lr, epochs, steps_per_epoch)
    out = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            out.append(float(schedule.scheduler()))  # last_lr; get_lr() recomputes (Cosine drifts)
            if not schedule.by_epoch:
                schedule.scheduler.step()
        if schedule.by_epoch:
            schedule.scheduler.step()
    return out
