"""Building the enrichment pipeline from the settings and the store: the encoder, each task's classifier (the
version in service, else zero-shot), the topic model and the alert rules as last committed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from models.classifier import Classifier, TaskSpec, ZeroShotClassifier
from models.embedding import Encoder
from models.ladder import open_version
from models.registry import ModelLoadError
from models.topics import OnlineTopicModel
from monitor.config.schema import Settings, TopicSettings
from monitor.enrich.alerts import AlertEngine, Rule
from monitor.enrich.pipeline import Pipeline
from monitor.learning.runs import task_specs
from monitor.store.db import Store
from monitor.store.learning_rows import Version

log = logging.getLogger(__name__)
BURST_HISTORY_BINS = 24


def topic_model_settings(s: TopicSettings) -> dict[str, float]:
    """The ``OnlineTopicModel`` arguments that ``[topics]`` settings make (the benchmarks use them too)."""
    return {"threshold": s.threshold, "merge_threshold": s.merge_threshold, "split_threshold": s.split_threshold,
            "min_split_size": s.min_split_size, "max_topics": s.max_topics,
            "forget_after": s.forget_after_hours * 3600, "term_half_life": s.term_half_life_hours * 3600,
            "max_chars": s.keyword_chars, "adaptive": s.adaptive, "contrast": s.contrast, "max_share": s.max_share}


def restore_topics(store: Store, settings: Settings) -> OnlineTopicModel:
    """The topic model as last committed to the store."""
    topics, meta = store.load_topics()
    return OnlineTopicModel.restore(topics, next_id=meta.get("next_id", 1), updates=meta.get("updates", 0),
                                    **topic_model_settings(settings.topics))


def build_pipeline(settings: Settings, store: Store, encoder: Encoder | None = None) -> Pipeline:
    """Load the encoder (slow: seconds) and restore every stateful model from the store."""
    m = settings.model
    encoder = encoder or Encoder(m.embedding, device=m.device, batch_size=m.batch_size, max_chars=m.max_chars)
    serving = store.serving()
    classifiers = [serve_or_zero_shot(settings, task, serving.get(task.name), encoder.encode)
                   for task in task_specs(settings)]
    rules = [Rule.from_settings(a, settings.slack.channel) for a in settings.alerts]
    pipeline = Pipeline(encoder.encode, classifiers, restore_topics(store, settings),
                        AlertEngine(rules, store.cooldowns(since=0)), keywords=settings.topics.keywords)
    prime_bursts(pipeline, store)
    return pipeline


def prime_bursts(pipeline: Pipeline, store: Store) -> None:
    """Rebuild the burst rules' counts from the event times of the last ``BURST_HISTORY_BINS`` bins before the
    latest stored event."""
    widest = pipeline.burst_seconds()
    span = store.event_span()
    if widest and span is not None:
        since = span[1] - BURST_HISTORY_BINS * widest
        pipeline.prime(store.topic_times(since), store.label_times(since), span[1])


def load_classifier(settings: Settings, task: TaskSpec, version: Version | None,
                    encode: Callable[[Sequence[str]], np.ndarray]) -> Classifier:
    """The registered ``version`` of ``task`` (``ModelLoadError`` if it cannot be loaded), or zero-shot for None."""
    if version is None:
        return ZeroShotClassifier.from_encoder(task, encode)
    return open_version(task, version.path, f"v{version.version}", settings.model.embedding,
                        device=settings.model.device, int8=version.int8)


def serve_or_zero_shot(settings: Settings, task: TaskSpec, version: Version | None,
                       encode: Callable[[Sequence[str]], np.ndarray]) -> Classifier:
    """At start-up: the version in service for ``task``, or zero-shot when there is none or it cannot be loaded."""
    try:
        return load_classifier(settings, task, version, encode)
    except ModelLoadError as exc:
        log.error("task %s is served zero-shot: version %s cannot be loaded: %s", task.name,
                  version and version.version, exc)
        return ZeroShotClassifier.from_encoder(task, encode)
