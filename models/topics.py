"""Online topics: cosine micro-clusters over unit sentence embeddings, with no fixed number of topics.

An item joins the nearest topic when its cosine similarity to that topic's centre reaches ``threshold``, and
starts a new topic otherwise. With ``adaptive``, granularity follows the stream instead: an item's score for a
topic is its mean similarity to the topic's members (the cosine to the centre times the topic's cohesion, so a
broad topic draws less than a tight one), and the bar it must reach is ``mu + contrast * (1 - mu)``, where ``mu``
is the mean similarity of two items the model holds (computed from the topics' vector sums, so it needs no state
of its own; shrunk towards ``PRIOR_MEAN`` while few items are held), at most ``BAR_CEILING`` so that a stream of
near-duplicates still gathers. A broad topic (its members less similar to each other than ``BAR_CEILING`` on
average) holding more than ``max_share`` of the items held (and more than ``2 * min_split_size``) then splits into
its halves even when they are close, and no merge makes such a topic. Its second half is seeded by the first member
less similar to the first half's centre than the topic's cohesion (or ``split_threshold``, if higher).

Two topics whose centres come closer than ``merge_threshold`` merge (the larger keeps its id), topics idle for
``forget_after`` seconds are forgotten, and at most ``max_topics`` are kept. ``topic_groups`` (re-exported here)
groups the topics into a few broad groups on demand: the second level of the hierarchy.

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
from collections.abc import Iterable, Mapping

import numpy as np

from models.keywords import ctfidf, prune, words
from models.topic_groups import (
    DISTRIBUTION_TEMPERATURE,
    group_topics,
    hierarchy,
    similarity_softmax,
    topic_distribution,
)
from models.topic_state import Topic, TopicChanges, TopicEvent, as_vector, unit

__all__ = ["DISTRIBUTION_TEMPERATURE", "OnlineTopicModel", "Topic", "TopicChanges", "TopicEvent", "as_vector",
           "group_topics", "hierarchy", "similarity_softmax", "topic_distribution"]

PRIOR_MEAN, PRIOR_PAIRS = 0.1, 1000.0
BAR_CEILING = 0.5
CANDIDATES = 2


class OnlineTopicModel:
    """Cosine micro-cluster topic model; see the module docstring for the rules."""

    def __init__(self, threshold: float = 0.5, merge_threshold: float = 0.8, max_topics: int = 500,
                 forget_after: float = 7 * 86400.0, max_terms: int = 300, representatives: int = 5,
                 check_every: int = 256, split_threshold: float = 0.0, min_split_size: int = 10,
                 max_chars: int = 2000, term_half_life: float = 0.0, adaptive: bool = False, contrast: float = 0.2,
                 max_share: float = 0.1) -> None:
        if not 0 < threshold <= merge_threshold <= 1:
            raise ValueError("need 0 < threshold <= merge_threshold <= 1")
        if not 0 <= split_threshold < merge_threshold:
            raise ValueError("need 0 <= split_threshold < merge_threshold (0 turns splitting off)")
        if not (0 < contrast < 1 and 0 < max_share <= 1):
            raise ValueError("need 0 < contrast < 1 and 0 < max_share <= 1")
        self.adaptive = adaptive
        self.contrast = contrast
        self.max_share = max_share
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
        self._cohesion = np.zeros(0, dtype=np.float32)
        self._total: np.ndarray | None = None
        self._held = 0
        self._corpus: tuple[Counter[str], int] | None = None
        self._dirty: set[int] = set()
        self._stale: set[int] = set()
        self._events: list[TopicEvent] = []

    # river's contract -------------------------------------------------------------------------------------------
    def learn_one(self, x: np.ndarray | Mapping[int, float], *, text: str = "", item_id: str = "",
                  ts: float = 0.0) -> None:
        self.update(x, text=text, item_id=item_id, ts=ts)

    def predict_one(self, x: np.ndarray | Mapping[int, float]) -> int:
        """The id of the topic ``x`` would join, or -1 when it would start a new one."""
        if not self._ids:
            return -1
        scores = self._scores(as_vector(x))
        best = int(scores.argmax())
        return self._ids[best] if scores[best] >= self.bar() else -1

    def _scores(self, v: np.ndarray) -> np.ndarray:
        """Each topic's score for ``v``: its cosine to the centre, times the topic's cohesion when ``adaptive``."""
        sims = self._matrix[: len(self._ids)] @ v
        return sims * self._cohesion[: len(self._ids)] if self.adaptive else sims

    def bar(self) -> float:
        """The score an item needs to join a topic: ``threshold``, or with ``adaptive`` the bar the held items set
        (see the module docstring)."""
        if not self.adaptive:
            return self.threshold
        n = self._held
        same = (float(self._total @ self._total) - n) / 2 if self._total is not None else 0.0
        mu = (same + PRIOR_MEAN * PRIOR_PAIRS) / (n * (n - 1) / 2 + PRIOR_PAIRS)
        return min(mu + self.contrast * (1 - mu), BAR_CEILING)

    def _too_broad(self, vector_sum: np.ndarray, size: int) -> bool:
        """Whether a topic of this sum and size is past the cap (``adaptive`` only): more than ``max_share`` of
        the held items and ``2 * min_split_size``, with members less similar to each other than ``BAR_CEILING``
        on average (so a flood of near-duplicates stays one topic)."""
        if not self.adaptive or size <= max(self.max_share * self._held, 2.0 * self.min_split_size):
            return False
        return (float(vector_sum @ vector_sum) - size) / (size * (size - 1)) < BAR_CEILING

    # learning ---------------------------------------------------------------------------------------------------
    def update(self, x: np.ndarray | Mapping[int, float], *, text: str = "", item_id: str = "",
               ts: float = 0.0) -> int:
        """Learn one item and return the id of the topic it now belongs to."""
        v = as_vector(x)
        if self._ids and len(v) != self._matrix.shape[1]:
            raise ValueError(f"an embedding of {len(v)} dimensions, but this model's topics have "
                             f"{self._matrix.shape[1]}")
        terms = list(dict.fromkeys(words(text[: self.max_chars])))
        scores = self._scores(v) if self._ids else np.zeros(0, dtype=np.float32)
        best = int(scores.argmax()) if len(scores) else -1
        self._hold(v)
        if best >= 0 and scores[best] >= self.bar():
            tid = self._join(self._ids[best], v, terms, item_id, ts)
            tid = self._merge_nearest(tid, ts)
        else:
            tid = self._create(v, terms, item_id, ts)
        self.updates += 1
        if self.updates % self.check_every == 0:
            self.forget(ts)
        return tid

    def _hold(self, v: np.ndarray) -> None:
        """Count ``v`` among the held items (whose vector sum sets the adaptive bar)."""
        if self._total is None:
            self._total = v.astype(np.float64)
        else:
            self._total += v
        self._held += 1

    def _make_room(self, ts: float, keep: int | None = None) -> None:
        """At the cap, forget the longest-idle topic (never ``keep``)."""
        if len(self._ids) >= self.max_topics:
            oldest = min((t for t in self._topics.values() if t.id != keep),
                         key=lambda t: (t.last_seen, t.size, t.id))
            self._remove(oldest.id, None, ts)

    def _create(self, v: np.ndarray, terms: list[str], item_id: str, ts: float) -> int:
        self._make_room(ts)
        topic = Topic(id=self.next_id, vector_sum=v.astype(np.float64), size=1, first_seen=ts, last_seen=ts,
                      terms=Counter(terms), representatives=[(1.0, item_id, 0)] if item_id else [], terms_at=ts,
                      candidates=[(1.0, item_id, 0)] if item_id else [], rep_vectors=v[None, :] if item_id else None)
        self.next_id += 1
        self._add(topic)
        return topic.id

    def _join(self, tid: int, v: np.ndarray, terms: list[str], item_id: str, ts: float) -> int:
        topic = self._topics[tid]
        topic.vector_sum += v
        topic.size += 1
        topic.last_seen = max(topic.last_seen, ts)
        topic.first_seen = min(topic.first_seen, ts)
        topic.decay(ts, self.term_half_life)
        self._add_terms(topic, terms)
        seed = max(self.split_threshold, topic.cohesion) if self.adaptive else self.split_threshold
        half = topic.halve(v, terms, seed, self.max_terms) if self.split_threshold else 0
        self._place(topic)
        if item_id:
            topic.offer(v, item_id, half, self._matrix[self._rows[topic.id]], CANDIDATES * self.n_representatives)
            self._stale.add(tid)
        self._dirty.add(tid)
        if self.split_threshold and min(topic.half_sizes) >= self.min_split_size:
            halves = self._split(topic, ts)
            if halves is not None:
                return halves[half]
        return tid

    def _place(self, topic: Topic) -> None:
        """Write the topic's centre and cohesion into its row."""
        row = self._rows[topic.id]
        norm = math.sqrt(topic.vector_sum.dot(topic.vector_sum))
        self._matrix[row] = topic.vector_sum / norm if norm else topic.vector_sum
        self._cohesion[row] = norm / topic.size if topic.size else 1.0

    def _split(self, topic: Topic, ts: float) -> tuple[int, int] | None:
        """Split ``topic`` in two when its halves have drifted apart; the ids that halves 0 and 1 now belong to."""
        assert topic.half_sums is not None
        apart = float(unit(topic.half_sums[0]) @ unit(topic.half_sums[1])) < self.split_threshold
        if not apart and not self._too_broad(topic.vector_sum, topic.size):
            return None
        self._make_room(ts, keep=topic.id)
        keep = int(topic.half_sizes[1] > topic.half_sizes[0])
        go = 1 - keep
        pool, vectors = topic.split_typical(go)
        child = Topic(id=self.next_id, vector_sum=topic.half_sums[go].copy(), size=topic.half_sizes[go],
                      first_seen=topic.first_seen, last_seen=ts, terms=Counter(topic.half_terms[go]),
                      terms_at=topic.terms_at)
        child.keep_typical(pool, vectors, len(pool), self.n_representatives)
        self.next_id += 1
        topic.vector_sum = topic.half_sums[keep].copy()
        topic.size = topic.half_sizes[keep]
        topic.terms = Counter(topic.half_terms[keep])
        topic.keep_typical(*topic.split_typical(keep), CANDIDATES * self.n_representatives, self.n_representatives)
        topic.reset_halves()
        self._place(topic)
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
        a, b = self._topics[tid], self._topics[self._ids[other]]
        if sims[other] < self.merge_threshold or self._too_broad(a.vector_sum + b.vector_sum, a.size + b.size):
            return tid
        a.decay(ts, self.term_half_life, always=True)
        b.decay(ts, self.term_half_life, always=True)
        keep, gone = (a, b) if (a.size, -a.id) >= (b.size, -b.id) else (b, a)
        keep.vector_sum = keep.vector_sum + gone.vector_sum
        keep.size += gone.size
        keep.first_seen = min(keep.first_seen, gone.first_seen)
        keep.last_seen = max(keep.last_seen, gone.last_seen)
        assert keep.candidates is not None and gone.candidates is not None
        keep.keep_typical([(r[0], r[1], 0) for r in keep.candidates] + [(r[0], r[1], 1) for r in gone.candidates],
                          np.vstack([keep.rep_vectors, gone.rep_vectors]), CANDIDATES * self.n_representatives,
                          self.n_representatives)
        keep.half_sums = np.stack([keep.vector_sum - gone.vector_sum, gone.vector_sum])
        keep.half_sizes = [keep.size - gone.size, gone.size]
        keep.half_terms = [prune(keep.terms, self.max_terms), prune(gone.terms, self.max_terms)]
        moved = gone.terms
        self._remove(gone.id, keep.id, ts)
        self._add_terms(keep, moved)
        self._place(keep)
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
            cohesion = np.zeros(grown.shape[0], dtype=np.float32)
            if n:
                grown[:n], cohesion[:n] = self._matrix[:n], self._cohesion[:n]
            self._matrix, self._cohesion = grown, cohesion
        self._ids.append(topic.id)
        self._rows[topic.id] = n
        self._topics[topic.id] = topic
        self._place(topic)
        self._corpus = None
        self._dirty.add(topic.id)

    def _remove(self, tid: int, merged_into: int | None, ts: float) -> None:
        row = self._rows.pop(tid)
        last = len(self._ids) - 1
        self._matrix[row] = self._matrix[last]
        self._cohesion[row] = self._cohesion[last]
        self._ids[row] = self._ids[last]
        self._ids.pop()
        if row != last:
            self._rows[self._ids[row]] = row
        topic = self._topics.pop(tid)
        self._stale.discard(tid)
        if merged_into is None and self._total is not None:
            self._total -= topic.vector_sum
            self._held -= topic.size
        self._corpus = None
        self._dirty.discard(tid)
        self._events.append(TopicEvent("merge" if merged_into else "forget", tid, merged_into, ts, topic.size))

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
        """The live topics, largest first, their representatives those nearest their centres now."""
        for tid in list(self._stale):
            self._typical(self._topics[tid])
        return sorted(self._topics.values(), key=lambda t: (-t.size, t.id))

    def get(self, tid: int) -> Topic | None:
        """The live topic ``tid`` (None when it is not), its representatives those nearest its centre now."""
        topic = self._topics.get(tid)
        if topic is not None and tid in self._stale:
            self._typical(topic)
        return topic

    def _typical(self, topic: Topic) -> None:
        """Score the topic's candidates against its centre now; the nearest become its representatives."""
        assert topic.rep_vectors is not None and topic.candidates is not None
        topic.keep_typical(topic.candidates, topic.rep_vectors, len(topic.candidates), self.n_representatives)
        self._stale.discard(topic.id)

    def keywords(self, tid: int, top: int = 8) -> list[str]:
        """The topic's ``top`` keywords by c-TF-IDF against all live topics."""
        topic = self._topics.get(tid)
        if topic is None:
            return []
        terms, total = self.corpus()
        return ctfidf(topic.terms, terms, total / max(len(self._ids), 1), top)

    def drain_changes(self) -> TopicChanges:
        """Topics created or changed and topics removed since the last call (for saving them), each with its
        representatives scored against its centre as it is now, nearest first."""
        updated = [self._topics[t] for t in sorted(self._dirty)]
        for topic in updated:
            if topic.id in self._stale:
                self._typical(topic)
        changes = TopicChanges(updated=updated, events=self._events)
        self._dirty, self._events = set(), []
        return changes

    @classmethod
    def restore(cls, topics: Iterable[Topic], next_id: int, updates: int, **settings: float) -> OnlineTopicModel:
        """Rebuild a model from saved topics and counters, with the given settings."""
        model = cls(**settings)  # type: ignore[arg-type]
        for topic in topics:
            model._add(topic)
            model._total = topic.vector_sum.copy() if model._total is None else model._total + topic.vector_sum
            model._held += topic.size
        model.next_id = max([next_id, *(t.id + 1 for t in model._topics.values())])
        model.updates = updates
        model._dirty.clear()
        return model
