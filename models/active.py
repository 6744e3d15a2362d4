"""Active learning: which unlabelled items to ask the team about next.

One pure function, shared by the daemon's ask job and ``bench/active.py`` (which measures the strategies):

  * ``random``: a seeded random sample, the baseline;
  * ``margin``: the smallest margin between the top two labels first (the items the model is least sure of);
  * ``spread``: the same order, but at most ``per_topic`` items of a topic until every topic has had its turn, so a
    burst of near-identical items cannot take the whole budget;
  * ``cluster`` (cluster-margin, after Citovsky et al. 2021): the ``SHORTLIST`` x budget least-sure items are
    clustered on their embeddings into ``budget`` groups (k-means) and each group gives its least-sure item, so the
    picks are both unsure and unlike each other;
  * ``typical`` (a cold start, after TypiClust, Hacohen et al. 2022): the candidates and the items already labelled
    are clustered into (labelled + budget) groups; the largest groups without a label each give the item nearest
    their centre, so the first labels cover the typical kinds of item rather than the odd ones;
  * ``adaptive``: ``typical`` while fewer than ``COLD_START`` labels per class are in, ``cluster`` after.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STRATEGIES = ("random", "margin", "spread", "cluster", "typical", "adaptive")
EMBEDDED = ("cluster", "typical", "adaptive")
SHORTLIST = 10
COLD_START = 15


def margins(probabilities: np.ndarray) -> np.ndarray:
    """The margin between the top two probabilities of each row (0: a tie, 1: certain)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape[1] < 2:
        return np.ones(len(p))
    top = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def select(item_margins: Sequence[float] | np.ndarray, topics: Sequence[int] | np.ndarray, budget: int,
           strategy: str, per_topic: int = 1, seed: int = 0, embeddings: np.ndarray | None = None,
           labelled: np.ndarray | None = None, classes: int = 2, cold_start: int = COLD_START) -> np.ndarray:
    """Indices of the ``budget`` items to ask about, in asking order (ties keep the input order).

    ``spread`` takes each topic's least-sure item, least sure first, then each topic's second, and so on
    (``per_topic`` at a time), so it falls back to ``margin`` order only once every topic has given its share.
    ``cluster`` and ``typical`` need the items' ``embeddings``; ``typical`` also reads those of the items already
    ``labelled`` (none: a cold start from nothing); ``adaptive`` also the task's number of ``classes``, and asks
    ``typical`` items while fewer than ``cold_start`` labels per class are in."""
    m = np.asarray(item_margins, dtype=np.float64)
    budget = max(0, min(budget, len(m)))
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if strategy == "random":
        return np.random.default_rng(seed).permutation(len(m))[:budget]
    order = np.argsort(m, kind="stable")
    if strategy == "margin" or budget == 0:
        return order[:budget]
    if strategy == "spread":
        return _spread(order, np.asarray(topics)[order], per_topic)[:budget]
    if embeddings is None:
        raise ValueError(f"the {strategy} strategy needs the items' embeddings")
    x = np.asarray(embeddings, dtype=np.float64)
    known = np.zeros((0, x.shape[1])) if labelled is None else np.asarray(labelled, dtype=np.float64)
    if strategy == "adaptive":
        strategy = "typical" if len(known) < cold_start * classes else "cluster"
    if strategy == "cluster":
        return _cluster_margin(m, order, x, budget, seed)
    return _typical(x, known, budget, seed)


def _spread(order: np.ndarray, topics: np.ndarray, per_topic: int) -> np.ndarray:
    rank = np.zeros(len(order), dtype=np.int64)
    seen: dict[object, int] = {}
    for j, topic in enumerate(topics.tolist()):
        rank[j] = seen.get(topic, 0)
        seen[topic] = rank[j] + 1
    return order[np.argsort(rank // max(1, per_topic), kind="stable")]


def _kmeans(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group and the groups' centres (k-means, k-means++ start)."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x)
    return model.labels_, model.cluster_centers_


def _cluster_margin(m: np.ndarray, order: np.ndarray, x: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """The least-sure item of each of ``budget`` k-means groups of the least-sure shortlist, least sure first."""
    shortlist = order[:SHORTLIST * budget]
    groups, _ = _kmeans(x[shortlist], budget, seed)
    first = {g: int(i) for g, i in reversed(list(zip(groups.tolist(), shortlist.tolist(), strict=True)))}
    return np.array(sorted(first.values(), key=lambda i: (m[i], i)), dtype=np.int64)


def _typical(x: np.ndarray, labelled: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """The item nearest the centre of each of the ``budget`` largest k-means groups holding no labelled item."""
    groups, centres = _kmeans(np.vstack([x, labelled]), len(labelled) + budget, seed)
    covered = set(groups[len(x):].tolist())
    sizes = np.bincount(groups[:len(x)], minlength=len(centres))
    open_groups = sorted((g for g in range(len(centres)) if g not in covered and sizes[g]), key=lambda g: -sizes[g])
    picks = []
    for g in open_groups[:budget]:
        members = np.flatnonzero(groups[:len(x)] == g)
        picks.append(int(members[np.argmin(((x[members] - centres[g]) ** 2).sum(1))]))
    taken = set(picks)
    rest = [i for i in np.argsort(-sizes[groups[:len(x)]], kind="stable").tolist() if i not in taken]
    return np.array(picks + rest[:budget - len(picks)], dtype=np.int64)
