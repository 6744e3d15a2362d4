"""Online topics: cosine micro-clusters over unit sentence embeddings, with no fixed number of topics.

An item joins the nearest topic when its cosine similarity to that topic's centre reaches ``threshold``, and
starts a new topic otherwise. Two topics whose centres come closer than ``merge_threshold`` merge (the larger keeps
its id), topics idle for ``forget_after`` seconds are forgotten, and at most ``max_topics`` are kept.

Each topic also runs a two-way online k-means over its own members (its two *halves*). When both halves hold at
least ``min_split_size`` items and their centres are less similar than ``split_threshold``, the topic splits: the
larger half keeps the id, the other becomes a new topic. ``split_threshold`` stays below ``merge_threshold`` so a
split never merges straight back. Merges, splits and forgetting are reported as ``TopicEvent``s, so ids stay
stable and history stays readable. A topic's term counts count a word once per item that uses it. With
``term_half_life`` (seconds), those counts halve over that much stream time, so its keywords follow what it is
about now. The model follows river's ``learn_one`` / ``predict_one`` contract; ``update`` learns and says which
topic the item joined.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.keywords import ctfidf, prune, words


def _unit(v: np.ndarray) -> np.ndarray:
    norm = math.sqrt(v.dot(v))
    return v / norm if norm else v


@dataclass
class Topic:
    """One topic: its running sum of member vectors, size, time span, term counts (decayed up to ``terms_at``)
    and nearest members, and the two halves it would split into (vector sums, sizes and term counts;
    representatives carry their half)."""

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

    def __post_init__(self) -> None:
        if self.half_sums is None:
            self.reset_halves()
        self.representatives = [(float(r[0]), str(r[1]), int(r[2]) if len(r) > 2 else 0)
                                for r in self.representatives]

    def reset_halves(self) -> None:
        """Start the two-way split over: every member in half 0."""
        self.half_sums = np.stack([self.vector_sum, np.zeros_like(self.vector_sum)])
        self.half_sizes = [self.size, 0]
        self.half_terms = [Counter(self.terms), Counter()]

    @property
    def centroid(self) -> np.ndarray:
        return _unit(self.vector_sum)


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


def as_vector(x: np.ndarray | Mapping[int, float]) -> np.ndarray:
    """A unit float32 vector from an array or from river's ``{index: value}`` dict; ``ValueError`` for a vector
    that has no direction (all zeros, or not finite)."""
    v = np.asarray([x[k] for k in sorted(x)] if isinstance(x, Mapping) else x, dtype=np.float32).ravel()
    if not np.isfinite(v).all() or not v.any():
        raise ValueError("an embedding must be finite and not all zeros")
    return _unit(v)


class OnlineTopicModel:
    """Cosine micro-cluster topic model; see the module docstring for the rules."""

    def __init__(self, threshold: float = 0.5, merge_threshold: float = 0.8, max_topics: int = 500,
                 forget_after: float = 7 * 86400.0, max_terms: int = 300, representatives: int = 5,
                 check_every: int = 256, split_threshold: float = 0.0, min_split_size: int = 10,
                 max_chars: int = 2000, term_half_life: float = 0.0) -> None:
        if not 0 < threshold <= merge_threshold <= 1:
            raise ValueError("need 0 < threshold <= merge_threshold <= 1")
        if not 0 <= split_threshold < merge_threshold:
            raise ValueError("need 0 <= split_threshold < merge_threshold (0 turns splitting off)")
        self.threshold = threshold
        self.merge_threshold = merge_threshold
        self.split_threshold = split_threshold
        self.min_split_size = min_split_size
        self.max_chars = max_chars
        self.term_half_life = term_half_life
        self.max_topics = max_topics
        self.forget_after = forget_after
        self.max_terms = max_terms
        self.n_representatives = representatives
        self.check_every = check_every
        self.next_id = 1
        self.updates = 0
        self._topics: dict[int, Topic] = {}
        self._ids: list[int] = []
        self._rows: dict[int, int] = {}
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._corpus: tuple[Counter[str], int] | None = None
        self._dirty: set[int] = set()
        self._events: list[TopicEvent] = []

    # river's contract -------------------------------------------------------------------------------------------
    def learn_one(self, x: np.ndarray | Mapping[int, float], *, text: str = "", item_id: str = "",
                  ts: float = 0.0) -> None:
        self.update(x, text=text, item_id=item_id, ts=ts)

    def predict_one(self, x: np.ndarray | Mapping[int, float]) -> int:
        """The id of the topic ``x`` would join, or -1 when it would start a new one."""
        if not self._ids:
            return -1
        sims = self._matrix[: len(self._ids)] @ as_vector(x)
        best = int(sims.argmax())
        return self._ids[best] if sims[best] >= self.threshold else -1

    # learning ---------------------------------------------------------------------------------------------------
    def update(self, x: np.ndarray | Mapping[int, float], *, text: str = "", item_id: str = "",
               ts: float = 0.0) -> int:
        """Learn one item and return the id of the topic it now belongs to."""
        v = as_vector(x)
        if self._ids and len(v) != self._matrix.shape[1]:
            raise ValueError(f"an embedding of {len(v)} dimensions, but this model's topics have "
                             f"{self._matrix.shape[1]}")
        terms = list(dict.fromkeys(words(text[: self.max_chars])))
        sims = self._matrix[: len(self._ids)] @ v if self._ids else np.zeros(0, dtype=np.float32)
        best = int(sims.argmax()) if len(sims) else -1
        if best >= 0 and sims[best] >= self.threshold:
            tid = self._join(self._ids[best], v, float(sims[best]), terms, item_id, ts)
            tid = self._merge_nearest(tid, ts)
        else:
            tid = self._create(v, terms, item_id, ts)
        self.updates += 1
        if self.updates % self.check_every == 0:
            self.forget(ts)
        return tid

    def _make_room(self, ts: float, keep: int | None = None) -> None:
        """At the cap, forget the longest-idle topic (never ``keep``)."""
        if len(self._ids) >= self.max_topics:
            oldest = min((t for t in self._topics.values() if t.id != keep),
                         key=lambda t: (t.last_seen, t.size, t.id))
            self._remove(oldest.id, None, ts)

    def _create(self, v: np.ndarray, terms: list[str], item_id: str, ts: float) -> int:
        self._make_room(ts)
        topic = Topic(id=self.next_id, vector_sum=v.astype(np.float64), size=1, first_seen=ts, last_seen=ts,
                      terms=Counter(terms), representatives=[(1.0, item_id, 0)] if item_id else [], terms_at=ts)
        self.next_id += 1
        self._add(topic)
        return topic.id

    def _join(self, tid: int, v: np.ndarray, sim: float, terms: list[str], item_id: str, ts: float) -> int:
        topic = self._topics[tid]
        topic.vector_sum += v
        topic.size += 1
        topic.last_seen = max(topic.last_seen, ts)
        topic.first_seen = min(topic.first_seen, ts)
        self._decay(topic, ts)
        self._add_terms(topic, terms)
        half = self._halve(topic, v, terms) if self.split_threshold else 0
        reps = topic.representatives
        if item_id and (len(reps) < self.n_representatives or sim > reps[-1][0]):
            topic.representatives = sorted([*reps, (sim, item_id, half)], key=lambda r: -r[0])[: self.n_representatives]
        self._matrix[self._rows[tid]] = topic.centroid
        self._dirty.add(tid)
        if self.split_threshold and min(topic.half_sizes) >= self.min_split_size:
            halves = self._split(topic, ts)
            if halves is not None:
                return halves[half]
        return tid

    def _halve(self, topic: Topic, v: np.ndarray, terms: list[str]) -> int:
        """Put a new member in the nearer half (the first member far from half 0 seeds half 1); return which."""
        assert topic.half_sums is not None
        near = _unit(topic.half_sums[0]) @ v
        other = _unit(topic.half_sums[1]) @ v if topic.half_sizes[1] else self.split_threshold
        half = int(other > near)
        topic.half_sums[half] += v
        topic.half_sizes[half] += 1
        topic.half_terms[half].update(terms)
        if len(topic.half_terms[half]) > 2 * self.max_terms:
            topic.half_terms[half] = prune(topic.half_terms[half], self.max_terms)
        return half

    def _split(self, topic: Topic, ts: float) -> tuple[int, int] | None:
        """Split ``topic`` in two when its halves have drifted apart; the ids that halves 0 and 1 now belong to."""
        assert topic.half_sums is not None
        if float(_unit(topic.half_sums[0]) @ _unit(topic.half_sums[1])) >= self.split_threshold:
            return None
        self._make_room(ts, keep=topic.id)
        keep = int(topic.half_sizes[1] > topic.half_sizes[0])
        go = 1 - keep
        child = Topic(id=self.next_id, vector_sum=topic.half_sums[go].copy(), size=topic.half_sizes[go],
                      first_seen=topic.first_seen, last_seen=ts, terms=Counter(topic.half_terms[go]),
                      representatives=[(r[0], r[1], 0) for r in topic.representatives if r[2] == go],
                      terms_at=topic.terms_at)
        self.next_id += 1
        topic.vector_sum = topic.half_sums[keep].copy()
        topic.size = topic.half_sizes[keep]
        topic.terms = Counter(topic.half_terms[keep])
        topic.representatives = [(r[0], r[1], 0) for r in topic.representatives if r[2] == keep]
        topic.reset_halves()
        self._matrix[self._rows[topic.id]] = topic.centroid
        self._add(child)
        self._events.append(TopicEvent("split", topic.id, child.id, ts, child.size))
        return (topic.id, child.id) if keep == 0 else (child.id, topic.id)

    def _merge_nearest(self, tid: int, ts: float) -> int:
        if len(self._ids) < 2:
            return tid
        row = self._rows[tid]
        sims = self._matrix[: len(self._ids)] @ self._matrix[row]
        sims[row] = -1.0
        other = int(sims.argmax())
        if sims[other] < self.merge_threshold:
            return tid
        a, b = self._topics[tid], self._topics[self._ids[other]]
        self._decay(a, ts, always=True)
        self._decay(b, ts, always=True)
        keep, gone = (a, b) if (a.size, -a.id) >= (b.size, -b.id) else (b, a)
        keep.vector_sum = keep.vector_sum + gone.vector_sum
        keep.size += gone.size
        keep.first_seen = min(keep.first_seen, gone.first_seen)
        keep.last_seen = max(keep.last_seen, gone.last_seen)
        keep.representatives = sorted([(r[0], r[1], 0) for r in keep.representatives]
                                      + [(r[0], r[1], 1) for r in gone.representatives],
                                      key=lambda r: -r[0])[: self.n_representatives]
        keep.half_sums = np.stack([keep.vector_sum - gone.vector_sum, gone.vector_sum])
        keep.half_sizes = [keep.size - gone.size, gone.size]
        keep.half_terms = [prune(keep.terms, self.max_terms), prune(gone.terms, self.max_terms)]
        moved = gone.terms
        self._remove(gone.id, keep.id, ts)
        self._add_terms(keep, moved)
        self._matrix[self._rows[keep.id]] = keep.centroid
        self._dirty.add(keep.id)
        return keep.id

    def forget(self, now: float) -> list[int]:
        """Forget topics idle for longer than ``forget_after`` seconds before ``now``; return their ids."""
        stale = [t.id for t in self._topics.values() if now - t.last_seen > self.forget_after]
        for tid in stale:
            self._remove(tid, None, now)
        return stale

    # bookkeeping ------------------------------------------------------------------------------------------------
    def _add(self, topic: Topic) -> None:
        n = len(self._ids)
        if self._matrix.shape[0] <= n:
            grown = np.zeros((max(16, 2 * n), topic.vector_sum.shape[0]), dtype=np.float32)
            if n:
                grown[:n] = self._matrix[:n]
            self._matrix = grown
        self._matrix[n] = topic.centroid
        self._ids.append(topic.id)
        self._rows[topic.id] = n
        self._topics[topic.id] = topic
        self._corpus = None
        self._dirty.add(topic.id)

    def _remove(self, tid: int, merged_into: int | None, ts: float) -> None:
        row = self._rows.pop(tid)
        last = len(self._ids) - 1
        self._matrix[row] = self._matrix[last]
        self._ids[row] = self._ids[last]
        self._ids.pop()
        if row != last:
            self._rows[self._ids[row]] = row
        topic = self._topics.pop(tid)
        self._corpus = None
        self._dirty.discard(tid)
        self._events.append(TopicEvent("merge" if merged_into else "forget", tid, merged_into, ts, topic.size))

    def _decay(self, topic: Topic, ts: float, always: bool = False) -> None:
        """Age the topic's term counts to ``ts`` by ``term_half_life``: at most once per 1/24 of it, unless
        ``always`` (before a merge, so both topics' counts are of the same moment)."""
        elapsed = ts - topic.terms_at
        if not self.term_half_life or elapsed <= 0 or (elapsed < self.term_half_life / 24 and not always):
            return
        factor = 0.5 ** (elapsed / self.term_half_life)
        for counts in (topic.terms, *topic.half_terms):
            for term in counts:
                counts[term] *= factor
        topic.terms_at = ts

    def _add_terms(self, topic: Topic, terms: Counter[str] | list[str]) -> None:
        topic.terms.update(terms)
        self._corpus = None
        if len(topic.terms) > 2 * self.max_terms:
            topic.terms = prune(topic.terms, self.max_terms)

    def corpus(self) -> tuple[Counter[str], int]:
        """Term counts over all live topics and their total, summed when first asked after a change.

        Summing on demand costs about 25 ms at 400 topics, once per batch that asks for keywords; keeping running
        totals instead (adding each item's words, taking out what pruning, decay, merges and forgetting remove)
        made every update about 22% slower (11.7k -> 9.1k items/s on 20 Newsgroups, measured by hand)."""
        if self._corpus is None:
            terms: Counter[str] = Counter()
            for topic in self._topics.values():
                terms.update(topic.terms)
            self._corpus = terms, terms.total()
        return self._corpus

    # reading ----------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def topics(self) -> list[Topic]:
        """The live topics, largest first."""
        return sorted(self._topics.values(), key=lambda t: (-t.size, t.id))

    def get(self, tid: int) -> Topic | None:
        return self._topics.get(tid)

    def keywords(self, tid: int, top: int = 8) -> list[str]:
        """The topic's ``top`` keywords by c-TF-IDF against all live topics."""
        topic = self._topics.get(tid)
        if topic is None:
            return []
        terms, total = self.corpus()
        return ctfidf(topic.terms, terms, total / max(len(self._ids), 1), top)

    def drain_changes(self) -> TopicChanges:
        """Topics created or changed and topics removed since the last call (for saving them)."""
        changes = TopicChanges(updated=[self._topics[t] for t in sorted(self._dirty)], events=self._events)
        self._dirty, self._events = set(), []
        return changes

    @classmethod
    def restore(cls, topics: Iterable[Topic], next_id: int, updates: int, **settings: float) -> OnlineTopicModel:
        """Rebuild a model from saved topics and counters, with the given settings."""
        model = cls(**settings)  # type: ignore[arg-type]
        for topic in topics:
            model._add(topic)
        model.next_id = max([next_id, *(t.id + 1 for t in model._topics.values())])
        model.updates = updates
        model._dirty.clear()
        return model


def group_topics(centroids: np.ndarray, sizes: Sequence[int], groups: int, seed: int = 0) -> np.ndarray:
    """Sort topics into at most ``groups`` broad groups (fewer when fewer topics differ); each topic's group number.

    k-means over the unit topic centres, each weighted by its topic's size, so a group's centre is the mean of the
    items it holds (the macro-clustering step of stream clusterers such as CluStream, done when asked for).
    """
    from sklearn.cluster import KMeans  # only grouping needs it; the daemon's start-up does not

    points = np.asarray(centroids, dtype=np.float64)
    k = min(groups, len(np.unique(points.round(6), axis=0)) if len(points) else 0)
    if k < 2:
        return np.zeros(len(sizes), dtype=int)
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(
        points, sample_weight=np.asarray(sizes, dtype=np.float64))


def hierarchy(ids: list[int], centroids: np.ndarray, sizes: list[int], groups: int) -> dict[int, int]:
    """Related topics for browsing: ``group_topics`` into ``groups``, each group headed by its largest topic.

    Returns each grouped topic's parent, the head of its group; a topic alone in its group, and every head, is
    left out.
    """
    assignment = group_topics(centroids, sizes, groups).tolist()
    parents: dict[int, int] = {}
    for group in set(assignment):
        members = [i for i, g in enumerate(assignment) if g == group]
        head = max(members, key=lambda i: (sizes[i], -ids[i]))
        parents.update({ids[i]: ids[head] for i in members if i != head})
    return parents


DISTRIBUTION_TEMPERATURE = 0.05


def similarity_softmax(sims: np.ndarray, temperature: float = DISTRIBUTION_TEMPERATURE) -> np.ndarray:
    """Probabilities from cosine similarities (along the last axis): a softmax at ``temperature``."""
    logits = (sims - sims.max(axis=-1, keepdims=True)) / temperature
    probs = np.exp(logits)
    return probs / probs.sum(axis=-1, keepdims=True)


def topic_distribution(embedding: np.ndarray, ids: list[int], centres: np.ndarray,
                       temperature: float = DISTRIBUTION_TEMPERATURE) -> list[tuple[int, float, float]]:
    """How much an item belongs to each topic: ``(topic id, cosine similarity, probability)``, most likely first.

    The probabilities are a softmax of the cosine similarities of ``embedding`` to the unit topic ``centres`` (one
    row per id in ``ids``) at ``temperature``; at 0.05 a topic 0.1 more similar is e^2 (about 7) times as likely.
    """
    if not ids:
        return []
    v = as_vector(embedding)
    if centres.shape != (len(ids), v.shape[0]):
        raise ValueError(f"expected {len(ids)} centres of dimension {v.shape[0]}, got shape {centres.shape}")
    sims = centres @ v
    probs = similarity_softmax(sims, temperature)
    order = np.argsort(-probs, kind="stable")
    return [(ids[i], float(sims[i]), float(probs[i])) for i in order]
