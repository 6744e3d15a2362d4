"""The state of one online topic (``Topic``: its halves, typical candidates and decaying term counts) and what the
topic model reports about its changes."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from models.keywords import prune


def unit(v: np.ndarray) -> np.ndarray:
    norm = math.sqrt(v.dot(v))
    return v / norm if norm else v


def as_vector(x: np.ndarray | Mapping[int, float]) -> np.ndarray:
    """A unit float32 vector from an array or from river's ``{index: value}`` dict; ``ValueError`` for a vector
    that has no direction (all zeros, or not finite)."""
    v = np.asarray([x[k] for k in sorted(x)] if isinstance(x, Mapping) else x, dtype=np.float32).ravel()
    if not np.isfinite(v).all() or not v.any():
        raise ValueError("an embedding must be finite and not all zeros")
    return unit(v)


@dataclass
class Topic:
    """One topic: its running sum of member vectors, size, time span, term counts (decayed up to ``terms_at``)
    and typical members, and the two halves it would split into (vector sums, sizes and term counts).

    ``candidates`` are members that may be typical, ``(cosine to the centre, item id, half)``, and ``rep_vectors``
    their unit embeddings, row for row; a new member replaces the candidate farthest from the centre as it is now
    when it is nearer. ``representatives`` are the candidates nearest the current centre, nearest first, refreshed
    by ``keep_typical``. Candidates saved without vectors are dropped.
    """

    id: int
    vector_sum: np.ndarray
    size: int
    first_seen: float
    last_seen: float
    terms: Counter[str] = field(default_factory=Counter)
    representatives: list[tuple[float, str, int]] = field(default_factory=list)
    half_sums: np.ndarray | None = None
    half_sizes: list[int] = field(default_factory=lambda: [0, 0])
    half_terms: list[Counter[str]] = field(default_factory=lambda: [Counter(), Counter()])
    terms_at: float = 0.0
    candidates: list[tuple[float, str, int]] | None = None
    rep_vectors: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.half_sums is None:
            self.reset_halves()
        dim = self.vector_sum.shape[0]
        pool = self.representatives if self.candidates is None else self.candidates
        if self.rep_vectors is None or len(self.rep_vectors) != len(pool):
            pool, self.rep_vectors = [], np.zeros((0, dim), dtype=np.float32)
        self.rep_vectors = np.asarray(self.rep_vectors, dtype=np.float32).reshape(-1, dim)
        self.candidates = [(float(r[0]), str(r[1]), int(r[2]) if len(r) > 2 else 0) for r in pool]
        self.representatives = self.candidates[: len(self.representatives)]

    def reset_halves(self) -> None:
        """Start the two-way split over: every member in half 0."""
        self.half_sums = np.stack([self.vector_sum, np.zeros_like(self.vector_sum)])
        self.half_sizes = [self.size, 0]
        self.half_terms = [Counter(self.terms), Counter()]

    @property
    def centroid(self) -> np.ndarray:
        return unit(self.vector_sum)

    @property
    def cohesion(self) -> float:
        """The mean cosine of the members to the centre (1 for one member, lower the broader the topic)."""
        return math.sqrt(self.vector_sum.dot(self.vector_sum)) / self.size if self.size else 1.0

    def halve(self, v: np.ndarray, terms: list[str], seed: float, max_terms: int) -> int:
        """Put a new member in the nearer half and return which: the first member less similar to half 0's centre
        than ``seed`` starts half 1."""
        assert self.half_sums is not None
        sums = self.half_sums
        dots = sums @ v
        norm = math.sqrt(sums[0].dot(sums[0]))
        near = dots[0] / norm if norm else 0.0
        other = dots[1] / math.sqrt(sums[1].dot(sums[1])) if self.half_sizes[1] else seed
        half = int(other > near)
        sums[half] += v
        self.half_sizes[half] += 1
        self.half_terms[half].update(terms)
        if len(self.half_terms[half]) > 2 * max_terms:
            self.half_terms[half] = prune(self.half_terms[half], max_terms)
        return half

    def offer(self, v: np.ndarray, item_id: str, half: int, centre: np.ndarray, capacity: int) -> None:
        """Make the new member ``v`` a candidate while fewer than ``capacity`` are held, else in place of the one
        farthest from ``centre`` (scored again now) when ``v`` is nearer; the representatives are refreshed by
        ``keep_typical``."""
        assert self.rep_vectors is not None and self.candidates is not None
        if len(self.candidates) < capacity:
            self.candidates.append((0.0, item_id, half))
            self.rep_vectors = np.concatenate((self.rep_vectors, v[None, :]))
            return
        sims = self.rep_vectors @ centre
        far = int(sims.argmin())
        if float(v @ centre) > sims[far]:
            self.candidates[far] = (0.0, item_id, half)
            self.rep_vectors[far] = v

    def decay(self, ts: float, half_life: float, always: bool = False) -> None:
        """Age the term counts to ``ts`` by ``half_life`` seconds (0: never): at most once per 1/24 of it, unless
        ``always`` (before a merge, so both topics' counts are of the same moment)."""
        elapsed = ts - self.terms_at
        if not half_life or elapsed <= 0 or (elapsed < half_life / 24 and not always):
            return
        factor = 0.5 ** (elapsed / half_life)
        for counts in (self.terms, *self.half_terms):
            for term in counts:
                counts[term] *= factor
        self.terms_at = ts

    def keep_typical(self, pool: list[tuple[float, str, int]], vectors: np.ndarray, keep: int, shown: int) -> None:
        """Keep the ``keep`` of ``pool`` (with their ``vectors``) nearest the current centre as candidates, nearest
        first, and the first ``shown`` of them as the representatives."""
        sims = vectors @ self.centroid.astype(np.float32) if len(pool) else np.zeros(0, dtype=np.float32)
        order = sorted(range(len(pool)), key=lambda i: (-sims[i], pool[i][1]))[:keep]
        self.candidates = [(float(sims[i]), pool[i][1], pool[i][2]) for i in order]
        self.rep_vectors = vectors[order]
        self.representatives = self.candidates[:shown]

    def split_typical(self, half: int) -> tuple[list[tuple[float, str, int]], np.ndarray]:
        """The candidates (tagged half 0) and their vectors that belong to ``half``."""
        assert self.rep_vectors is not None and self.candidates is not None
        rows = [i for i, r in enumerate(self.candidates) if r[2] == half]
        return [(self.candidates[i][0], self.candidates[i][1], 0) for i in rows], self.rep_vectors[rows]


@dataclass(frozen=True)
class TopicEvent:
    """A topic left or changed shape: ``merge`` (``topic`` joined ``other``), ``split`` (``other`` split off
    ``topic``), or ``forget`` (idle too long, or pushed out by the cap; ``other`` is None)."""

    kind: str
    topic: int
    other: int | None
    ts: float
    size: int


@dataclass
class TopicChanges:
    """What changed since the last ``drain_changes``: topics to save, and the merge/split/forget events in order."""

    updated: list[Topic]
    events: list[TopicEvent] = field(default_factory=list)

    @property
    def removed(self) -> dict[int, int | None]:
        """Each topic that left, with the topic it merged into (None when forgotten)."""
        return {e.topic: e.other for e in self.events if e.kind != "split"}
