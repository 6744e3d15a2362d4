"""A fine-tuned transformer serving a task: the classifier the learning loop promotes over the zero-shot one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.classifier import Prediction, TaskSpec, check_batch, predictions
from models.embedding import pick_device
from models.finetune import predict_proba, quantize
from models.registry import ModelLoadError, load


class FineTunedClassifier:
    """Reads the item texts (not the shared embeddings) with a fine-tuned sequence classifier.

    On the CPU, ``int8`` serves a dynamically quantised copy (Linear layers in int8); the learning loop only sets
    it when the quantised model kept the fp32 model's labels on the evaluation set.
    """

    def __init__(self, task: TaskSpec, folder: str | Path, version: str, device: str = "auto", int8: bool = False,
                 batch_size: int = 64) -> None:
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
        self.model = quantize(model) if self.int8 else model.to(self.device)
        self.tokenizer = tokenizer
        self.labels = trained
        self.batch_size = batch_size
        self.max_length = int(meta.get("args", {}).get("max_length", 128))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities in the order of ``self.labels``."""
        return predict_proba(self.model, self.tokenizer, list(texts), self.batch_size, self.max_length, self.device)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None) -> list[Prediction]:
        check_batch(texts, embeddings)
        if not texts:
            return []
        return predictions(self.task, self.labels, self.probabilities(texts), self.version)
