"""Interleaved latency measurement: every variant runs once per round, so drift hits all of them alike.

Timing variants one after another lets a busy neighbour, thermal state or frequency scaling favour
whichever ran at a quiet moment. Here each round runs every variant once (alternating the order
between rounds), and the stats come from the same rounds. Rounds are also tagged with how much CPU
other processes used meanwhile, so a noisy machine shows in the report instead of hiding in it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from .. import logs

# A round counts as disturbed when other processes used more than this share of one core during it.
BUSY_SHARE = 0.10


@dataclass(frozen=True)
class Latency:
    """Milliseconds of one forward pass (input copy, run, output copy) over ``runs`` timed rounds."""
    batch_size: int
    runs: int
    median_ms: float
    p25_ms: float
    p75_ms: float
    min_ms: float
    max_ms: float

    @property
    def per_image_ms(self) -> float:
        return self.median_ms / self.batch_size


@dataclass(frozen=True)
class TimingRun:
    """All variants of one batch size, timed in the same rounds."""
    batch_size: int
    latencies: dict          # variant name -> Latency
    rounds: int
    warmup: int
    disturbed_rounds: int    # rounds in which other processes used > BUSY_SHARE of a core
    other_cpu_share: float   # mean share of one core used by other processes during the rounds (-1: unknown)


def summarize(batch_size: int, times_ms) -> Latency:
    t = np.asarray(times_ms, dtype="float64")
    p25, median, p75 = np.percentile(t, [25, 50, 75])
    return Latency(batch_size, len(t), round(float(median), 3), round(float(p25), 3), round(float(p75), 3),
                   round(float(t.min()), 3), round(float(t.max()), 3))


def _busy_ticks() -> int | None:
    """Busy CPU ticks of the whole machine (user+nice+system+irq+softirq+steal), Linux only."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def _own_ticks() -> int | None:
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            v = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(v[11]) + int(v[12])  # utime + stime of all threads


class OtherCpu:
    """Share of one core that *other* processes used between :meth:`start` and :meth:`share`."""

    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def start(self) -> None:
        self.busy, self.own, self.wall = _busy_ticks(), _own_ticks(), time.perf_counter()

    def share(self) -> float | None:
        busy, own = _busy_ticks(), _own_ticks()
        if None in (busy, own, self.busy, self.own):
            return None
        wall = max(time.perf_counter() - self.wall, 1e-6)
        return max(0.0, ((busy - self.busy) - (own - self.own)) / (self.hz * wall))


def wait_for_quiet(max_wait_s: float, probe_s: float = 0.25) -> float:
    """Sleep (at most ``max_wait_s``) while other processes keep a core busy; returns the seconds waited."""
    t0 = time.perf_counter()
    meter = OtherCpu()
    while time.perf_counter() - t0 < max_wait_s:
        meter.start()
        time.sleep(probe_s)
        share = meter.share()
        if share is None or share < BUSY_SHARE:
            break
    return time.perf_counter() - t0


def interleaved(calls: Mapping[str, Callable[[], object]], batch_size: int, warmup: int, repeats: int,
                quiet_wait_s: float = 0.0) -> TimingRun:
    """Time every zero-argument call (each bound to its own input batch of ``batch_size`` images):
    ``warmup`` untimed calls each, then ``repeats`` rounds in which every call runs once (forward
    order on even rounds, reversed on odd ones, so no variant always follows the same neighbour).

    :param quiet_wait_s: before each round, wait up to this long for other processes to go quiet.
    """
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    times = {name: [] for name in names}
    meter, shares = OtherCpu(), []
    for r in logs.progress(range(repeats), f"timing {len(names)} variants"):  # bar drawn between rounds
        if quiet_wait_s:
            wait_for_quiet(quiet_wait_s)
        meter.start()
        for name in (names if r % 2 == 0 else reversed(names)):
            t0 = time.perf_counter()
            calls[name]()
            times[name].append((time.perf_counter() - t0) * 1e3)
        share = meter.share()
        if share is not None:
            shares.append(share)
    return TimingRun(batch_size, {name: summarize(batch_size, times[name]) for name in names}, repeats, warmup,
                     sum(s > BUSY_SHARE for s in shares), round(float(np.mean(shares)), 3) if shares else -1.0)
