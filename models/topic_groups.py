"""Reading live topics: grouping them into broad groups (the grouped level of the two-level hierarchy) and how
much an item belongs to each. ``models.topics`` re-exports these."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.topic_state import as_vector


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
