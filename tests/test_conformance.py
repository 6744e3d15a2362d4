"""One contract per protocol, river-style (``river.checks.check_estimator``): every classifier rung and every topic
model passes the same parametrized checks: the shape of what it returns, the empty batch, determinism, a
save-and-restore round trip, and a clear error on bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from models import registry
from models.anchored import train_anchored
from models.classifier import Classifier, LabelSpec, TaskSpec, ZeroShotClassifier
from models.finetune import Example, TrainArgs, train
from models.head import HeadClassifier
from models.ladder import RUNGS, open_version
from models.setfit import SetFitArgs, train_setfit
from models.topics import OnlineTopicModel

TASK = TaskSpec("spam", (LabelSpec("ham", "a reply on the mailing list"), LabelSpec("spam", "buy cheap pills now")),
                unsure_below=0.6)
DIMS = 16
TEXTS = ["buy cheap pills now, limited offer", "re: the patch looks fine to me", "cheap watches, click here",
         "meeting moved to thursday", "win a free cruise today", "can you review my pull request"]
LABELS = ["spam", "ham", "spam", "ham", "spam", "ham"]


def embed(n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors whose first coordinate says spam (+) or ham (-), as ``LABELS`` cycles."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.3, size=(n, DIMS)).astype(np.float32)
    x[:, 0] += [1.0 if LABELS[i % len(LABELS)] == "spam" else -1.0 for i in range(n)]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


Build = Callable[[Path], tuple[Classifier, Callable[[], Classifier]]]
"""Builds a classifier in a folder and says how to reopen it from what was saved there."""


PROMPTS = np.array([[sign] + [0.0] * (DIMS - 1) for sign in (-1.0, 1.0)], dtype=np.float32)
"""Label embeddings of ham and spam: the first coordinate says which, as in ``embed``."""


def zero_shot(folder: Path) -> tuple[Classifier, Callable[[], Classifier]]:
    return ZeroShotClassifier(TASK, PROMPTS.copy()), lambda: ZeroShotClassifier(TASK, PROMPTS.copy())


def head(folder: Path) -> tuple[Classifier, Callable[[], Classifier]]:
    """The head as the rung trains it: anchored at the zero-shot classifier's label embeddings."""
    x = embed(60)
    result = train_anchored(TASK.label_names, PROMPTS, TASK.temperature, x[:48], [LABELS[i % 6] for i in range(48)],
                            [1.0] * 48, x[48:], [LABELS[i % 6] for i in range(48, 60)])
    saved = registry.save_head(folder / "v1", result.head, {"labels": TASK.label_names, "embedding": "test"})
    return HeadClassifier(TASK, result.head, "v1"), lambda: open_version(TASK, saved, "v1", "test")


def fine_tuned(folder: Path, base: str) -> tuple[Classifier, Callable[[], Classifier]]:
    rows = [Example(TEXTS[i % 6], LABELS[i % 6]) for i in range(48)]
    args = TrainArgs(base=base, freeze_layers=0, epochs=2, patience=2, learning_rate=3e-3, max_length=32,
                     metric="accuracy")
    result = train(TASK.label_names, rows[:36], rows[36:], args, device="cpu")
    saved = registry.save(folder / "v1", result.model, result.tokenizer, {"labels": TASK.label_names})
    served = open_version(TASK, saved, "v1", "test", device="cpu")
    return served, lambda: open_version(TASK, saved, "v1", "test", device="cpu")


def setfit(folder: Path, base: str) -> tuple[Classifier, Callable[[], Classifier]]:
    rows = [Example(TEXTS[i % 6], LABELS[i % 6]) for i in range(48)]
    result = train_setfit(TASK, rows[:36], rows[36:], base,
                          SetFitArgs(pairs=32, freeze_layers=0, learning_rate=1e-3, max_length=32), "accuracy",
                          device="cpu")
    saved = registry.save_setfit(folder / "v1", result.encoder, result.head.head,
                                 {"labels": TASK.label_names, "args": {"max_length": 32}})
    served = open_version(TASK, saved, "v1", "test", device="cpu")
    return served, lambda: open_version(TASK, saved, "v1", "test", device="cpu")


CLASSIFIERS = ("zero-shot", "head", "setfit", "fine-tuned")


def test_every_rung_of_the_ladder_is_checked() -> None:
    assert CLASSIFIERS == RUNGS


@pytest.fixture(params=CLASSIFIERS)
def classifier(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Classifier, Callable[[], Classifier]]:
    if request.param in ("setfit", "fine-tuned"):
        build = setfit if request.param == "setfit" else fine_tuned
        return build(tmp_path, request.getfixturevalue("tiny_model"))
    return {"zero-shot": zero_shot, "head": head}[request.param](tmp_path)


