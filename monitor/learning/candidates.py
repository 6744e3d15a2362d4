"""The ladder's candidates of one training run: each rung trained on the same data and scored on the same sets.

Texts are encoded once (as the pipeline encodes items), and every rung reads those vectors: zero-shot and the head
on the embedding (anchored at zero-shot) need nothing else; the SetFit rung tunes its own encoder and the fine-tuned
transformer reads the texts, and these two costly rungs train only when their measured estimates fit the time
budget. ``Fits`` trains any rung on given training and validation examples, for the run and for the folds of a
cross-validation alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import registry
from models.anchored import STRENGTHS, train_anchored
from models.classifier import TaskSpec, ZeroShotClassifier
from models.embedding import Encoder
from models.finetune import (
    Example,
    Progress,
    TrainArgs,
    TrainingError,
    estimate_seconds,
    predict_proba,
    quantize,
    train,
)
from models.ladder import ZERO_SHOT
from models.setfit import SetFitArgs, train_setfit
from models.setfit import encode as setfit_encode
from models.setfit import estimate_seconds as setfit_seconds

Predict = Callable[[list[str]], list[str]]
OnProgress = Callable[[Progress], None]
COSTLY = (registry.SETFIT, registry.FINETUNED)
"""Rungs that train only when their estimated time fits the budget."""


@dataclass
class Candidate:
    """One rung's outcome: its labels for given texts, how long it trained, and how to save it."""

    rung: str
    predict: Predict
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    save: Callable[[Path, dict[str, Any]], None] | None = None
    int8: bool = False


class Vectors:
    """Embeddings of texts, each encoded once."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._known: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._known))
        if missing:
            self._known.update(zip(missing, self.encoder.encode(missing), strict=True))
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self._known[t] for t in texts])


def zero_shot(task: TaskSpec, vectors: Vectors) -> Candidate:
    zero = ZeroShotClassifier.from_encoder(task, vectors.encoder.encode)
    return Candidate(ZERO_SHOT, lambda texts: [p.label for p in zero.predict(texts, vectors(texts))])


def head(task: TaskSpec, train_set: list[Example], val: list[Example], vectors: Vectors, args: TrainArgs,
         embedding: str, strengths: tuple[float, ...] = STRENGTHS) -> Candidate:
    """Logistic regression on the embeddings anchored at the zero-shot classifier (``models.anchored``: it starts at
    the label descriptions' map and is pulled toward it), its strength chosen on the validation set from
    ``strengths``."""
    labels = task.label_names
    result = train_anchored(labels, vectors([label.prompt for label in task.labels]), task.temperature,
                            vectors([e.text for e in train_set]), [e.label for e in train_set],
                            [e.weight for e in train_set], vectors([e.text for e in val]), [e.label for e in val],
                            args.metric, args.class_weighting, strengths)

    def predict(texts: list[str]) -> list[str]:
        return [labels[i] for i in result.head.probabilities(vectors(texts)).argmax(axis=1)] if texts else []

    def save(folder: Path, meta: dict[str, Any]) -> None:
        registry.save_head(folder, result.head, {**meta, "embedding": embedding})

    return Candidate(registry.EMBEDDING_HEAD, predict, result.seconds,
                     {"strength": result.strength, "val_score": result.val_score, "anchor": ZERO_SHOT}, save)


def finetune_estimate(task: TaskSpec, train_set: list[Example], n_val: int, args: TrainArgs, device: str) -> float:
    """Seconds the fine-tuned rung would take at most, measured on a few steps of this run's data."""
    try:
        return estimate_seconds(task.label_names, train_set, n_val, args, device)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"the fine-tuned rung cannot be estimated: {exc}") from exc


def setfit_estimate(train_set: list[Example], n_encoded: int, args: SetFitArgs, embedding: str,
                    device: str) -> float:
    """Seconds the SetFit rung would take, measured on a few contrastive steps of this run's data."""
    try:
        return setfit_seconds(embedding, train_set, n_encoded, args, device)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"the setfit rung cannot be estimated: {exc}") from exc


