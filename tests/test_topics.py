"""The online topic model: river's contract, topic creation, merging, forgetting, bounds, keywords, restore."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.keywords import ctfidf, words
from models.topics import OnlineTopicModel


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture
def centers() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.array([unit(v) for v in rng.normal(size=(4, 64))])


def noisy(center: np.ndarray, rng: np.random.Generator, scale: float = 0.02) -> np.ndarray:
    return unit(center + rng.normal(scale=scale, size=center.shape))


def test_items_near_each_other_share_a_topic_and_far_ones_start_new_ones(centers: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    model = OnlineTopicModel(threshold=0.6)
    assert model.predict_one(centers[0]) == -1
    assigned = [model.update(noisy(centers[i % 4], rng), ts=float(i)) for i in range(40)]
    assert len(model) == 4
    assert [assigned[i] for i in range(0, 40, 4)] == [assigned[0]] * 10
    assert len(set(assigned[:4])) == 4
    assert model.predict_one(noisy(centers[2], rng)) == assigned[2]


def test_learn_one_and_predict_one_accept_river_dicts(centers: np.ndarray) -> None:
    model = OnlineTopicModel(threshold=0.6)
    x = {i: float(v) for i, v in enumerate(centers[1])}
    assert model.learn_one(x) is None
    assert model.predict_one(x) == model.topics()[0].id


def test_topics_whose_centres_converge_merge_into_the_larger(centers: np.ndarray) -> None:
    a, b = centers[0], unit(centers[0] + 0.9 * centers[1])
    model = OnlineTopicModel(threshold=0.75, merge_threshold=0.8)
    first = model.update(a)
    model.update(a)
    second = model.update(b)
    assert second != first and len(model) == 2
    bridge = unit(a + b)
    for _ in range(3):
        joined = model.update(bridge)
    assert len(model) == 1
    assert joined == first
    assert model.get(first).size == 6
    assert model.drain_changes().removed == {second: first}


def test_stale_topics_are_forgotten_and_the_number_of_topics_is_bounded(centers: np.ndarray) -> None:
    model = OnlineTopicModel(threshold=0.9, merge_threshold=0.95, forget_after=100.0, max_topics=3)
    ids = [model.update(c, ts=float(i)) for i, c in enumerate(centers)]
    assert len(model) == 3
    assert model.get(ids[0]) is None
    assert model.forget(now=102.5) == [ids[1], ids[2]]
    assert [t.id for t in model.topics()] == [ids[3]]


def test_keywords_are_class_based_tfidf_without_stop_words(centers: np.ndarray) -> None:
    assert words("The Kernel PATCH is in the list: http://x.org 2002") == ["kernel", "patch"]
    model = OnlineTopicModel(threshold=0.9, merge_threshold=0.95)
    kernel = model.update(centers[0], text="kernel patch linux mailing driver")
    model.update(centers[0], text="kernel patch linux mailing module")
    money = model.update(centers[1], text="mortgage rates refinance linux")
    assert model.keywords(kernel, 2) == ["kernel", "patch"]
    assert model.keywords(money, 1) == ["mortgage"]
    assert "linux" in model.keywords(kernel, 10)
    assert ctfidf({}, {}, 1.0, 5) == []


def test_restored_model_continues_where_the_saved_one_stopped(centers: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    model = OnlineTopicModel(threshold=0.6)
    for i in range(20):
        model.update(noisy(centers[i % 2], rng), text="alpha beta", item_id=f"i{i}", ts=float(i))
    saved = model.drain_changes().updated
    restored = OnlineTopicModel.restore(saved, next_id=model.next_id, updates=model.updates, threshold=0.6)
    probe = noisy(centers[1], rng)
    assert restored.predict_one(probe) == model.predict_one(probe)
    assert restored.keywords(saved[0].id) == model.keywords(saved[0].id)
    assert restored.update(centers[3]) == model.next_id
    clone = pickle.loads(pickle.dumps(model))
    assert clone.predict_one(probe) == model.predict_one(probe)


def test_representatives_are_the_members_nearest_the_centre(centers: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    model = OnlineTopicModel(threshold=0.5, representatives=3)
    tid = model.update(centers[0], item_id="exact")
    for i in range(10):
        model.update(noisy(centers[0], rng, scale=0.05), item_id=f"n{i}")
    reps = model.get(tid).representatives
    assert len(reps) == 3
    assert [s for s, _ in reps] == sorted((s for s, _ in reps), reverse=True)
