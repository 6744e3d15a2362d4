"""Two-dimensional maps of sentence embeddings: PCA to 50 dimensions, then t-SNE.

UMAP would keep more of the global layout, but umap-learn pulls in numba and llvmlite (a compiler toolchain) for
one picture; scikit-learn's PCA and Barnes-Hut t-SNE are already installed and fast enough for a few thousand
items.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

PCA_DIMS = 50


def project(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D coordinates, one row per row of ``vectors``: PCA to ``PCA_DIMS`` then t-SNE (perplexity up to 30) with
    a fixed ``seed``, so the same items give the same map; PCA alone when there are fewer than ``PCA_DIMS`` items,
    too few for t-SNE's neighbourhoods to mean much.

    t-SNE runs on one OpenMP thread: its threads wait for each other a thousand times per run, which stalls when
    the cores are busy (on a loaded 2-core machine, 60 items took 34 s on two threads and 0.2 s on one; 1000 items
    8 s and 3 s). scikit-learn is imported here, not with the module, which the command line reads for ``PCA_DIMS``."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    n = len(vectors)
    x = np.asarray(vectors, dtype=np.float64).reshape(n, -1)
    if n < PCA_DIMS:
        out = np.zeros((n, 2))
        k = min(2, n, x.shape[1])
        if n > 1 and k:
            out[:, :k] = PCA(n_components=k, random_state=seed).fit_transform(x)
        return out
    reduced = PCA(n_components=min(PCA_DIMS, x.shape[1]), random_state=seed).fit_transform(x)
    tsne = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed)
    with threadpool_limits(1, user_api="openmp"):
        return tsne.fit_transform(reduced)


def group_centres(coords: np.ndarray, groups: Sequence[Hashable]) -> dict[Hashable, tuple[float, float]]:
    """Where each group sits on the map: the median of its members' coordinates (t-SNE has no transform for the
    topic centres themselves, and the median is not pulled away by a few stray members)."""
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    return {g: (float(np.median(coords[rows, 0])), float(np.median(coords[rows, 1]))) for g, rows in members.items()}
