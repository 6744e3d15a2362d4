"""Active learning: which unlabelled items to ask the team about next.

One pure function, shared by the daemon's ask job and ``bench/active.py`` (which measures the strategies):

  * ``random``: a seeded random sample, the baseline;
  * ``margin``: the smallest margin between the top two labels first (the items the model is least sure of);
  * ``spread``: the same order, but at most ``per_topic`` items of a topic until every topic has had its turn, so a
    burst of near-identical items cannot take the whole budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STRATEGIES = ("random", "margin", "spread")


def margins(probabilities: np.ndarray) -> np.ndarray:
    """The margin between the top two probabilities of each row (0: a tie, 1: certain)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape[1] < 2:
        return np.ones(len(p))
    top = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def select(item_margins: Sequence[float] | np.ndarray, topics: Sequence[int] | np.ndarray, budget: int,
           strategy: str, per_topic: int = 1, seed: int = 0) -> np.ndarray:
    """Indices of the ``budget`` items to ask about, in asking order (ties keep the input order).

    ``spread`` takes each topic's least-sure item, least sure first, then each topic's second, and so on
    (``per_topic`` at a time), so it falls back to ``margin`` order only once every topic has given its share."""
    m = np.asarray(item_margins, dtype=np.float64)
    budget = max(0, min(budget, len(m)))
    if strategy == "random":
        return np.random.default_rng(seed).permutation(len(m))[:budget]
    order = np.argsort(m, kind="stable")
    if strategy == "margin":
        return order[:budget]
    if strategy != "spread":
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    t = np.asarray(topics)[order]
    rank = np.zeros(len(order), dtype=np.int64)
    seen: dict[object, int] = {}
    for j, topic in enumerate(t.tolist()):
        rank[j] = seen.get(topic, 0)
        seen[topic] = rank[j] + 1
    return order[np.argsort(rank // max(1, per_topic), kind="stable")][:budget]
