"""Enrichment of stored items: encode once, classify every task, join a topic, evaluate the alert rules.

``Pipeline.enrich`` is plain synchronous code (it runs on a worker thread); the daemon commits what it returns. It
is two halves: ``classify`` (encode and classify: stateless, so a ``lookout worker`` on another machine can do it)
and ``commit`` (topics, bursts, rules: the daemon's state).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.classifier import Classifier, Prediction
from models.topics import OnlineTopicModel, TopicChanges
from monitor.enrich.alerts import Alert, AlertEngine, Evaluation, Mute, Rule
from monitor.enrich.describe import name_topics
from monitor.ingest.item import Item


@dataclass
class Enriched:
    """What the pipeline learned about one item."""

    item: Item
    embedding: np.ndarray
    predictions: list[Prediction]
    topic_id: int


@dataclass
class Encoded:
    """The stateless half of enriching a batch: each item's embedding and its predictions, one per task."""

    embeddings: np.ndarray
    predictions: list[list[Prediction]]

    def take(self, rows: Sequence[int]) -> Encoded:
        """The same for the items at ``rows`` only."""
        return Encoded(self.embeddings[list(rows)], [self.predictions[i] for i in rows])


def classify(encode: Callable[[Sequence[str]], np.ndarray], classifiers: Sequence[Classifier],
             texts: Sequence[str]) -> Encoded:
    """Encode ``texts`` once and classify them with every classifier; raises if any model fails."""
    embeddings = encode(texts)
    per_task = [c.predict(texts, embeddings) for c in classifiers]
    return Encoded(embeddings, [[preds[i] for preds in per_task] for i in range(len(texts))])


@dataclass
class BatchResult:
    """Everything one batch produced, ready to be committed in one transaction."""

    results: list[Enriched]
    changes: TopicChanges
    keywords: dict[int, list[str]]
    topic_meta: dict[str, int]
    alerts: list[Alert]


class Pipeline:
    """Holds the models that enrich items and the alert engine that judges them, and owns their state: the daemon
    asks it to change (rules, mutes, a classifier, a reset after a failed batch) between batches, on the compute
    thread, never by reaching into it."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], classifiers: Sequence[Classifier],
                 topics: OnlineTopicModel, engine: AlertEngine, keywords: int = 8) -> None:
        self.encode = encode
        self.classifiers = list(classifiers)
        self.topics = topics
        self.engine = engine
        self.n_keywords = keywords
        self.configured_rules = list(engine.rules)

    def use_rules(self, added: Sequence[Rule]) -> None:
        """Judge from now on by the configured rules plus ``added`` (watches and subscriptions made at run time)."""
        self.engine.rules = [*self.configured_rules, *added]

    def use_mutes(self, mutes: set[Mute]) -> None:
        """Silence what ``mutes`` says from now on."""
        self.engine.muted = set(mutes)

    def reset(self, topics: OnlineTopicModel, fired: dict[tuple[str, str], float]) -> None:
        """Go back to committed state after a failed batch: the topics and the rules' cooldowns as stored."""
        self.topics = topics
        self.engine.fired = dict(fired)

    def burst_seconds(self) -> float:
        """The widest bin of the burst rules (0 without any): how far back their counts must be primed."""
        return max((r.bin_minutes * 60 for r in self.engine.rules if r.bursty), default=0.0)

    def prime(self, topic_times: dict[int, list[float]], label_times: dict[tuple[str, str], list[float]],
              now: float) -> None:
        """Rebuild the burst rules' counts from past event times."""
        self.engine.prime(topic_times, label_times, now)

    def serve(self, classifier: Classifier) -> None:
        """Replace the classifier of ``classifier.task`` (or add it for a new task); a batch already started keeps
        the list it began with."""
        if all(c.task.name != classifier.task.name for c in self.classifiers):
            self.classifiers = [*self.classifiers, classifier]
        else:
            self.classifiers = [classifier if c.task.name == classifier.task.name else c for c in self.classifiers]

    def enrich(self, items: Sequence[Item]) -> BatchResult:
        """Enrich a batch; raises if any model fails (the caller then retries the items one by one)."""
        return self.commit(items, self.classify(items))

    def classify(self, items: Sequence[Item]) -> Encoded:
        """The stateless half: embeddings and predictions, by the classifiers in service when it starts."""
        return classify(self.encode, self.classifiers, [item.content for item in items])

    def commit(self, items: Sequence[Item], encoded: Encoded) -> BatchResult:
        """The stateful half, from ``encoded`` (made here or by a worker): topics, rules and alerts, item by item in
        event-time order (a feed lists its newest entry first), each seen at its event time."""
        texts = [item.content for item in items]
        embeddings = encoded.embeddings
        results, alerts = [], []
        for i in sorted(range(len(items)), key=lambda j: items[j].event_time):
            item = items[i]
            predictions = encoded.predictions[i]
            at = item.event_time
            tid = self.topics.update(embeddings[i], text=texts[i], item_id=item.id, ts=at)
            topic = self.topics.get(tid)
            results.append(Enriched(item, embeddings[i], predictions, tid))
            lag = item.fetched.timestamp() - at
            fired = self.engine.evaluate(Evaluation(item, predictions, tid, topic.size if topic else 1, lag), at)
            for alert in fired:
                alert.topic_keywords = self.topics.keywords(tid, self.n_keywords)
            alerts.extend(fired)
        name_topics(alerts, self.topics)
        changes = self.topics.drain_changes()
        return BatchResult(results, changes, {t.id: self.topics.keywords(t.id, self.n_keywords)
                                              for t in changes.updated},
                           {"next_id": self.topics.next_id, "updates": self.topics.updates}, alerts)
