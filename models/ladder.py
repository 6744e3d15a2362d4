"""The classifier ladder, cheapest first: zero-shot, a head on the embedding, a tuned encoder with a head (SetFit),
a fine-tuned transformer.

A training run scores every rung it trains on the same held-out set; ``choose`` takes the best, and a tie (within
the tolerance) goes to the cheaper rung. ``open_version`` serves a registered version of any rung.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from models import registry
from models.classifier import Classifier, TaskSpec
from models.finetuned import FineTunedClassifier
from models.head import EmbeddingHead, HeadClassifier
from models.registry import ModelLoadError
from models.setfit import SetFitClassifier

ZERO_SHOT = "zero-shot"
RUNGS = (ZERO_SHOT, registry.EMBEDDING_HEAD, registry.SETFIT, registry.FINETUNED)
COST = {name: n for n, name in enumerate(RUNGS)}


def choose(scores: Mapping[str, float], tolerance: float) -> str:
    """The rung with the best score; one within ``tolerance`` of the best that is cheaper wins the tie."""
    best = max(scores.values())
    return min((r for r, s in scores.items() if s >= best - tolerance), key=COST.__getitem__)


def open_version(task: TaskSpec, folder: str | Path, version: str, embedding: str, device: str = "auto",
                 int8: bool = False) -> Classifier:
    """The classifier of a registered version; ``ModelLoadError`` when it is unfinished, corrupt, trained for other
    labels or (a head) on the embeddings of another encoder than ``embedding``."""
    meta = registry.checked_meta(folder)
    trained = list(meta.get("labels", []))
    if sorted(trained) != sorted(task.label_names):
        raise ModelLoadError(f"{folder}: trained for labels {', '.join(trained)} but task {task.name!r} now has "
                             f"{', '.join(task.label_names)}; retrain it")
    if registry.rung(meta) == registry.EMBEDDING_HEAD:
        if meta.get("embedding") != embedding:
            raise ModelLoadError(f"{folder}: a head on the embeddings of {meta.get('embedding')!r}, but items are "
                                 f"encoded with {embedding!r}; retrain it")
        return HeadClassifier(task, EmbeddingHead.load(Path(folder) / registry.HEAD), version)
    if registry.rung(meta) == registry.SETFIT:
        args = meta.get("args", {})
        return SetFitClassifier(task, folder, EmbeddingHead.load(Path(folder) / registry.HEAD), version,
                                device=device, max_chars=int(meta.get("max_chars", 2000)),
                                max_length=int(args.get("max_length", 128)))
    return FineTunedClassifier(task, folder, version, device=device, int8=int8)
