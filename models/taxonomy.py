"""A label taxonomy from topics, without a language model: the first phase of TnT-LLM done with embeddings.

``propose`` groups the topics into ``size`` labels (``models.topics.group_topics``: k-means over the topic
centres, weighted by topic size), leaving out topics too small to be more than noise. Each label is named and
described from the c-TF-IDF keywords of its topics against the other labels, and keeps its centre so items can be
labelled by it (``assign``: softmax over cosine similarities, the second phase's automatic labels).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.keywords import ctfidf, short_name
from models.topics import DISTRIBUTION_TEMPERATURE, group_topics, similarity_softmax

SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class TopicSummary:
    """What a proposal needs to know about one topic."""

    id: int
    size: int
    centroid: np.ndarray
    terms: Counter[str]
    examples: Sequence[str] = ()


@dataclass
class ProposedLabel:
    """One label of a proposed taxonomy."""

    name: str
    description: str
    topics: list[int]
    size: int
    keywords: list[str]
    examples: list[str] = field(default_factory=list)
    centroid: np.ndarray | None = None


def slug(words: Sequence[str], taken: set[str]) -> str:
    """A label name from keywords, usable in a slash command: ``loan-mortgage``; made unique against ``taken``."""
    cleaned = [w for w in (SLUG.sub("", word.lower()) for word in words) if w]
    base = short_name(cleaned, 2).replace(" / ", "-")[:36].strip("-") or "label"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def describe(keywords: Sequence[str]) -> str:
    """A one-line description from keywords; it doubles as the zero-shot prompt of the label."""
    if not keywords:
        return "items with no distinctive words"
    return f"about {', '.join(keywords[:5])}"


def propose(topics: Sequence[TopicSummary], size: int, min_topic_size: int = 3, examples: int = 3,
            seed: int = 0) -> list[ProposedLabel]:
    """``size`` labels (fewer when there are fewer topics) from ``topics``, largest label first."""
    kept = [t for t in topics if t.size >= min_topic_size]
    if len(kept) < 2:
        raise ValueError(f"need at least two topics of {min_topic_size} or more items, found {len(kept)}")
    k = min(size, len(kept))
    groups = group_topics(np.stack([t.centroid for t in kept]), [t.size for t in kept], k, seed)
    members = [[t for t, g in zip(kept, groups, strict=True) if g == group] for group in range(k)]
    members = sorted((m for m in members if m), key=lambda m: -sum(t.size for t in m))
    terms = [sum((t.terms for t in m), Counter()) for m in members]
    all_terms = sum(terms, Counter())
    average = all_terms.total() / len(members)
    labels: list[ProposedLabel] = []
    for group, group_terms in zip(members, terms, strict=True):
        keywords = ctfidf(group_terms, all_terms, average, 8)
        centre = sum(t.centroid * t.size for t in group)
        by_size = sorted(group, key=lambda t: -t.size)
        labels.append(ProposedLabel(
            name=slug(keywords, {x.name for x in labels}), description=describe(keywords),
            topics=[t.id for t in by_size], size=sum(t.size for t in group), keywords=keywords,
            examples=[e for t in by_size for e in t.examples[:1]][:examples],
            centroid=centre / (np.linalg.norm(centre) or 1.0)))
    return labels


def assign(embeddings: np.ndarray, centroids: np.ndarray, temperature: float = DISTRIBUTION_TEMPERATURE
           ) -> tuple[np.ndarray, np.ndarray]:
    """Each embedding's nearest label centre and the softmax confidence of that choice."""
    probs = similarity_softmax(embeddings @ centroids.T, temperature)
    return probs.argmax(axis=1), probs.max(axis=1)
