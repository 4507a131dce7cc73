"""Metrics by PaddleClas name, accumulated over an epoch from numpy logits."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import ConfigError
from .registry import Registry

METRICS = Registry("metric")


@METRICS.register("TopkAcc")
class TopkAcc:
    """Top-k accuracy for each ``k`` in ``topk``; reported as ``top1``, ``top5``, ..."""

    def __init__(self, topk: Sequence[int] = (1, 5)):
        if not topk or any(k < 1 for k in topk):
            raise ConfigError("TopkAcc.topk", f"expected positive integers, got {list(topk)}")
        self.topk = tuple(topk)
        self.reset()

    def reset(self) -> None:
        self.correct = {k: 0 for k in self.topk}
        self.count = 0

    def update(self, logits: np.ndarray, labels: np.ndarray) -> None:
        labels = np.asarray(labels).reshape(-1)
        order = np.argsort(-logits, axis=1)
        for k in self.topk:
            self.correct[k] += int((order[:, :k] == labels[:, None]).any(axis=1).sum())
        self.count += len(labels)

    def result(self) -> dict:
        return {f"top{k}": (self.correct[k] / self.count if self.count else 0.0) for k in self.topk}


def build_metrics(specs, path: str) -> list:
    """The configured metrics, or top-1/top-5 accuracy when the config names none."""
    return METRICS.build_list(specs or (), path) or [TopkAcc((1, 5))]
