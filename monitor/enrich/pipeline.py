"""Enrichment of stored items: encode once, classify every task, join a topic, evaluate the alert rules.

``Pipeline.enrich`` is plain synchronous code (it runs on a worker thread); the daemon commits what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.classifier import Classifier, Prediction
from models.topics import OnlineTopicModel, TopicChanges
from monitor.enrich.alerts import Alert, AlertEngine, Evaluation
from monitor.ingest.item import Item


@dataclass
class Enriched:
    """What the pipeline learned about one item."""

    item: Item
    embedding: np.ndarray
    predictions: list[Prediction]
    topic_id: int


@dataclass
class BatchResult:
    """Everything one batch produced, ready to be committed in one transaction."""

    results: list[Enriched]
    changes: TopicChanges
    keywords: dict[int, list[str]]
    topic_meta: dict[str, int]
    alerts: list[Alert]


class Pipeline:
    """Holds the models that enrich items and the alert engine that judges them."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], classifiers: Sequence[Classifier],
                 topics: OnlineTopicModel, engine: AlertEngine, keywords: int = 8) -> None:
        self.encode = encode
        self.classifiers = list(classifiers)
        self.topics = topics
        self.engine = engine
        self.n_keywords = keywords

    def serve(self, classifier: Classifier) -> None:
        """Replace the classifier of ``classifier.task`` (or add it for a new task); a batch already started keeps
        the list it began with."""
        if all(c.task.name != classifier.task.name for c in self.classifiers):
            self.classifiers = [*self.classifiers, classifier]
        else:
            self.classifiers = [classifier if c.task.name == classifier.task.name else c for c in self.classifiers]

    def enrich(self, items: Sequence[Item]) -> BatchResult:
        """Enrich a batch in event-time order (a feed lists its newest entry first); raises if any model fails (the
        caller then retries the items one by one). Topics and rules see each item at its event time."""
        classifiers = self.classifiers
        items = sorted(items, key=lambda item: item.event_time)
        texts = [item.content for item in items]
        embeddings = self.encode(texts)
        per_task = [c.predict(texts, embeddings) for c in classifiers]
        results, alerts = [], []
        for i, item in enumerate(items):
            predictions = [preds[i] for preds in per_task]
            at = item.event_time
            tid = self.topics.update(embeddings[i], text=texts[i], item_id=item.id, ts=at)
            topic = self.topics.get(tid)
            results.append(Enriched(item, embeddings[i], predictions, tid))
            lag = item.fetched.timestamp() - at
            fired = self.engine.evaluate(Evaluation(item, predictions, tid, topic.size if topic else 1, lag), at)
            for alert in fired:
                alert.topic_keywords = self.topics.keywords(tid, self.n_keywords)
            alerts.extend(fired)
        changes = self.topics.drain_changes()
        return BatchResult(results, changes, {t.id: self.topics.keywords(t.id, self.n_keywords)
                                              for t in changes.updated},
                           {"next_id": self.topics.next_id, "updates": self.topics.updates}, alerts)
