"""One training iteration's update: loss scaling, gradient accumulation, optimizer, LR and EMA steps.

PaddleClas's ``train_epoch``: the loss is divided by ``Global.update_freq`` and back-propagated every
batch; every ``update_freq`` batches the optimizer steps (through the AMP scaler), gradients are
cleared, a per-iteration schedule steps and the EMA folds the new weights in. ``end_epoch`` steps a
``by_epoch`` schedule.
"""
from __future__ import annotations

from typing import Optional

from .amp import Amp
from .ema import ModelEma
from .optim import Schedule


class TrainStep:
    def __init__(self, model, optimizer, schedule: Schedule, amp: Amp, update_freq: int = 1,
                 ema: Optional[ModelEma] = None):
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.amp, self.update_freq, self.ema = amp, update_freq, ema
        self.batches = 0   # batches back-propagated
        self.updates = 0   # optimizer steps taken

    def __call__(self, loss) -> bool:
        """Back-propagate one batch's ``loss``; returns whether the optimizer stepped."""
        self.amp.backward(loss / self.update_freq if self.update_freq > 1 else loss)
        self.batches += 1
        if self.batches % self.update_freq:
            return False
        self.amp.step(self.optimizer)
        self.optimizer.clear_grad()
        if not self.schedule.by_epoch:
            self.schedule.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.updates += 1
        return True

    def end_epoch(self) -> None:
        self.optimizer.clear_grad()  # nothing half-accumulated carries into the next epoch
        self.batches = 0
        if self.schedule.by_epoch:
            self.schedule.scheduler.step()
