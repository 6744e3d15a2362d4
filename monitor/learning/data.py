"""A task's training data from the store: imported labels, corrections and pseudo-labels, deduplicated, split by a
hash of the text into training, validation, held-out and live sets, and augmented where a label is rare."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from models.augment import Augmenter
from models.classifier import TaskSpec
from models.finetune import Example, TrainArgs, TrainingError
from models.setfit import SetFitArgs
from monitor.config.schema import Settings
from monitor.learning.runs import LearningError
from monitor.store.db import Store


def train_args(settings: Settings, task: str) -> TrainArgs:
    t = settings.training
    metric = next(x.metric for x in settings.tasks if x.name == task)
    return TrainArgs(base=t.base, freeze_layers=t.freeze_layers, epochs=t.epochs, patience=t.patience,
                     learning_rate=t.learning_rate, warmup_ratio=t.warmup_ratio, batch_size=t.batch_size,
                     grad_accum=t.grad_accum, max_length=t.max_length, class_weighting=t.class_weighting,
                     seed=t.seed, metric=metric, max_minutes=t.max_minutes)


def setfit_args(settings: Settings) -> SetFitArgs:
    t = settings.training
    return SetFitArgs(pairs=t.setfit_pairs, freeze_layers=t.freeze_layers, batch_size=t.batch_size,
                      max_length=t.max_length, max_chars=settings.model.max_chars, seed=t.seed)


def same_text(text: str) -> str:
    """The key under which texts count as the same (case and spacing ignored), for duplicates and leaks."""
    return " ".join(text.lower().split())


def bucket(task: str, text: str, buckets: int = 100) -> int:
    """Which of ``buckets`` a text falls in, by a hash of the task and the text (case and spacing ignored)."""
    key = same_text(text)
    return int(hashlib.sha1(f"{task}\x00{key}".encode()).hexdigest()[:8], 16) % buckets


@dataclass
class TrainingData:
    train: list[Example] = field(default_factory=list)
    val: list[Example] = field(default_factory=list)
    holdout: list[Example] = field(default_factory=list)
    live: list[Example] = field(default_factory=list)
    report: dict[str, int] = field(default_factory=dict)
    pseudo: set[str] = field(default_factory=set)
    """The texts of ``train`` that are pseudo-labels (never scored on)."""


class _Chosen:
    """One example per text, whatever offers it: a correction beats an imported label, which beats a pseudo-label;
    the latest correction of a text wins, and a text imported with two labels is dropped as a conflict."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.counts = {"imported": 0, "corrections": 0, "pseudo": 0, "duplicates": 0, "conflicts": 0,
                       "unknown_label": 0}
        self.rows: dict[str, dict[str, Any]] = {}
        self.conflicted: set[str] = set()

    def offer(self, text: str, label: str, weight: float, tier: int, split: str, when: float = 0.0) -> None:
        if label not in self.names:
            self.counts["unknown_label"] += 1
            return
        key = same_text(text)
        held = self.rows.get(key)
        if held is None or tier > held["tier"] or (tier == held["tier"] == 2):
            self.rows[key] = {"text": text, "label": label, "weight": weight, "tier": tier, "split": split,
                              "when": when}
            if held is not None:
                self.counts["duplicates"] += 1
        elif tier == held["tier"] and label != held["label"]:
            self.conflicted.add(key)
        else:
            self.counts["duplicates"] += 1

    def drop_conflicts(self) -> None:
        for key in self.conflicted:
            if key in self.rows and self.rows[key]["tier"] == 1:
                del self.rows[key]
                self.counts["conflicts"] += 1


