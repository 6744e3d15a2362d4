"""Choosing the ladder's rung by k-fold cross-validation, for when the held-out set is too small to choose on.

With 5 to 10 labels per class the held-out set is a few dozen texts, and the rung that wins on it is often not the
one that wins on new items. Cross-validation scores each rung on every labelled example instead: the examples are
dealt into ``k`` folds (stratified by label, in the order of a hash of the text, so the folds never move); each fold
in turn is labelled by the rung trained on the others, with the next fold as its validation set, and the pooled
labels are scored once with the task's metric. Pseudo-labels only ever train. A head chosen this way is then refit
on the training and validation sets together, with the strength its folds chose most often (the held-out set stays
out of it, for the gate and the live set).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from models.evaluation import score
from models.finetune import Example
from models.ladder import ZERO_SHOT
from models.registry import EMBEDDING_HEAD
from monitor.learning.candidates import Fits
from monitor.learning.data import TrainingData, bucket, same_text


def folds(examples: Sequence[Example], k: int, task: str) -> list[list[Example]]:
    """``examples`` dealt into ``k`` folds, label by label in the order of a hash of the text, so every label is
    spread as evenly as it can be and the folds are the same in every run."""
    ordered = sorted(examples, key=lambda e: (e.label, bucket(task, e.text, 1 << 32), same_text(e.text)))
    parts: list[list[Example]] = [[] for _ in range(k)]
    for i, e in enumerate(ordered):
        parts[i % k].append(e)
    return parts


def pool(data: TrainingData) -> tuple[list[Example], list[Example]]:
    """The labelled examples a cross-validation scores (imported labels and corrections of every split), and the
    pseudo-labels, which only train."""
    every = [*data.train, *data.val, *data.holdout]
    return [e for e in every if e.text not in data.pseudo], [e for e in data.train if e.text in data.pseudo]


@dataclass(frozen=True)
class CrossValidated:
    score: float
    strength: float | None = None
    """A head's strength: the one its folds chose most often (the weaker on a tie)."""


def cross_validate(fits: Fits, rung: str, examples: list[Example], always_train: list[Example],
                   k: int) -> CrossValidated:
    """The task's metric over ``examples``, each labelled by ``rung`` trained without its fold (``k`` folds, the
    next fold validating); zero-shot trains on nothing and labels them all at once."""
    labels, metric = fits.task.label_names, fits.args.metric
    if rung == ZERO_SHOT:
        texts = [e.text for e in examples]
        return CrossValidated(score(metric, [e.label for e in examples],
                                    fits.fit(rung, [], [], texts).predict(texts), labels))
    parts = folds(examples, k, fits.task.name)
    truth: list[str] = []
    predicted: list[str] = []
    strengths: Counter[float] = Counter()
    for f in range(k):
        val = parts[(f + 1) % k]
        train = [e for g, part in enumerate(parts) if g not in (f, (f + 1) % k) for e in part] + always_train
        texts = [e.text for e in parts[f]]
        truth += [e.label for e in parts[f]]
        cand = fits.fit(rung, train, val, texts)
        predicted += cand.predict(texts)
        if rung == EMBEDDING_HEAD:
            strengths[cand.details["strength"]] += 1
    strength = min(strengths, key=lambda s: (-strengths[s], s)) if strengths else None
    return CrossValidated(score(metric, truth, predicted, labels), strength)
