"""A fine-tuned transformer serving a task: the classifier the learning loop promotes over the zero-shot one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.classifier import Prediction, TaskSpec, check_batch, predictions
from models.embedding import pick_device
from models.finetune import predict_proba, quantize
from models.registry import ModelLoadError, load
from models.shared_body import SharedBody, shared_body

log = logging.getLogger(__name__)


class FineTunedClassifier:
    """Reads the item texts (not the shared embeddings) with a fine-tuned sequence classifier.

    On the CPU, ``int8`` serves a dynamically quantised copy (Linear layers in int8); the learning loop only sets
    it when the quantised model kept the fp32 model's labels on the evaluation set.

    With ``share`` (the default), a model trained with its lowest layers frozen runs only its upper layers and head,
    on the hidden states of a ``SharedBody`` that every task on the same base computes once per batch; when its
    frozen layers are not the base's as it is now, it runs its whole transformer and the log says why.
    """

    def __init__(self, task: TaskSpec, folder: str | Path, version: str, device: str = "auto", int8: bool = False,
                 batch_size: int = 64, share: bool = True) -> None:
        model, tokenizer, meta = load(folder)
        trained = list(meta.get("labels", []))
        if sorted(trained) != sorted(task.label_names):
            raise ModelLoadError(f"{folder}: trained for labels {', '.join(trained)} but task {task.name!r} now has "
                                 f"{', '.join(task.label_names)}; retrain it")
        self.task = task
        self.version = version
        self.meta = meta
        self.device = pick_device(device)
        self.int8 = int8 and self.device == "cpu"
        self.tokenizer = tokenizer
        self.labels = trained
        self.batch_size = batch_size
        args = meta.get("args", {})
        self.max_length = int(args.get("max_length", 128))
        self.layers = int(args.get("freeze_layers", 0))
        self.body = self._share(model, str(args.get("base", ""))) if share else None
        self.model = quantize(model) if self.int8 else model.to(self.device)

    def _share(self, model: Any, base: str) -> SharedBody | None:
        """The body this model shares its frozen layers with, or None (full pass) with the reason logged."""
        if not base or self.layers <= 0:
            return None
        try:
            body = shared_body(base, self.device, self.int8, self.max_length, self.batch_size)
        except (OSError, ValueError) as exc:
            reason = f"its base {base!r} cannot be loaded ({exc})"
        else:
            reason = body.refusal(model, self.tokenizer, self.layers)
            if not reason:
                log.info("task %s %s shares the embeddings and lowest %d layers of %r", self.task.name, self.version,
                         self.layers, base)
                return body
        log.warning("task %s %s runs its whole transformer on every batch: %s", self.task.name, self.version, reason)
        return None

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities in the order of ``self.labels``."""
        if self.body is not None:
            return self.body.probabilities(self.model, self.layers, texts)
        return predict_proba(self.model, self.tokenizer, list(texts), self.batch_size, self.max_length, self.device)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None) -> list[Prediction]:
        check_batch(texts, embeddings)
        if not texts:
            return []
        return predictions(self.task, self.labels, self.probabilities(texts), self.version)
