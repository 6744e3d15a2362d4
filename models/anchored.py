"""A head anchored at zero-shot: the ladder's rung for a handful of labels per class.

The zero-shot classifier is already a linear map of the embedding: its logits are the cosine similarities with the
label descriptions' embeddings ``D``, divided by the task's temperature, so ``W0 = D / temperature``. This head
fits ``W = W0 + V`` and a bias ``b`` by (class-weighted) cross-entropy with a penalty on how far it moves from
zero-shot, as the CLIP few-shot probes do (LP++, Tip-Adapter, WiSE-FT):

    C * sum_i w_i CE(x_i W^T + b, y_i) + ||V||^2 / 2 + ||b||^2 / 2

A small ``C`` (strength) returns zero-shot, a large one the plain logistic regression; ``C`` is picked on the
validation set from a grid, ties to the smaller (nearer zero-shot). A label without training examples starts from
its zero-shot row, so it can still be predicted. It serves as an ``EmbeddingHead``: no extra cost over the head.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax
from threadpoolctl import threadpool_limits

from models.evaluation import score
from models.head import EmbeddingHead, HeadResult

STRENGTHS = (0.01, 0.03, 0.1, 0.3, 1.0, 4.0, 16.0, 64.0)


def _objective(theta: np.ndarray, x: np.ndarray, onehot: np.ndarray, w: np.ndarray, anchor: np.ndarray,
               strength: float) -> tuple[float, np.ndarray]:
    """The penalised loss at ``theta`` = (V, b) flattened, and its gradient."""
    n_labels, dims = anchor.shape
    v, b = theta[:-n_labels].reshape(n_labels, dims), theta[-n_labels:]
    logp = log_softmax(x @ (anchor + v).T + b, axis=1)
    loss = strength * float(-(w * (onehot * logp).sum(axis=1)).sum()) + 0.5 * (float((v * v).sum()) + float(b @ b))
    residual = strength * w[:, None] * (np.exp(logp) - onehot)
    grad = np.concatenate([(residual.T @ x + v).ravel(), residual.sum(axis=0) + b])
    return loss, grad


def fit_anchored(anchor: np.ndarray, x: np.ndarray, yi: np.ndarray, weights: np.ndarray, strength: float,
                 start: np.ndarray | None = None) -> np.ndarray:
    """(V, b) flattened, minimising the penalised loss for one ``strength`` (from ``start`` when given)."""
    n_labels, dims = anchor.shape
    onehot = np.eye(n_labels)[yi]
    theta0 = np.zeros(n_labels * (dims + 1)) if start is None else start
    with threadpool_limits(1, user_api="blas"):  # products this small only lose to threads contending for cores
        found = minimize(_objective, theta0, args=(np.asarray(x, np.float64), onehot, weights, anchor, strength),
                         jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return np.asarray(found.x)


def train_anchored(labels: Sequence[str], label_embeddings: np.ndarray, temperature: float, x: np.ndarray,
                   y: Sequence[str], weights: Sequence[float], x_val: np.ndarray, y_val: Sequence[str],
                   metric: str = "macro_f1", balanced: bool = True,
                   strengths: Sequence[float] = STRENGTHS) -> HeadResult:
    """Fit the anchored head for each of ``strengths`` (smallest first, each fit starting from the last) and keep
    the one that scores best on the validation set (the smaller on a tie)."""
    started = time.monotonic()
    labels = list(labels)
    index = {name: i for i, name in enumerate(labels)}
    yi = np.array([index[v] for v in y], dtype=np.int64)
    anchor = np.asarray(label_embeddings, dtype=np.float64) / temperature
    sample_w = np.asarray(weights, dtype=np.float64)
    if balanced and len(yi):
        counts = np.bincount(yi, minlength=len(labels)).astype(np.float64)
        sample_w = sample_w * (len(yi) / (np.count_nonzero(counts) * np.maximum(counts, 1)))[yi]
    n_labels, dims = anchor.shape
    best: tuple[float, float, EmbeddingHead] | None = None
    theta = None
    for strength in strengths:
        theta = fit_anchored(anchor, x, yi, sample_w, strength, theta)
        head = EmbeddingHead(tuple(labels), (anchor + theta[:-n_labels].reshape(n_labels, dims)).astype(np.float32),
                             theta[-n_labels:].astype(np.float32))
        chosen = head.probabilities(x_val).argmax(axis=1)
        val = score(metric, list(y_val), [labels[i] for i in chosen], labels)
        if best is None or val > best[0]:
            best = (val, strength, head)
    assert best is not None
    val, strength, head = best
    return HeadResult(head, strength, round(float(val), 4), round(time.monotonic() - started, 2))
