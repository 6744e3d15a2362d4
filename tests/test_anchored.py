"""The head anchored at zero-shot (models.anchored): its two ends are zero-shot and the plain logistic regression."""

from __future__ import annotations

import numpy as np

from models.anchored import train_anchored
from models.classifier import LabelSpec, TaskSpec, ZeroShotClassifier
from models.head import train_head

LABELS = ["a", "b", "c"]
TASK = TaskSpec("t", tuple(LabelSpec(x) for x in LABELS))


def data(n: int, seed: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``n`` noisy unit vectors around one centre per label (classes overlap, so the plain fit is unique), and
    label descriptions that point near, not at, the centres: zero-shot is right often, not always."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 8) * 0.6
    y = rng.integers(0, 3, n)
    x = centres[y] + rng.normal(scale=0.5, size=(n, 8))
    prompts = np.eye(3, 8) + np.random.default_rng(99).normal(scale=0.5, size=(3, 8))
    unit = np.linalg.norm
    return ((x / unit(x, axis=1, keepdims=True)).astype(np.float32), [LABELS[i] for i in y],
            (prompts / unit(prompts, axis=1, keepdims=True)).astype(np.float32))


def fit(strength: float, x: np.ndarray, y: list[str], prompts: np.ndarray) -> np.ndarray:
    result = train_anchored(LABELS, prompts, TASK.temperature, x, y, [1.0] * len(y), x[:1], y[:1],
                            strengths=(strength,))
    return np.hstack([result.head.weight, result.head.bias[:, None]])


def test_a_strong_anchor_is_zero_shot_and_a_weak_one_the_plain_head() -> None:
    x, y, prompts = data(300, 0)
    x_new, _, _ = data(200, 1)
    zero = ZeroShotClassifier(TASK, prompts).predict([""] * len(x_new), x_new)
    result = train_anchored(LABELS, prompts, TASK.temperature, x, y, [1.0] * len(y), x[:1], y[:1],
                            strengths=(1e-6,))
    anchored = result.head.probabilities(x_new)
    assert [LABELS[i] for i in anchored.argmax(axis=1)] == [p.label for p in zero]
    assert np.allclose(anchored, [[p.scores[k] for k in LABELS] for p in zero], atol=1e-3)

    plain = train_head(LABELS, x, y, [1.0] * len(y), x[:1], y[:1], strengths=(1e4,)).head
    weak = fit(1e4, x, y, prompts)
    distance = {s: float(np.abs(fit(s, x, y, prompts) - weak).max()) for s in (0.1, 1.0, 10.0)}
    assert distance[0.1] > distance[1.0] > distance[10.0]
    centred = weak - weak.mean(axis=0)  # softmax logits are defined up to a shift shared by the labels
    head = np.hstack([plain.weight, plain.bias[:, None]])
    assert np.abs(centred - (head - head.mean(axis=0))).max() < 0.05 * np.abs(head).max()
    assert (weak[:, :-1] @ x_new.T + weak[:, -1:]).argmax(axis=0).tolist() == \
        plain.probabilities(x_new).argmax(axis=1).tolist()


def test_the_strength_is_chosen_on_validation_and_a_label_without_examples_keeps_zero_shot() -> None:
    x, y, prompts = data(300, 0)
    without_c = [i for i, v in enumerate(y) if v != "c"]
    x_val, y_val, _ = data(100, 2)
    result = train_anchored(LABELS, prompts, TASK.temperature, x[without_c], [y[i] for i in without_c],
                            [1.0] * len(without_c), x_val, y_val, metric="accuracy")
    found = result.head.probabilities(x_val).argmax(axis=1)
    assert 2 in found.tolist()
    assert result.val_score == round(float(np.mean([LABELS[i] for i in found] == np.array(y_val))), 4)