def test_a_classifier_labels_every_item_with_a_distribution_over_the_task(
        classifier: tuple[Classifier, Callable[[], Classifier]]) -> None:
    served, _ = classifier
    found = served.predict(TEXTS, embed(6))
    assert len(found) == len(TEXTS)
    for p in found:
        assert p.task == "spam" and p.label in TASK.label_names and p.scores.keys() == set(TASK.label_names)
        assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-4)
        assert p.confidence == pytest.approx(max(p.scores.values()), abs=1e-3)
        assert p.scores[p.label] == max(p.scores.values())
        assert p.unsure == (p.confidence < TASK.unsure_below) and p.model == served.version


def test_a_classifier_answers_the_empty_batch_with_nothing(
        classifier: tuple[Classifier, Callable[[], Classifier]]) -> None:
    served, _ = classifier
    assert served.predict([], np.zeros((0, DIMS), dtype=np.float32)) == []


def test_a_classifier_is_deterministic_and_survives_a_round_trip(
        classifier: tuple[Classifier, Callable[[], Classifier]]) -> None:
    served, reopen = classifier
    first, again, restored = (c.predict(TEXTS, embed(6)) for c in (served, served, reopen()))
    assert [p.label for p in first] == [p.label for p in again] == [p.label for p in restored]
    for a, b in zip(first, restored, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_a_classifier_refuses_a_batch_whose_texts_and_embeddings_disagree(
        classifier: tuple[Classifier, Callable[[], Classifier]]) -> None:
    served, _ = classifier
    with pytest.raises(ValueError, match="3 texts but 6 embeddings in one batch"):
        served.predict(TEXTS[:3], embed(6))


@pytest.mark.parametrize("build", [zero_shot, head], ids=["zero-shot", "head"])
def test_a_classifier_on_the_embedding_refuses_vectors_of_another_width(build: Build, tmp_path: Path) -> None:
    served, _ = build(tmp_path)
    with pytest.raises(ValueError, match=f"{DIMS + 1} dimensions but the classifier reads {DIMS}"):
            served.predict(TEXTS, np.ones((6, DIMS + 1), dtype=np.float32))


# topic models ---------------------------------------------------------------------------------------------------
TopicModelFactory = Callable[[], OnlineTopicModel]
TOPIC_MODELS: dict[str, TopicModelFactory] = {"online": OnlineTopicModel}


def stream(n: int, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """``n`` items around four themes, each with a short text."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 32))
    words = ["storm flood rain", "election vote poll", "match goal league", "virus outbreak cases"]
    out = []
    for i in range(n):
        v = centres[i % 4] + rng.normal(scale=0.3, size=32)
        out.append((v / np.linalg.norm(v), f"{words[i % 4]} item{i}"))
    return out


def learn(model: OnlineTopicModel, items: list[tuple[np.ndarray, str]]) -> list[int]:
    return [model.update(v, text=t, item_id=f"i{i}", ts=float(i)) for i, (v, t) in enumerate(items)]


@pytest.fixture(params=sorted(TOPIC_MODELS))
def topic_model(request: pytest.FixtureRequest) -> TopicModelFactory:
    return TOPIC_MODELS[request.param]


def test_a_topic_model_starts_empty_and_follows_rivers_contract(topic_model: TopicModelFactory) -> None:
    model = topic_model()
    probe, text = stream(1)[0]
    assert len(model) == 0 and model.predict_one(probe) == -1
    model.learn_one(probe, text=text, item_id="a", ts=1.0)
    assert len(model) == 1 and model.predict_one(probe) == model.topics()[0].id
    assert model.predict_one(dict(enumerate(probe))) == model.predict_one(probe)


def test_a_topic_model_is_deterministic(topic_model: TopicModelFactory) -> None:
    items = stream(200)
    a, b = topic_model(), topic_model()
    assert learn(a, items) == learn(b, items)
    assert [t.id for t in a.topics()] == [t.id for t in b.topics()]
    assert [a.keywords(t.id) for t in a.topics()] == [b.keywords(t.id) for t in b.topics()]


def test_a_topic_model_survives_a_round_trip(topic_model: TopicModelFactory) -> None:
    items = stream(200)
    model = topic_model()
    learn(model, items)
    restored = type(model).restore(model.topics(), model.next_id, model.updates)
    probes = [v for v, _ in stream(40, seed=1)]
    assert [restored.predict_one(v) for v in probes] == [model.predict_one(v) for v in probes]
    assert [restored.keywords(t.id) for t in restored.topics()] == [model.keywords(t.id) for t in model.topics()]
    more = stream(50, seed=2)
    assert learn(restored, more) == learn(model, more)


@pytest.mark.parametrize("bad", [np.zeros(32), np.full(32, np.nan), np.ones(33)], ids=["zero", "nan", "width"])
def test_a_topic_model_refuses_a_vector_it_cannot_place(topic_model: TopicModelFactory, bad: np.ndarray) -> None:
    model = topic_model()
    learn(model, stream(8))
    before = [(t.id, t.size) for t in model.topics()]
    with pytest.raises(ValueError, match="embedding"):
        model.update(bad, text="x", item_id="bad", ts=9.0)
    assert [(t.id, t.size) for t in model.topics()] == before
