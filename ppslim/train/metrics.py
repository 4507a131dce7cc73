"""Metrics by PaddleClas name, accumulated over an epoch from numpy logits."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import ConfigError
from ..registry import Registry

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


@METRICS.register("DistillationTopkAcc")
class DistillationTopkAcc(TopkAcc):
    """Top-k accuracy of one member of a ``DistillationModel`` (``model_key``), and of one output of it
    when the member returns a dict (``feature_key``). Reads every member's output, so the Eval
    metric can score the teacher too."""

    reads_all_outputs = True

    def __init__(self, model_key: str, feature_key: Optional[str] = None, topk: Sequence[int] = (1, 5)):
        super().__init__(topk)
        self.model_key, self.feature_key = model_key, feature_key

    def update(self, logits, labels: np.ndarray) -> None:
        if isinstance(logits, dict):
            if self.model_key not in logits:
                raise ConfigError("DistillationTopkAcc.model_key", f"{self.model_key!r} not in the model's "
                                  f"outputs {list(logits)}")
            logits = logits[self.model_key]
        if self.feature_key is not None:
            logits = logits[self.feature_key]
        super().update(np.asarray(logits), labels)


@METRICS.register("GoogLeNetTopkAcc")
class GoogLeNetTopkAcc(TopkAcc):
    """Top-k accuracy of GoogLeNet's main head (the first of its three outputs)."""

    reads_all_outputs = True

    def update(self, logits, labels: np.ndarray) -> None:
        super().update(np.asarray(logits[0] if isinstance(logits, (list, tuple)) else logits), labels)


def build_metrics(specs, path: str) -> list:
    """The configured metrics, or top-1/top-5 accuracy when the config names none."""
    return METRICS.build_list(specs or (), path) or [TopkAcc((1, 5))]


# Retrieval metrics: they need gallery/query evaluation (Global.eval_mode: retrieval), which ppslim refuses.
for _name in ("Recallk", "mAP", "mINP"):
    METRICS.refuse(_name, "a retrieval metric (gallery/query evaluation, RecModel); ppslim scores classifiers with "
                          "TopkAcc")