def _offer_all(store: Store, settings: Settings, task: TaskSpec) -> _Chosen:
    """Every imported label, correction and (with ``learning.pseudo_labels``) confident zero-shot label of
    ``task``, resolved to one example per text."""
    s = settings.learning
    chosen = _Chosen(set(task.label_names))
    for example in store.examples(task.name):
        chosen.counts["imported"] += 1
        chosen.offer(example.text, example.label, 1.0, 1, example.split)
    for correction in store.corrected_items(task.name):
        chosen.counts["corrections"] += 1
        chosen.offer(correction.text, correction.label, s.correction_weight, 2, "", correction.created_at)
    if s.pseudo_labels:
        for pseudo in store.confident_labels(task.name, "zero-shot", s.pseudo_min_confidence, 5000):
            chosen.counts["pseudo"] += 1
            chosen.offer(pseudo.text, pseudo.label, s.pseudo_weight, 0, "train")
    chosen.drop_conflicts()
    return chosen


def gather(store: Store, settings: Settings, task: TaskSpec, since: float) -> TrainingData:
    """The training, validation, held-out and live sets of ``task``, duplicates and conflicts resolved. Texts
    without a split go by their hash; when the imported splits name no validation (or no test) set, one is drawn
    from the rows marked ``train`` by the same hash."""
    chosen = _offer_all(store, settings, task)
    counts = chosen.counts
    data = TrainingData(report=counts)
    hp = settings.learning.holdout_percent
    rows = []
    for row in chosen.rows.values():
        place = bucket(task.name, row["text"])
        by_hash = "test" if place < hp else "val" if place < hp + 15 else "train"
        rows.append((row, by_hash, row["split"] or by_hash))
    present = {split for row, _, split in rows if row["tier"] > 0}
    counts.update(val_from_train=0, holdout_from_train=0)
    for row, by_hash, split in rows:
        example = Example(row["text"], row["label"], row["weight"])
        if split == "train" and row["split"] and row["tier"] > 0 and by_hash not in present:
            split = by_hash
            counts["val_from_train" if split == "val" else "holdout_from_train"] += 1
        if row["tier"] == 0 and split != "train":
            continue
        if row["tier"] == 0:
            data.pseudo.add(row["text"])
        {"test": data.holdout, "val": data.val}.get(split, data.train).append(example)
        if split == "test" and row["tier"] == 2 and row["when"] > since:
            data.live.append(example)
    counts.update(train=len(data.train), val=len(data.val), holdout=len(data.holdout), live=len(data.live))
    return data


def check_enough(data: TrainingData, task: TaskSpec, settings: Settings) -> None:
    """Raise ``LearningError`` naming what is missing when ``data`` is too small to train on."""
    s = settings.learning
    per_label = {name: sum(e.label == name for e in data.train) for name in task.label_names}
    short = [f"{name} ({n})" for name, n in per_label.items() if n < s.min_per_label]
    if len(data.train) < s.min_examples or short or not data.val or not data.holdout:
        raise LearningError(
            f"task {task.name!r} has too few labels to train: {len(data.train)} training examples (needs "
            f"{s.min_examples}), {len(data.val)} validation, {len(data.holdout)} held out"
            + (f"; labels under {s.min_per_label} examples: {', '.join(short)}" if short else "")
            + ". Correct more items (`lookout label`, Slack) or import labels (`lookout labels import`).")


def train_split(data: TrainingData, settings: Settings) -> list[Example]:
    """What a model trains on: ``data.train`` plus, with ``training.augment``, seeded variants of the examples of
    rare labels; no variant joins the validation or held-out sets or repeats one of their texts. How many variants
    were made goes into ``data.report["augmented"]``."""
    t = settings.training
    data.report["augmented"] = 0
    if not t.augment:
        return data.train
    try:
        augmenter = Augmenter.load(t.base, t.seed)
    except TrainingError as exc:
        raise LearningError(str(exc)) from exc
    held = {same_text(e.text) for e in [*data.val, *data.holdout]}
    variants = [e for e in augmenter.augment(data.train, t.augment, t.augment_below) if same_text(e.text) not in held]
    data.report["augmented"] = len(variants)
    return data.train + variants
