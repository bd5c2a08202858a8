"""The bench's clock and statistics: interleaved repetitions of contenders, their
medians and percentiles, and a stage timer that synchronises CUDA before each reading.
Every section of ``jpegai-eval bench`` times its contenders with these.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from jpegai_eval.reports.bench_json import Stats


def stats(seconds: Sequence[float]) -> Stats:
    """Median, p10 and p90 in milliseconds, and every sample."""
    ms = sorted(1e3 * s for s in seconds)
    if not ms:
        return Stats(n=0, median_ms=None, p10_ms=None, p90_ms=None, samples_ms=[])

    def pct(p: float) -> float:
        k = (len(ms) - 1) * p
        lo, hi = int(k), min(int(k) + 1, len(ms) - 1)
        return ms[lo] + (ms[hi] - ms[lo]) * (k - lo)

    return Stats(
        n=len(ms),
        median_ms=round(statistics.median(ms), 4),
        p10_ms=round(pct(0.1), 4),
        p90_ms=round(pct(0.9), 4),
        samples_ms=[round(1e3 * s, 4) for s in seconds],
    )


def interleaved(
    contenders: dict[str, Callable[[int], dict[str, float]]],
    reps: int,
    warmup: int,
    items: int,
) -> dict[str, list[dict[str, float]]]:
    """Run every contender once per repetition on item ``rep % items``, alternating the
    order between repetitions; drop the first ``warmup`` repetitions. A contender
    returns its stage times in seconds (``total`` included)."""
    names = list(contenders)
    kept: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for rep in range(warmup + reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            times = contenders[name](rep % items)
            if rep >= warmup:
                kept[name].append(times)
    return kept


def stage_stats(runs: list[dict[str, float]], per: int = 1) -> dict[str, Stats]:
    """Stats of each stage (and ``total``) over the runs, divided by ``per`` images."""
    names = list(runs[0]) if runs else []
    return {n: stats([r[n] / per for r in runs]) for n in names}


class Clock:
    """Stage timer; synchronises CUDA before each reading when torch runs there."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.times: dict[str, float] = {}
        self._t = 0.0

    def _now(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def start(self) -> Clock:
        self.times = {}
        self._t = self._now()
        return self

    def lap(self, stage: str) -> None:
        now = self._now()
        self.times[stage] = self.times.get(stage, 0.0) + now - self._t
        self._t = now

    def done(self) -> dict[str, float]:
        self.times["total"] = sum(self.times.values())
        return self.times
