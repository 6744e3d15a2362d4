"""Fine-tuned tasks trained with frozen lower layers on the bundled model share one pass of those layers per batch,
and predict what their full pass predicts; a model whose frozen layers are not the base's runs the full pass."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from models import registry
from models.classifier import LabelSpec, TaskSpec
from models.finetune import Example, TrainArgs, train
from models.finetuned import FineTunedClassifier
from models.ladder import open_version
from monitor.enrich.pipeline import classify
from tests.test_learning import sample

TASK = TaskSpec("spam", (LabelSpec("ham"), LabelSpec("spam")))
TEXTS = [r["text"] for r in sample()[:70]] + ["ok", "cheap pills", ""]


def fine_tune(root: Path, name: str, freeze_layers: int) -> Path:
    """A tiny run on the bundled all-MiniLM-L6-v2 with its lowest ``freeze_layers`` layers frozen, registered."""
    rows = [Example(r["text"], r["label"]) for r in sample()[:48]]
    args = TrainArgs(freeze_layers=freeze_layers, epochs=1, learning_rate=1e-3, batch_size=16, max_length=48,
                     metric="accuracy")
    result = train(TASK.label_names, rows[:32], rows[32:], args, device="cpu")
    return registry.save(root / name / "v1", result.model, result.tokenizer,
                         {"labels": TASK.label_names, "args": asdict(args)})


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"top2": fine_tune(root, "top2", 4), "top4": fine_tune(root, "top4", 2)}


def full_pass(folder: Path, int8: bool = False) -> np.ndarray:
    return FineTunedClassifier(TASK, folder, "v1", device="cpu", int8=int8, share=False).probabilities(TEXTS)


@pytest.mark.parametrize("int8", [False, True])
def test_tasks_on_one_frozen_base_share_its_layers_and_predict_what_the_full_pass_predicts(
        versions: dict[str, Path], int8: bool) -> None:
    served = [open_version(TASK, versions[name], "v1", "test", device="cpu", int8=int8) for name in ("top2", "top4")]
    assert all(isinstance(c, FineTunedClassifier) for c in served)
    bodies = [c.body for c in served if isinstance(c, FineTunedClassifier)]
    assert bodies[0] is not None and bodies[0] is bodies[1]
    encoded = classify(lambda texts: np.zeros((len(texts), 4), dtype=np.float32), served, TEXTS)
    full = [full_pass(versions[name], int8) for name in ("top2", "top4")]
    for n, expected in enumerate(full):
        shared = np.array([[p[n].scores[label] for label in TASK.label_names] for p in encoded.predictions])
        assert np.abs(shared - expected.round(4)).max() <= 1e-4
        clf = served[n]
        assert isinstance(clf, FineTunedClassifier)
        assert np.abs(clf.probabilities(TEXTS) - expected).max() <= 1e-5
    assert not np.allclose(full[0], full[1], atol=1e-3)


def test_a_model_whose_frozen_layers_changed_runs_its_full_pass_and_says_why(
        versions: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model, tokenizer, meta = registry.load(versions["top2"])
    with torch.no_grad():
        model.base_model.encoder.layer[1].output.dense.weight.mul_(1.01)
    changed = registry.save(tmp_path / "changed" / "v1", model, tokenizer, meta)
    with caplog.at_level(logging.WARNING, logger="models.finetuned"):
        served = FineTunedClassifier(TASK, changed, "v1", device="cpu")
    assert served.body is None
    assert "runs its whole transformer on every batch: its embeddings and lowest 4 layers differ" in caplog.text
    assert np.abs(served.probabilities(TEXTS) - full_pass(changed)).max() <= 1e-6

