"""A head on the stored sentence embedding: how the ladder's head rung serves.

``EmbeddingHead`` is a linear softmax layer over the unit embeddings the pipeline already computes for every item,
so it serves at no extra encoder pass. The head rung fits it anchored at zero-shot (``models.anchored``);
``train_head`` here is the plain multinomial logistic regression (weights from zero), its strength picked on the
validation set from a small grid: no rung trains it any more; the benchmarks print it beside the anchored head
(``bench/ladder.py``'s ``[unanchored ...]``, ``bench/active.py --head plain``) as the baseline it replaced.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.classifier import Prediction, TaskSpec, check_batch, predictions, softmax
from models.evaluation import score

STRENGTHS = (0.25, 1.0, 4.0, 16.0, 64.0)


@dataclass(frozen=True)
class EmbeddingHead:
    """A linear softmax layer over embeddings: ``weight`` is (labels, dims), ``bias`` (labels,)."""

    labels: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities in the order of ``labels``."""
        logits = np.asarray(embeddings, dtype=np.float32) @ self.weight.T + self.bias
        return softmax(logits, 1.0)

    def save(self, path: str | Path) -> None:
        with Path(path).open("wb") as f:
            np.savez(f, labels=np.array(self.labels), weight=self.weight, bias=self.bias)

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingHead:
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(str(x) for x in data["labels"]), data["weight"].astype(np.float32),
                       data["bias"].astype(np.float32))


@dataclass(frozen=True)
class HeadResult:
    head: EmbeddingHead
    strength: float
    val_score: float
    seconds: float


def _weights(model: Any, n_labels: int, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted scikit-learn logistic regression as one row of weights per label (absent labels never win)."""
    weight = np.zeros((n_labels, dims), dtype=np.float32)
    bias = np.full(n_labels, -1e4, dtype=np.float32)
    if len(model.classes_) == 2:
        weight[model.classes_[1]], bias[model.classes_[1]] = model.coef_[0], model.intercept_[0]
        weight[model.classes_[0]], bias[model.classes_[0]] = 0.0, 0.0
    else:
        weight[model.classes_] = model.coef_
        bias[model.classes_] = model.intercept_
    return weight, bias


def train_head(labels: Sequence[str], x: np.ndarray, y: Sequence[str], weights: Sequence[float],
               x_val: np.ndarray, y_val: Sequence[str], metric: str = "macro_f1", balanced: bool = True,
               seed: int = 0, strengths: Sequence[float] = STRENGTHS) -> HeadResult:
    """Fit a head for each of ``strengths`` (weakest first, each fit starting from the last) and keep the one that
    scores best on the validation set (the weaker on a tie). Labels without training examples are never
    predicted."""
    started = time.monotonic()
    labels = list(labels)
    index = {name: i for i, name in enumerate(labels)}
    yi = np.array([index[v] for v in y])
    if len(set(yi.tolist())) < 2:
        raise ValueError("a head needs training examples of at least two labels")
    from sklearn.linear_model import LogisticRegression

    sample_w = np.asarray(weights, dtype=np.float64)
    if balanced:
        counts = np.bincount(yi, minlength=len(labels)).astype(np.float64)
        sample_w = sample_w * (len(yi) / (len(labels) * np.maximum(counts, 1)))[yi]
    model = LogisticRegression(max_iter=1000, random_state=seed, warm_start=True)
    best: tuple[float, float, np.ndarray, np.ndarray] | None = None
    for strength in strengths:
        model.set_params(C=strength)
        model.fit(x, yi, sample_weight=sample_w)
        weight, bias = _weights(model, len(labels), x.shape[1])
        chosen = (np.asarray(x_val, dtype=np.float32) @ weight.T + bias).argmax(axis=1)
        val = score(metric, list(y_val), [labels[i] for i in chosen], labels)
        if best is None or val > best[0]:
            best = (val, strength, weight, bias)
    assert best is not None
    val, strength, weight, bias = best
    return HeadResult(EmbeddingHead(tuple(labels), weight, bias), strength, round(float(val), 4),
                      round(time.monotonic() - started, 2))


class HeadClassifier:
    """Serves a task with an ``EmbeddingHead``: reads the shared embeddings, never the texts."""

    def __init__(self, task: TaskSpec, head: EmbeddingHead, version: str) -> None:
        self.task = task
        self.head = head
        self.version = version
        self.labels = list(head.labels)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        return self.head.probabilities(embeddings)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray) -> list[Prediction]:
        check_batch(texts, embeddings, self.head.weight.shape[1])
        if len(embeddings) == 0:
            return []
        return predictions(self.task, self.labels, self.probabilities(embeddings), self.version)
