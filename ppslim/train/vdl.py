"""``Global.use_visualdl``: training scalars written with VisualDL's ``LogWriter`` (``visualdl --logdir``).

Tags are PaddleClas's: ``train_loss`` and ``lr(<schedule>)`` every ``print_batch_step`` iterations at
the global step, ``eval_acc`` (top-1) and ``eval_acc_ema`` every evaluated epoch at the epoch.
"""
from __future__ import annotations

import os

VDL_DIR = "vdl"


class Scalars:
    """A VisualDL writer on the main rank when enabled; a no-op otherwise."""

    def __init__(self, run_dir: str, enabled: bool):
        self.writer = None
        self.logdir = os.path.join(run_dir, VDL_DIR)
        if enabled:
            from visualdl import LogWriter

            os.makedirs(self.logdir, exist_ok=True)
            self.writer = LogWriter(logdir=self.logdir)

    def add(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag=tag, value=float(value), step=int(step))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
