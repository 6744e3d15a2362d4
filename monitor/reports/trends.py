"""Trends, computed purely: counts of a topic's items in time bins, an exponentially weighted baseline, and a
burst score that says how far the latest bin stands above (or below) that baseline.

The score is ``(count - mean) / sqrt(max(var, mean) + 1)``: the spread of the topic's own history, floored by the
Poisson variance of its mean, so a topic that always sees a few items is not flagged for seeing a few more.

An EWMA follows a slow steady climb closely, so the burst score misses it; ``climb`` fits a straight line through
the whole window instead and gives its slope's t statistic (residual variance floored by the Poisson variance), and
``climbing`` lists the topics whose line at least doubled over the window with a t of 3 or more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trend:
    """One topic's series and how its latest bin compares with its baseline."""

    topic_id: int
    counts: tuple[int, ...]
    baseline: float
    score: float
    slope: float = 0.0
    climb_t: float = 0.0

    @property
    def latest(self) -> int:
        return self.counts[-1] if self.counts else 0


def binned(timestamps: Iterable[float], end: float, bin_seconds: float, bins: int) -> np.ndarray:
    """How many ``timestamps`` fall in each of the ``bins`` bins of ``bin_seconds`` that end at ``end``."""
    start = end - bins * bin_seconds
    ts = np.asarray(list(timestamps), dtype=np.float64)
    ts = ts[(ts >= start) & (ts < end)]
    return np.bincount(((ts - start) // bin_seconds).astype(int), minlength=bins)[:bins]


def score(counts: Sequence[int], alpha: float = 0.3, warmup: int = 6) -> tuple[float, float]:
    """(baseline, burst score) of the last count against the EWMA of the ones before it; (0, 0) before
    ``warmup`` bins of history."""
    history = np.asarray(counts[:-1], dtype=np.float64)
    if len(history) < warmup:
        return 0.0, 0.0
    mean, var = float(history[0]), 0.0
    for x in history[1:]:
        mean, var = ewma_step(mean, var, float(x), alpha)
    return float(mean), float((counts[-1] - mean) / np.sqrt(max(var, mean) + 1.0))


def ewma_step(mean: float, var: float, x: float, alpha: float) -> tuple[float, float]:
    """One step of the exponentially weighted mean and variance (Finch 2009, incremental form)."""
    diff = x - mean
    return mean + alpha * diff, (1 - alpha) * (var + alpha * diff * diff)


def climb(counts: Sequence[int], warmup: int = 6) -> tuple[float, float]:
    """(slope per bin, its t statistic) of a least-squares line through ``counts``; (0, 0) for fewer than
    ``warmup`` + 1 bins or no items."""
    y = np.asarray(counts, dtype=np.float64)
    if len(y) <= warmup or not y.any():
        return 0.0, 0.0
    x = np.arange(len(y), dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.mean((y - slope * x - intercept) ** 2)) * len(y) / (len(y) - 2)
    spread = np.sqrt(max(residual, float(y.mean())) / float(((x - x.mean()) ** 2).sum()))
    return float(slope), float(slope / spread)


def trends(series: dict[int, Sequence[int]], alpha: float = 0.3, warmup: int = 6) -> list[Trend]:
    """Every topic's trend, highest burst score first."""
    out = [Trend(tid, tuple(int(c) for c in counts), *score(counts, alpha, warmup), *climb(counts, warmup))
           for tid, counts in series.items()]
    return sorted(out, key=lambda t: (-t.score, t.topic_id))


def rising(found: Sequence[Trend], threshold: float = 3.0, min_count: int = 3) -> list[Trend]:
    return [t for t in found if t.score >= threshold and t.latest >= min_count]


def fading(found: Sequence[Trend], threshold: float = 2.0, min_baseline: float = 3.0) -> list[Trend]:
    return [t for t in reversed(found) if t.score <= -threshold and t.baseline >= min_baseline]


def climbing(found: Sequence[Trend], t: float = 3.0, min_count: int = 3) -> list[Trend]:
    """Topics on a steady climb: a line through the window whose slope has a t statistic of at least ``t`` and
    which ends at least twice as high as it starts (the fitted start is floored at half an item), steepest first."""
    out = []
    for trend in found:
        span = len(trend.counts) - 1
        start = max(float(np.mean(trend.counts)) - trend.slope * span / 2, 0.5)
        if trend.climb_t >= t and start + trend.slope * span >= 2 * start and trend.latest >= min_count:
            out.append(trend)
    return sorted(out, key=lambda x: -x.climb_t)
