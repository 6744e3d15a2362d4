"""Streaming burst detection: for each key (a topic, a label), items counted in fixed time bins against an
exponentially weighted baseline of the bins before, updated as items arrive.

A key first seen now is taken to have had zero items in every bin since the tracker started, so a brand-new topic
that gathers many items at once is a burst too (an *emerging* topic). Nothing is judged before ``warmup`` bins of
stream have passed. The state is four numbers a key; a key quiet for ``MAX_DECAY_BINS`` bins is dropped whenever
a new bin opens, so it stays bounded. It is rebuilt after a restart by replaying the arrival times of the last
bins from the store (``prime``).

The baseline is updated with the same EWMA step as ``monitor.reports.trends.score`` (the digest's); the alerts then
compare a bin with ``factor`` times the baseline rather than with a z-score. It is written out rather than taken
from river's ``EWMean``/``EWVar`` because bins with no items must decay the baseline too (up to
``MAX_DECAY_BINS`` steps when a key is next seen) and the state is rebuilt from timestamps, not pickled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.reports.trends import ewma_step

MAX_DECAY_BINS = 64


@dataclass
class Rate:
    """One key: the bin being counted, its count so far, and the baseline of the bins before it."""

    bin: int
    count: int = 0
    mean: float = 0.0
    var: float = 0.0

    def close(self, to_bin: int, alpha: float) -> None:
        """Fold the finished bins up to ``to_bin`` (exclusive) into the baseline and start counting ``to_bin``."""
        if to_bin <= self.bin:
            return
        self.mean, self.var = ewma_step(self.mean, self.var, self.count, alpha)
        for _ in range(min(to_bin - self.bin - 1, MAX_DECAY_BINS)):
            self.mean, self.var = ewma_step(self.mean, self.var, 0, alpha)
        self.bin, self.count = to_bin, 0


@dataclass(frozen=True)
class Burst:
    """How a key's current bin compares with its baseline."""

    key: str
    count: int
    baseline: float

    @property
    def ratio(self) -> float:
        return self.count / self.baseline if self.baseline > 0 else float("inf")


class BurstTracker:
    """Counts items per key in ``bin_seconds`` bins and says when a bin stands ``factor`` times above its
    baseline with at least ``min_count`` items."""

    def __init__(self, bin_seconds: float = 3600.0, alpha: float = 0.3, warmup: int = 6) -> None:
        self.bin_seconds = bin_seconds
        self.alpha = alpha
        self.warmup = warmup
        self.first_bin: int | None = None
        self.latest_bin: int | None = None
        self._rates: dict[str, Rate] = {}

    def _bin(self, ts: float) -> int:
        return int(ts // self.bin_seconds)

    def observe(self, key: str, ts: float) -> Burst:
        """Count one item of ``key`` arriving at ``ts``; an item older than the current bin counts in it."""
        b = self._bin(ts)
        if self.first_bin is None:
            self.first_bin = b
        if self.latest_bin is None or b > self.latest_bin:
            self.latest_bin = b
            self.forget_quiet(ts)
        rate = self._rates.get(key)
        if rate is None:
            rate = self._rates[key] = Rate(b)
        rate.close(b, self.alpha)
        rate.count += 1
        return Burst(key, rate.count, rate.mean)

    def prime(self, key: str, timestamps: Iterable[float]) -> None:
        """Replay past arrivals of ``key`` (after a restart), oldest first."""
        for ts in sorted(timestamps):
            self.observe(key, ts)

    def warmed_up(self, ts: float) -> bool:
        return self.first_bin is not None and self._bin(ts) - self.first_bin >= self.warmup

    def bursting(self, burst: Burst, ts: float, factor: float, min_count: int) -> bool:
        """Whether ``burst`` (just returned by ``observe``) is ``factor`` times its baseline, with enough items."""
        return self.warmed_up(ts) and burst.count >= min_count and burst.count >= factor * burst.baseline

    def forget_quiet(self, ts: float) -> int:
        """Drop keys with no item in the last ``MAX_DECAY_BINS`` bins (their baseline has decayed to nothing, so
        their state equals a new key's); returns how many were dropped."""
        quiet = [k for k, r in self._rates.items() if r.bin < self._bin(ts) - MAX_DECAY_BINS]
        for key in quiet:
            del self._rates[key]
        return len(quiet)

    def __len__(self) -> int:
        return len(self._rates)
