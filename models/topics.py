"""Online topics: cosine micro-clusters over unit sentence embeddings, with no fixed number of topics.

An item joins the nearest topic when its cosine similarity to that topic's centre reaches ``threshold``, and
starts a new topic otherwise. Two topics whose centres come closer than ``merge_threshold`` merge (the larger keeps
its id), topics idle for ``forget_after`` seconds are forgotten, and at most ``max_topics`` are kept. The model
follows river's ``learn_one`` / ``predict_one`` contract; ``update`` learns and says which topic the item joined.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from models.keywords import ctfidf, prune, words


@dataclass
class Topic:
    """One topic: its running sum of member vectors, size, time span, term counts and nearest members."""

    id: int
    vector_sum: np.ndarray
    size: int
    first_seen: float
    last_seen: float
    terms: Counter[str] = field(default_factory=Counter)
    representatives: list[tuple[float, str]] = field(default_factory=list)

    @property
    def centroid(self) -> np.ndarray:
        norm = float(np.linalg.norm(self.vector_sum))
        return self.vector_sum / norm if norm else self.vector_sum


@dataclass
class TopicChanges:
    """What changed since the last ``drain_changes``: topics to save, and removed ids with their merge target."""

    updated: list[Topic]
    removed: dict[int, int | None]


def as_vector(x: np.ndarray | Mapping[int, float]) -> np.ndarray:
    """A unit float32 vector from an array or from river's ``{index: value}`` dict."""
    v = np.asarray([x[k] for k in sorted(x)] if isinstance(x, Mapping) else x, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


class OnlineTopicModel:
    """Cosine micro-cluster topic model; see the module docstring for the rules."""

    def __init__(self, threshold: float = 0.5, merge_threshold: float = 0.8, max_topics: int = 500,
                 forget_after: float = 7 * 86400.0, max_terms: int = 300, representatives: int = 5,
                 check_every: int = 256) -> None:
        if not 0 < threshold <= merge_threshold <= 1:
            raise ValueError("need 0 < threshold <= merge_threshold <= 1")
        self.threshold = threshold
        self.merge_threshold = merge_threshold
        self.max_topics = max_topics
        self.forget_after = forget_after
        self.max_terms = max_terms
        self.n_representatives = representatives
        self.check_every = check_every
        self.next_id = 1
        self.updates = 0
        self._topics: dict[int, Topic] = {}
        self._ids: list[int] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._all_terms: Counter[str] = Counter()
        self._total_terms = 0
        self._dirty: set[int] = set()
        self._removed: dict[int, int | None] = {}

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
        terms = Counter(words(text))
        sims = self._matrix[: len(self._ids)] @ v if self._ids else np.zeros(0, dtype=np.float32)
        best = int(sims.argmax()) if len(sims) else -1
        if best >= 0 and sims[best] >= self.threshold:
            tid = self._join(self._ids[best], v, float(sims[best]), terms, item_id, ts)
            tid = self._merge_nearest(tid)
        else:
            tid = self._create(v, terms, item_id, ts)
        self.updates += 1
        if self.updates % self.check_every == 0:
            self.forget(ts)
        return tid

    def _create(self, v: np.ndarray, terms: Counter[str], item_id: str, ts: float) -> int:
        if len(self._ids) >= self.max_topics:
            oldest = min(self._topics.values(), key=lambda t: (t.last_seen, t.size, t.id))
            self._remove(oldest.id, None)
        topic = Topic(id=self.next_id, vector_sum=v.astype(np.float64), size=1, first_seen=ts, last_seen=ts,
                      terms=terms, representatives=[(1.0, item_id)] if item_id else [])
        self.next_id += 1
        self._add(topic)
        return topic.id

    def _join(self, tid: int, v: np.ndarray, sim: float, terms: Counter[str], item_id: str, ts: float) -> int:
        topic = self._topics[tid]
        topic.vector_sum += v
        topic.size += 1
        topic.last_seen = max(topic.last_seen, ts)
        topic.first_seen = min(topic.first_seen, ts)
        self._add_terms(topic, terms)
        if item_id:
            reps = [*topic.representatives, (sim, item_id)]
            topic.representatives = sorted(reps, key=lambda r: -r[0])[: self.n_representatives]
        self._matrix[self._ids.index(tid)] = topic.centroid
        self._dirty.add(tid)
        return tid

    def _merge_nearest(self, tid: int) -> int:
        if len(self._ids) < 2:
            return tid
        row = self._ids.index(tid)
        sims = self._matrix[: len(self._ids)] @ self._matrix[row]
        sims[row] = -1.0
        other = int(sims.argmax())
        if sims[other] < self.merge_threshold:
            return tid
        a, b = self._topics[tid], self._topics[self._ids[other]]
        keep, gone = (a, b) if (a.size, -a.id) >= (b.size, -b.id) else (b, a)
        keep.vector_sum = keep.vector_sum + gone.vector_sum
        keep.size += gone.size
        keep.first_seen = min(keep.first_seen, gone.first_seen)
        keep.last_seen = max(keep.last_seen, gone.last_seen)
        keep.representatives = sorted(keep.representatives + gone.representatives,
                                      key=lambda r: -r[0])[: self.n_representatives]
        moved = gone.terms
        self._remove(gone.id, keep.id)
        self._add_terms(keep, moved)
        self._matrix[self._ids.index(keep.id)] = keep.centroid
        self._dirty.add(keep.id)
        return keep.id

    def forget(self, now: float) -> list[int]:
        """Forget topics idle for longer than ``forget_after`` seconds before ``now``; return their ids."""
        stale = [t.id for t in self._topics.values() if now - t.last_seen > self.forget_after]
        for tid in stale:
            self._remove(tid, None)
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
        self._topics[topic.id] = topic
        self._all_terms.update(topic.terms)
        self._total_terms += topic.terms.total()
        self._dirty.add(topic.id)

    def _remove(self, tid: int, merged_into: int | None) -> None:
        row = self._ids.index(tid)
        last = len(self._ids) - 1
        self._matrix[row] = self._matrix[last]
        self._ids[row] = self._ids[last]
        self._ids.pop()
        topic = self._topics.pop(tid)
        self._forget_terms(topic.terms)
        self._dirty.discard(tid)
        self._removed[tid] = merged_into

    def _add_terms(self, topic: Topic, terms: Counter[str]) -> None:
        topic.terms.update(terms)
        self._all_terms.update(terms)
        self._total_terms += terms.total()
        if len(topic.terms) > 2 * self.max_terms:
            kept = prune(topic.terms, self.max_terms)
            self._forget_terms(topic.terms - kept)
            topic.terms = kept

    def _forget_terms(self, terms: Counter[str]) -> None:
        for term, count in terms.items():
            left = self._all_terms[term] - count
            if left > 0:
                self._all_terms[term] = left
            else:
                del self._all_terms[term]
        self._total_terms -= terms.total()

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
        average = self._total_terms / max(len(self._ids), 1)
        return ctfidf(topic.terms, self._all_terms, average, top) if topic else []

    def drain_changes(self) -> TopicChanges:
        """Topics created or changed and topics removed since the last call (for saving them)."""
        changes = TopicChanges(updated=[self._topics[t] for t in sorted(self._dirty)], removed=self._removed)
        self._dirty, self._removed = set(), {}
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
