"""The zero-shot classifier: labels by cosine similarity, confidence by softmax, an unsure band."""

from __future__ import annotations

import numpy as np
import pytest

from models.classifier import LabelSpec, TaskSpec, ZeroShotClassifier

TASK = TaskSpec("spam", (LabelSpec("spam", "buy now"), LabelSpec("ham", "a reply on the list")), unsure_below=0.7)


def test_the_nearest_label_description_wins_with_a_confidence() -> None:
    labels = np.eye(2, 4, dtype=np.float32)
    clf = ZeroShotClassifier(TASK, labels)
    items = np.array([[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0], [0.5, 0.49, 0, 0]], dtype=np.float32)
    spam, ham, torn = clf.predict(["a", "b", "c"], items)
    assert (spam.label, ham.label) == ("spam", "ham")
    assert spam.confidence > 0.99 and not spam.unsure
    assert torn.label == "spam" and torn.unsure and 0.5 < torn.confidence < 0.7
    assert spam.scores.keys() == {"spam", "ham"} and spam.model == "zero-shot"
    assert clf.predict([], np.zeros((0, 4))) == []


def test_label_prompts_are_embedded_with_the_item_encoder() -> None:
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        seen.append(texts)
        return np.eye(len(texts), 3, dtype=np.float32)

    ZeroShotClassifier.from_encoder(TASK, encode)
    assert seen == [["buy now", "a reply on the list"]]
    with pytest.raises(ValueError, match="2 labels"):
        ZeroShotClassifier(TASK, np.eye(3, dtype=np.float32))
