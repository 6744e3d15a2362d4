"""Trends, computed purely: counts of a topic's items in time bins, an exponentially weighted baseline, and a
burst score that says how far the latest bin stands above (or below) that baseline.

The score is ``(count - mean) / sqrt(max(var, mean) + 1)``: the spread of the topic's own history, floored by the
Poisson variance of its mean, so a topic that always sees a few items is not flagged for seeing a few more.

An EWMA follows a slow steady climb closely, so the burst score misses it; ``climb`` fits a straight line through
the whole window instead and gives its slope's t statistic (residual variance floored by the Poisson variance), and
``climbing`` lists the topics whose line at least doubled over the window with a t of 3 or more.

History is what the store has seen: only the bins that lie wholly after the store's first event time count
(``observed_bins``), so a young store scores nothing rather than everything against empty bins it never watched.
A topic born in the window is *new* (``emerging``), not rising against a baseline of 0; a topic born before the
store had ``warmup`` bins of history is neither, as the store cannot tell a new story from one it started watching
late. ``movers`` sorts every topic into new, rising, fading and climbing.
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
    def history(self) -> int:
        """Bins of history the latest bin was scored against."""
        return max(len(self.counts) - 1, 0)

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


def observed_bins(first_event: float | None, end: float, bin_seconds: float, bins: int) -> int:
    """How many of the ``bins - 1`` bins before the latest one (all ending at ``end``) start at or after
    ``first_event``, the store's first event time: the history it has actually watched."""
    if first_event is None:
        return 0
    return max(0, min(bins - 1, int((end - bin_seconds - first_event) // bin_seconds)))


def trends(series: dict[int, Sequence[int]], alpha: float = 0.3, warmup: int = 6,
           observed: int | None = None) -> list[Trend]:
    """Every topic's trend, highest burst score first; with ``observed``, only the latest bin and the ``observed``
    bins before it count (the rest lie before the store's history)."""
    def watched(counts: Sequence[int]) -> Sequence[int]:
        return counts if observed is None else counts[len(counts) - observed - 1:]

    out = [Trend(tid, tuple(int(c) for c in watched(counts)), *score(watched(counts), alpha, warmup),
                 *climb(watched(counts), warmup)) for tid, counts in series.items()]
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


@dataclass(frozen=True)
class NewTopic:
    """A topic born in the window: an emerging story, with no history to score it against."""

    topic_id: int
    born: float
    items: int
    latest: int


@dataclass(frozen=True)
class Movers:
    """Every topic sorted by how it moved: ``history`` bins of history were watched, ``warmup`` were needed."""

    new: list[NewTopic]
    rising: list[Trend]
    fading: list[Trend]
    climbing: list[Trend]
    history: int
    warmup: int

    @property
    def young(self) -> bool:
        """The store has watched too little to call anything new or rising."""
        return self.history < self.warmup


def emerging(series: dict[int, Sequence[int]], births: dict[int, float], window_start: float, earliest: float,
             min_count: int = 3) -> list[NewTopic]:
    """The topics born (first event time) in the window and no earlier than ``earliest``, with at least
    ``min_count`` items in it, most items first."""
    out = [NewTopic(tid, births[tid], int(np.sum(counts)), int(counts[-1])) for tid, counts in series.items()
           if births.get(tid, -np.inf) >= max(window_start, earliest) and int(np.sum(counts)) >= min_count]
    return sorted(out, key=lambda t: (-t.items, t.topic_id))


def movers(series: dict[int, Sequence[int]], births: dict[int, float], first_event: float | None, end: float,
           bin_seconds: float, window_start: float, warmup: int, threshold: float = 3.0) -> Movers:
    """New, rising (burst score at least ``threshold``), fading and steadily climbing topics over ``series`` (bins
    of ``bin_seconds`` ending at ``end``); the new are born in ``[window_start, end)`` at least ``warmup`` bins after
    the store's ``first_event``, and are not scored as rising."""
    bins = max((len(c) for c in series.values()), default=0)
    history = observed_bins(first_event, end, bin_seconds, bins) if bins else 0
    earliest = np.inf if first_event is None else first_event + warmup * bin_seconds
    new = emerging(series, births, window_start, earliest)
    fresh = {t.topic_id for t in new}
    found = trends({tid: c for tid, c in series.items() if tid not in fresh}, warmup=warmup, observed=history)
    rose = rising(found, threshold)
    return Movers(new, rose, fading(found), [t for t in climbing(found) if t not in rose], history, warmup)
