"""Streaming burst detection on event time: for each key (a topic, a label), items counted in fixed time bins of
their event time against an exponentially weighted baseline of the bins before, updated as items come.

Items need not come in order. The tracker's watermark is the latest event time it has seen; a bin is complete once
it ends more than ``lateness`` seconds behind the watermark, and only then is it folded into the baseline. Until
then a late item still counts in its own bin (and in the baseline of the bins after it); an item whose bin is
already complete is too late to count (the store still has it, so trends and digests see it). A bin is judged as it
fills, so a live burst alerts at the item that makes it one.

A key first seen now is taken to have had zero items in every bin since the tracker started, so a brand-new topic
that gathers many items at once is a burst too (an *emerging* topic). Nothing is judged before ``warmup`` bins of
history (event time, not wall-clock hours) have passed. The state is a few numbers a key; a key quiet for
``MAX_DECAY_BINS`` bins is dropped whenever a new bin opens, so it stays bounded. It is rebuilt after a restart by
replaying the stored event times of the last bins (``AlertEngine.prime``).

The baseline is updated with the same EWMA step as ``monitor.reports.trends.score`` (the digest's); the alerts then
compare a bin with ``factor`` times the baseline rather than with a z-score. It is written out rather than taken
from river's ``EWMean``/``EWVar`` because bins with no items must decay the baseline too (up to
``MAX_DECAY_BINS`` steps when a key is next seen) and the state is rebuilt from timestamps, not pickled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.reports.trends import ewma_step

MAX_DECAY_BINS = 64


def _fold(mean: float, var: float, counts: dict[int, int], start: int, end: int,
          alpha: float) -> tuple[float, float]:
    """The baseline after the bins ``[start, end)`` (their ``counts``; a run of empty bins decays it at most
    ``MAX_DECAY_BINS`` steps)."""
    at = start
    for b in sorted(b for b in counts if start <= b < end):
        for _ in range(min(b - at, MAX_DECAY_BINS)):
            mean, var = ewma_step(mean, var, 0, alpha)
        mean, var = ewma_step(mean, var, counts[b], alpha)
        at = b + 1
    for _ in range(min(end - at, MAX_DECAY_BINS)):
        mean, var = ewma_step(mean, var, 0, alpha)
    return mean, var


@dataclass
class Rate:
    """One key: the counts of its open bins (from ``start`` on), the baseline of the complete bins before them, and
    the latest bin it had an item in."""

    start: int
    seen: int
    counts: dict[int, int] = field(default_factory=dict)
    mean: float = 0.0
    var: float = 0.0

    def close(self, to_bin: int, alpha: float) -> None:
        """Fold the bins before ``to_bin`` (now complete) into the baseline."""
        if to_bin <= self.start:
            return
        self.mean, self.var = _fold(self.mean, self.var, self.counts, self.start, to_bin, alpha)
        self.counts = {b: n for b, n in self.counts.items() if b >= to_bin}
        self.start = to_bin

    def baseline(self, at_bin: int, alpha: float) -> float:
        """The baseline of bin ``at_bin``: every bin before it, complete or still open."""
        return _fold(self.mean, self.var, self.counts, self.start, at_bin, alpha)[0]


@dataclass(frozen=True)
class Burst:
    """How a key's bin compares with its baseline."""

    key: str
    count: int
    baseline: float

    @property
    def ratio(self) -> float:
        return self.count / self.baseline if self.baseline > 0 else float("inf")


class BurstTracker:
    """Counts items per key in ``bin_seconds`` bins of event time and says when a bin stands ``factor`` times above
    its baseline with at least ``min_count`` items. ``lateness`` (default: one bin) is how far behind the watermark
    a bin stays open for late items."""

    def __init__(self, bin_seconds: float = 3600.0, alpha: float = 0.3, warmup: int = 6,
                 lateness: float | None = None) -> None:
        self.bin_seconds = bin_seconds
        self.alpha = alpha
        self.warmup = warmup
        self.lateness = bin_seconds if lateness is None else lateness
        self.first_bin: int | None = None
        self.watermark: float | None = None
        self._rates: dict[str, Rate] = {}

    def _bin(self, ts: float) -> int:
        return int(ts // self.bin_seconds)

    @property
    def open_from(self) -> int:
        """The first bin not yet complete."""
        return self._bin(self.watermark - self.lateness) if self.watermark is not None else 0

    def observe(self, key: str, ts: float) -> Burst | None:
        """Count one item of ``key`` that happened at ``ts`` in its bin; None when that bin is already complete."""
        b = self._bin(ts)
        if self.watermark is None:
            self.first_bin, self.watermark = b, ts
        elif ts > self.watermark:
            opened = self._bin(ts) > self._bin(self.watermark)
            self.watermark = ts
            if opened:
                self.forget_quiet(ts)
        if b < self.open_from:
            return None
        rate = self._rates.get(key)
        if rate is None:
            rate = self._rates[key] = Rate(start=self.open_from, seen=b)
        rate.close(self.open_from, self.alpha)
        rate.counts[b] = rate.counts.get(b, 0) + 1
        rate.seen = max(rate.seen, b)
        return Burst(key, rate.counts[b], rate.baseline(b, self.alpha))

    def warmed_up(self, ts: float) -> bool:
        return self.first_bin is not None and self._bin(ts) - self.first_bin >= self.warmup

    def bursting(self, burst: Burst | None, ts: float, factor: float, min_count: int) -> bool:
        """Whether ``burst`` (just returned by ``observe``) is ``factor`` times its baseline, with enough items."""
        return (burst is not None and self.warmed_up(ts) and burst.count >= min_count
                and burst.count >= factor * burst.baseline)

    def forget_quiet(self, ts: float) -> int:
        """Drop keys with no item in the last ``MAX_DECAY_BINS`` bins (their baseline has decayed to nothing, so
        their state equals a new key's); returns how many were dropped."""
        quiet = [k for k, r in self._rates.items() if r.seen < self._bin(ts) - MAX_DECAY_BINS]
        for key in quiet:
            del self._rates[key]
        return len(quiet)

    def __len__(self) -> int:
        return len(self._rates)
