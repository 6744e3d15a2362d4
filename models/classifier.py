"""Classification tasks and the classifiers that serve them.

Every classifier answers ``predict(texts, embeddings)``; the zero-shot one and the head on the embedding
(models.head) read only the embeddings, a fine-tuned transformer reads the texts. The pipeline never needs to know
which one it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class LabelSpec:
    """One label of a task, with the sentence that describes it (the zero-shot prompt)."""

    name: str
    description: str = ""

    @property
    def prompt(self) -> str:
        return self.description or self.name


@dataclass(frozen=True)
class TaskSpec:
    """A classification task: its labels, and below which confidence a prediction counts as unsure."""

    name: str
    labels: tuple[LabelSpec, ...]
    unsure_below: float = 0.5
    temperature: float = 0.05

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]


@dataclass(frozen=True)
class Prediction:
    """The label a classifier chose for one item, how sure it is, and the score of every label."""

    task: str
    label: str
    confidence: float
    unsure: bool
    model: str
    scores: dict[str, float] = field(default_factory=dict)


class Classifier(Protocol):
    """What the pipeline needs from any classifier, zero-shot or fine-tuned."""

    task: TaskSpec
    version: str

    def predict(self, texts: Sequence[str], embeddings: np.ndarray) -> list[Prediction]: ...


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of ``scores / temperature``, numerically stable."""
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def check_batch(texts: Sequence[str], embeddings: np.ndarray | None, dims: int | None = None) -> None:
    """Refuse a batch whose texts and embeddings do not line up, or (``dims``) embeddings of another width."""
    if embeddings is None:
        return
    if len(texts) != len(embeddings):
        raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings in one batch")
    width = np.shape(embeddings)[1] if np.ndim(embeddings) == 2 else None
    if dims is not None and len(embeddings) and width != dims:
        raise ValueError(f"embeddings of {width} dimensions but the classifier reads {dims} dimensions")


def predictions(task: TaskSpec, labels: Sequence[str], probs: np.ndarray, model: str) -> list[Prediction]:
    """One ``Prediction`` per row of ``probs`` (columns in the order of ``labels``): the likeliest label, its
    probability as the confidence, unsure below the task's threshold."""
    out = []
    for row in probs:
        best = int(row.argmax())
        confidence = float(row[best])
        out.append(Prediction(task=task.name, label=labels[best], confidence=confidence,
                              unsure=confidence < task.unsure_below, model=model,
                              scores={n: round(float(p), 4) for n, p in zip(labels, row, strict=True)}))
    return out


class ZeroShotClassifier:
    """Labels an item by cosine similarity between its embedding and each label description's embedding."""

    version = "zero-shot"

    def __init__(self, task: TaskSpec, label_embeddings: np.ndarray) -> None:
        if label_embeddings.shape[0] != len(task.labels):
            raise ValueError(f"task {task.name!r}: {len(task.labels)} labels but "
                             f"{label_embeddings.shape[0]} label embeddings")
        self.task = task
        self._labels = np.asarray(label_embeddings, dtype=np.float32)

    @classmethod
    def from_encoder(cls, task: TaskSpec, encode: Callable[[list[str]], np.ndarray]) -> ZeroShotClassifier:
        """Embed the task's label descriptions with ``encode`` (the same encoder that embeds items)."""
        return cls(task, encode([label.prompt for label in task.labels]))

    def predict(self, texts: Sequence[str], embeddings: np.ndarray) -> list[Prediction]:
        check_batch(texts, embeddings, self._labels.shape[1])
        if len(embeddings) == 0:
            return []
        probs = softmax(np.asarray(embeddings, dtype=np.float32) @ self._labels.T, self.task.temperature)
        return predictions(self.task, self.task.label_names, probs, self.version)