def finetuned(task: TaskSpec, train_set: list[Example], val: list[Example], holdout: list[str], args: TrainArgs,
              device: str, int8: tuple[bool, float], progress: OnProgress | None,
              checkpoint: Path | None) -> Candidate:
    """The fine-tuned transformer; with ``int8`` = (wanted, least agreement) on a CPU, also its int8 copy."""
    labels = task.label_names
    result = train(labels, train_set, val, args, device=device, progress=progress, checkpoint=checkpoint)
    chosen = predict_proba(result.model, result.tokenizer, holdout, 64, args.max_length,
                           result.device).argmax(axis=1)
    predicted = {text: labels[i] for text, i in zip(holdout, chosen, strict=True)}
    agreement = None
    if result.device == "cpu" and int8[0] and holdout:
        q = quantize(result.model)
        agreement = float(np.mean(predict_proba(q, result.tokenizer, holdout, 64, args.max_length
                                                ).argmax(axis=1) == chosen))

    def predict(texts: list[str]) -> list[str]:
        """Labels predicted once for the held-out set (the live set is part of it)."""
        return [predicted[t] for t in texts]

    def save(folder: Path, meta: dict[str, Any]) -> None:
        registry.save(folder, result.model, result.tokenizer, meta)
        if checkpoint:
            checkpoint.unlink(missing_ok=True)

    details = {"int8_agreement": agreement, "history": result.history, "best_epoch": result.best_epoch,
               "device": result.device, "resumed_from_epoch": result.resumed_from_epoch}
    return Candidate(registry.FINETUNED, predict, result.seconds, details, save,
                     int8=agreement is not None and agreement >= int8[1])


def setfit(task: TaskSpec, train_set: list[Example], val: list[Example], holdout: list[str], args: TrainArgs,
           setfit_args: SetFitArgs, embedding: str, device: str, progress: OnProgress | None) -> Candidate:
    """The encoder ``embedding`` tuned contrastively on pairs of ``train_set``, with a head on its vectors."""
    labels = task.label_names

    def step(n: int, steps: int, loss: float) -> None:
        if progress:
            progress(Progress(1, 1, n, steps, loss))

    result = train_setfit(task, train_set, val, embedding, setfit_args, args.metric, args.class_weighting,
                          device, step)
    chosen = result.head.head.probabilities(setfit_encode(result.encoder, holdout, setfit_args.max_chars))
    predicted = {text: labels[i] for text, i in zip(holdout, chosen.argmax(axis=1), strict=True)}

    def predict(texts: list[str]) -> list[str]:
        """Labels predicted once for the held-out set (the live set is part of it)."""
        return [predicted[t] for t in texts]

    def save(folder: Path, meta: dict[str, Any]) -> None:
        registry.save_setfit(folder, result.encoder, result.head.head,
                             {**meta, "base_encoder": embedding, "max_chars": setfit_args.max_chars,
                              "setfit": {"pairs": result.pairs, "freeze_layers": setfit_args.freeze_layers}})

    details = {"strength": result.head.strength, "val_score": result.head.val_score, "pairs": result.pairs}
    return Candidate(registry.SETFIT, predict, result.seconds, details, save)


@dataclass(frozen=True)
class Fits:
    """Trains any rung of one task: ``fit(rung, training, validation, texts to label)``, with the same vectors,
    arguments and device for the run and for every fold of a cross-validation."""

    task: TaskSpec
    vectors: Vectors
    args: TrainArgs
    setfit_args: SetFitArgs
    embedding: str
    device: str
    int8: tuple[bool, float] = (False, 1.0)

    def estimate(self, rung: str, train_set: list[Example], n_val: int, n_scored: int) -> float:
        """Seconds a costly rung would take on ``train_set`` (0 for the cheap ones)."""
        if rung == registry.FINETUNED:
            return finetune_estimate(self.task, train_set, n_val, self.args, self.device)
        if rung == registry.SETFIT:
            return setfit_estimate(train_set, len(train_set) + n_val + n_scored, self.setfit_args, self.embedding,
                                   self.device)
        return 0.0

    def refit_head(self, train_set: list[Example], strength: float) -> Candidate:
        """The head of one ``strength`` on ``train_set`` (the strength cross-validation chose: no validation set)."""
        return head(self.task, train_set, train_set[:1], self.vectors, self.args, self.embedding, (strength,))

    def fit(self, rung: str, train_set: list[Example], val: list[Example], texts: list[str],
            progress: OnProgress | None = None, checkpoint: Path | None = None) -> Candidate:
        if rung == ZERO_SHOT:
            return zero_shot(self.task, self.vectors)
        if rung == registry.EMBEDDING_HEAD:
            return head(self.task, train_set, val, self.vectors, self.args, self.embedding)
        if rung == registry.SETFIT:
            return setfit(self.task, train_set, val, texts, self.args, self.setfit_args, self.embedding,
                          self.device, progress)
        if rung == registry.FINETUNED:
            return finetuned(self.task, train_set, val, texts, self.args, self.device, self.int8, progress,
                             checkpoint)
        raise ValueError(f"no rung {rung!r}")
