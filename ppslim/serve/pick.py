"""The backend ``ppslim bench`` measured fastest for an artifact, kept in the artifact's ``result.json``.

``bench`` times every serving that applies (:func:`ppslim.serve.backends.candidates`) in the same
interleaved rounds, refuses any whose outputs or top-1 miss the bars, and :func:`record` writes under
``"serving"``: the CPU features the measurement depended on, the fastest verified serving per batch
size, and the ``pick`` (the serving with the lowest geometric mean of latency / best latency over the
batch sizes). ``Global.inference_backend: auto`` serves with the pick on a CPU with the same features.
"""
from __future__ import annotations

import json
import math
import os
from typing import Optional

from .. import artifacts
from . import cpu

SERVING_KEY = "serving"


def choose(latencies: dict) -> tuple[dict, Optional[str]]:
    """``{batch: {serving name: median ms}}`` -> (fastest name per batch, overall pick).

    The pick minimises the geometric mean over batch sizes of its median / the fastest median of that
    batch, so a serving that wins at batch 1 and loses badly at batch 16 does not win overall.
    """
    fastest = {str(b): min(row, key=row.get) for b, row in latencies.items() if row}
    names = set.intersection(*(set(row) for row in latencies.values() if row)) if fastest else set()
    if not names:
        return fastest, None

    def score(name: str) -> float:
        ratios = [row[name] / row[fastest[str(b)]] for b, row in latencies.items() if row]
        return math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    return fastest, min(sorted(names), key=score)


def record(model_dir: str, servings: dict, latencies: dict, features: Optional[cpu.CpuFeatures] = None,
           extra: Optional[dict] = None) -> dict:
    """Write the measurement into ``<model_dir>/result.json`` (atomically, other keys kept).

    :param servings: serving name -> ``Serving.as_dict()`` of every verified serving that was timed.
    :param latencies: ``{batch: {serving name: median ms}}`` from the same rounds.
    """
    features = features or cpu.features()
    fastest, pick = choose(latencies)
    entry = {"cpu": cpu.cpu_name(), "cpu_features": features.as_dict(),
             "latency_ms": {str(b): dict(row) for b, row in latencies.items()},
             "fastest": {b: servings[n] for b, n in fastest.items()},
             "pick": servings[pick] if pick else None, **(extra or {})}
    path = os.path.join(model_dir, artifacts.RESULT_FILE)
    data = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    data[SERVING_KEY] = entry
    artifacts.write_json(path, data)
    return entry


def recorded(model_dir: str, features: Optional[cpu.CpuFeatures] = None) -> Optional[dict]:
    """The pick stored beside a model, if it was measured on a CPU with these features, else ``None``."""
    path = os.path.join(model_dir, artifacts.RESULT_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            entry = json.load(f).get(SERVING_KEY)
    except (OSError, ValueError, AttributeError):
        return None
    if not entry or not entry.get("pick"):
        return None
    features = features or cpu.features()
    if entry.get("cpu_features") != features.as_dict():
        return None
    return entry["pick"]
