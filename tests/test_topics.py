"""The online topic model: river's contract, topic creation, merging, splitting, forgetting, bounds, keywords,
restore, grouping and short names."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from models.keywords import ctfidf, short_name, words
from models.topics import OnlineTopicModel, hierarchy
from monitor.config.load import load_settings
from monitor.enrich.build import restore_topics
from monitor.enrich.pipeline import BatchResult, Enriched
from monitor.ingest.item import Item
from monitor.store.db import Store
from tests.cli import lookout_here


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
    assert words("Don't re-ship the MP3 files, naïve café Straße") == ["ship", "files", "naive", "cafe", "strasse"]
    assert words("") == [] and words("Привет мир 2024") == [], "no Latin letters, no keywords (and no error)"
    model = OnlineTopicModel(threshold=0.9, merge_threshold=0.95)
    kernel = model.update(centers[0], text="kernel patch linux mailing driver")
    model.update(centers[0], text="kernel patch linux mailing module")
    money = model.update(centers[1], text="mortgage rates refinance linux")
    assert model.keywords(kernel, 2) == ["kernel", "patch"]
    assert model.keywords(money, 1) == ["mortgage"]
    assert "linux" in model.keywords(kernel, 10)
    spam = model.update(centers[2], text="offer offer offer offer offer prize")
    assert model.get(spam).terms == {"offer": 1, "prize": 1}, "a word counts once per item"
    assert ctfidf({}, {}, 1.0, 5) == []


def test_keywords_follow_a_topic_whose_words_change_over_time(centers: np.ndarray, tmp_path: Path) -> None:
    week = 7 * 86400.0

    def stream(half_life: float) -> tuple[OnlineTopicModel, int]:
        model = OnlineTopicModel(threshold=0.9, merge_threshold=0.95, term_half_life=half_life)
        tid = model.update(centers[0], text="alpha launch", ts=0.0)
        for i in range(1, 20):
            model.update(centers[0], text="alpha launch", ts=float(i))
        for i in range(5):
            model.update(centers[0], text="beta outage", ts=3 * week + i)
        return model, tid

    kept, tid = stream(0.0)
    assert kept.keywords(tid, 2) == ["alpha", "launch"], "without decay the old words still outnumber the new"
    aged, tid = stream(week)
    assert aged.keywords(tid, 2) == ["beta", "outage"]
    assert aged.get(tid).terms["alpha"] == pytest.approx(20 / 8), "three half-lives later"
    changes = aged.drain_changes()
    store = Store(tmp_path / "t.db")
    store.complete(BatchResult([], changes, {t.id: aged.keywords(t.id) for t in changes.updated},
                               {"next_id": aged.next_id, "updates": aged.updates}, []))
    [saved], _ = store.load_topics()
    store.close()
    assert saved.terms_at == 3 * week and saved.terms["alpha"] == pytest.approx(2.5), "the decay is saved"


def test_the_daemon_makes_its_topic_model_from_the_topics_settings(centers: np.ndarray, tmp_path: Path) -> None:
    settings = load_settings(None, env={}, overrides={"store": {"path": str(tmp_path / "t.db")}, "topics": {
        "keyword_chars": 20, "term_half_life_hours": 2.0, "threshold": 0.4, "merge_threshold": 0.9}})
    store = Store(settings.store.path)
    model = restore_topics(store, settings)
    store.close()
    tid = model.update(centers[0], text="alpha beta gamma    delta epsilon")
    assert model.get(tid).terms == {"alpha": 1, "beta": 1, "gamma": 1}, "only the first keyword_chars count"
    assert (model.threshold, model.merge_threshold, model.term_half_life) == (0.4, 0.9, 7200.0)


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
    assert [r[0] for r in reps] == sorted((r[0] for r in reps), reverse=True)


def two_stories(centers: np.ndarray, similarity: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Two directions ``similarity`` apart: close enough to share a topic at first, far enough to split."""
    a = centers[0]
    c = unit(centers[1] - (centers[1] @ a) * a)
    return a, unit(similarity * a + np.sqrt(1 - similarity**2) * c)


def split_model(**extra: float) -> OnlineTopicModel:
    return OnlineTopicModel(threshold=0.4, merge_threshold=0.8, split_threshold=0.6, min_split_size=5, **extra)


def test_a_topic_whose_halves_drift_apart_splits_and_the_larger_half_keeps_its_id(centers: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    a, b = two_stories(centers)
    model = split_model()
    ids = [model.update(noisy(a if i % 2 == 0 else b, rng), text="alpha" if i % 2 == 0 else "beta",
                        item_id=f"{'ab'[i % 2]}{i}", ts=float(i)) for i in range(30)]
    first = ids[0]
    assert ids[:9] == [first] * 9
    child = ids[-1]
    assert child != first and len(model) == 2
    assert set(ids[10::2]) == {first} and set(ids[11::2]) == {child}
    assert model.get(first).size + model.get(child).size == 30
    assert model.keywords(first, 1) == ["alpha"] and model.keywords(child, 1) == ["beta"]
    assert all(r[1].startswith("a") for r in model.get(first).representatives)
    assert all(r[1].startswith("b") for r in model.get(child).representatives)
    events = model.drain_changes().events
    assert [(e.kind, e.topic, e.other) for e in events] == [("split", first, child)]
    assert events[0].size == 5


def test_splitting_is_off_by_default_and_one_tight_story_never_splits(centers: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    a, b = two_stories(centers)
    plain = OnlineTopicModel(threshold=0.4)
    assert len({plain.update(noisy(a if i % 2 else b, rng)) for i in range(40)}) == 1
    tight = split_model()
    assert len({tight.update(noisy(a, rng, scale=0.05)) for i in range(200)}) == 1
    assert tight.drain_changes().events == []


def test_a_restored_model_splits_exactly_where_the_running_one_does(centers: np.ndarray, tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    a, b = two_stories(centers)
    stream = [noisy(a if i % 2 == 0 else b, rng) for i in range(30)]
    running = split_model()
    expected = [running.update(v, ts=float(i)) for i, v in enumerate(stream)]
    model = split_model()
    for i, v in enumerate(stream[:7]):
        model.update(v, ts=float(i))
    store = Store(tmp_path / "t.db")
    changes = model.drain_changes()
    store.complete(BatchResult([], changes, {}, {"next_id": model.next_id, "updates": model.updates}, []))
    store.close()
    topics, meta = Store(tmp_path / "t.db").load_topics()
    restored = OnlineTopicModel.restore(topics, meta["next_id"], meta["updates"], threshold=0.4,
                                        merge_threshold=0.8, split_threshold=0.6, min_split_size=5)
    assert [restored.update(v, ts=float(i)) for i, v in enumerate(stream[7:], 7)] == expected[7:]
    assert len(set(expected)) == 2


def test_related_topics_are_grouped_under_the_largest(centers: np.ndarray) -> None:
    a, b = two_stories(centers, similarity=0.7)
    far = centers[2]
    parents = hierarchy([1, 2, 3], np.stack([a, b, far]), [10, 30, 5], groups=2)
    assert parents == {1: 2}
    assert hierarchy([1, 2, 3], np.stack([a, b, far]), [10, 30, 5], groups=3) == {}, "one group per topic"
    assert hierarchy([1, 2, 3], np.stack([a, b, far]), [10, 30, 5], groups=1) == {1: 2, 3: 2}
    assert hierarchy([1], np.stack([a]), [3], 2) == {}
    assert hierarchy([1, 2, 3], np.stack([a, a, b]), [10, 30, 5], groups=3) == {1: 2}, "alike topics share a group"


def test_a_short_name_skips_variants_of_a_keyword_already_taken() -> None:
    assert short_name(["vaccine", "vaccines", "booster", "vaccination", "rollout", "clinic"]) == \
        "vaccine / booster / rollout"
    assert short_name([]) == ""


def test_lookout_topic_shows_the_history_and_topics_tree_groups_related_ones(
        centers: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    rng = np.random.default_rng(4)
    a, b = two_stories(centers)
    model = split_model()
    ids = [model.update(noisy(a if i % 2 == 0 else b, rng), text="alpha rocket" if i % 2 == 0 else "beta comet",
                        ts=1_700_000_000.0 + i) for i in range(30)]
    first, child = ids[0], ids[-1]
    changes = model.drain_changes()
    store = Store(tmp_path / "t.db")
    store.complete(BatchResult([], changes, {t.id: model.keywords(t.id) for t in changes.updated},
                               {"next_id": model.next_id, "updates": model.updates}, []))
    store.close()
    config = tmp_path / "l.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "t.db"}"\n[topics]\ngroups = 1\n')

    shown = lookout_here(capsys, monkeypatch, "topic", f"#{first}", "--config", str(config))
    assert shown.returncode == 0
    assert shown.stdout.startswith(f"Topic #{first} alpha / rocket (live): 15 items")
    assert shown.stdout.endswith(f"history:\n  2023-11-14 22:13  #{child} split off it (5 items)\n")
    shown = lookout_here(capsys, monkeypatch, "topic", str(child), "--config", str(config))
    assert shown.stdout.endswith(f"  2023-11-14 22:13  split off #{first} with 5 items\n")
    missing = lookout_here(capsys, monkeypatch, "topic", "999", "--config", str(config))
    assert missing.returncode == 2 and missing.stderr == "lookout: there is no topic #999\n"

    tree = lookout_here(capsys, monkeypatch, "topics", "--tree", "--min-size", "1", "--config", str(config))
    assert tree.stdout == f"#{first} alpha / rocket (15 items)\n  └ #{child} beta / comet (15 items)\n"
    flat = lookout_here(capsys, monkeypatch, "topics", "--min-size", "1", "--config", str(config))
    assert "beta / comet" in flat.stdout and "name" in flat.stdout.splitlines()[0]


def spelled(n: int, prefix: str) -> str:
    """A word unique to ``n`` made of letters only (the tokenizer drops digits): ``wordbcd`` for 123."""
    return prefix + "".join(chr(ord("a") + int(d)) for d in str(n))


def test_memory_stays_bounded_under_a_stream_of_all_new_topics() -> None:
    rng = np.random.default_rng(8)
    model = OnlineTopicModel(threshold=0.9, merge_threshold=0.95, max_topics=50, split_threshold=0.5)
    for i in range(3000):
        text = " ".join(spelled(i, p) for p in ("word", "other", "third"))
        model.update(unit(rng.normal(size=64)), text=text, item_id=f"i{i}", ts=float(i))
        model.drain_changes()
    assert len(model) == 50
    at_cap = split_model(max_topics=2)
    a, b = two_stories(np.array([unit(v) for v in rng.normal(size=(2, 64))]))
    at_cap.update(unit(rng.normal(size=64)), ts=0.0)
    for i in range(30):
        at_cap.update(noisy(a if i % 2 == 0 else b, rng), ts=float(i + 1))
    assert len(at_cap) == 2 and [e.kind for e in at_cap.drain_changes().events] == ["forget", "split"], \
        "a split at the cap forgets the longest-idle topic first"
    assert model._matrix.shape[0] <= 128, "the centre matrix does not grow past the cap"
    assert model.corpus()[1] == 150, "terms of forgotten topics are forgotten too"


def save(model: OnlineTopicModel, path: Path, results: list[Enriched] | None = None) -> None:
    changes = model.drain_changes()
    store = Store(path)
    store.complete(BatchResult(results or [], changes, {t.id: model.keywords(t.id) for t in changes.updated},
                               {"next_id": model.next_id, "updates": model.updates}, []))
    store.close()


def test_typical_items_are_the_members_nearest_the_centre_after_it_drifted(centers: np.ndarray,
                                                                            tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    model = OnlineTopicModel(threshold=0.3, representatives=3)
    a, b = two_stories(centers, similarity=0.6)
    members = {"first": a, **{f"a{i}": noisy(a, rng, scale=0.03) for i in range(5)},
               **{f"m{i}": noisy(unit(a + b), rng, scale=0.03) for i in range(30)}}
    tid = model.update(a, item_id="first", ts=0.0)
    for i, (name, v) in enumerate(list(members.items())[1:], 1):
        assert model.update(v, item_id=name, ts=float(i)) == tid
    centre = model.get(tid).centroid
    nearest = sorted(members, key=lambda m: -float(members[m] @ centre))[:3]
    save(model, tmp_path / "t.db")
    [saved], _ = Store(tmp_path / "t.db").load_topics()
    assert [r[1] for r in saved.representatives] == nearest and "first" not in nearest
    assert [r[0] for r in saved.representatives] == pytest.approx([float(members[m] @ centre) for m in nearest],
                                                                   abs=1e-5)


def blob_stream(centers: np.ndarray, n: int = 240) -> list[tuple[np.ndarray, str]]:
    """Two loose stories (alpha, beta) close enough to share a topic, every third item a stray of its own."""
    rng = np.random.default_rng(10)
    a, b = two_stories(centers, similarity=0.6)
    stream = []
    for i in range(n):
        if i % 3 == 2:
            stream.append((unit(rng.normal(size=64)), "stray"))
        else:
            stream.append((noisy(a if i % 3 == 0 else b, rng, scale=0.1), "alpha" if i % 3 == 0 else "beta"))
    return stream


def adaptive(**extra: float) -> OnlineTopicModel:
    return OnlineTopicModel(adaptive=True, split_threshold=0.5, min_split_size=10, **extra)


def test_a_broad_topic_past_its_share_of_the_stream_splits(centers: np.ndarray) -> None:
    stream = blob_stream(centers)
    fixed = OnlineTopicModel(threshold=0.3, split_threshold=0.5, min_split_size=10)
    ids = [fixed.update(v, text=t) for v, t in stream]
    assert len({i for i, (_, t) in zip(ids, stream, strict=True) if t != "stray"}) == 1, "one broad topic"
    model = adaptive()
    for i, (v, t) in enumerate(stream):
        model.update(v, text=t, ts=float(i))
    events = model.drain_changes().events
    assert [e.kind for e in events] == ["split"]
    largest = model.topics()[:2]
    assert sorted(model.keywords(t.id, 1)[0] for t in largest) == ["alpha", "beta"]
    assert [t.size for t in largest] == [80, 80], "each story whole, the strays left alone"


def test_a_stream_of_near_duplicates_stays_one_topic(centers: np.ndarray) -> None:
    rng = np.random.default_rng(11)
    model = adaptive()
    ids = {model.update(noisy(centers[0], rng, scale=0.01), ts=float(i)) for i in range(300)}
    assert len(ids) == 1 and model.topics()[0].size == 300
    assert model.bar() == 0.5, "the bar stops at BAR_CEILING however alike the stream is"
    assert model.drain_changes().events == []


def test_the_adaptive_bar_follows_the_stream_and_survives_a_restore(centers: np.ndarray, tmp_path: Path) -> None:
    stream = blob_stream(centers)
    running = adaptive()
    expected = [running.update(v, text=t, item_id=f"i{i}", ts=float(i)) for i, (v, t) in enumerate(stream)]
    model = adaptive()
    for i, (v, t) in enumerate(stream[:100]):
        model.update(v, text=t, item_id=f"i{i}", ts=float(i))
    bar = model.bar()
    assert 0.1 < bar < 0.5
    save(model, tmp_path / "t.db")
    topics, meta = Store(tmp_path / "t.db").load_topics()
    restored = OnlineTopicModel.restore(topics, meta["next_id"], meta["updates"], adaptive=True, split_threshold=0.5,
                                        min_split_size=10)
    assert restored.bar() == pytest.approx(bar)
    assert [restored.update(v, text=t, item_id=f"i{i}", ts=float(i))
            for i, (v, t) in enumerate(stream[100:], 100)] == expected[100:]
    assert [r[1] for r in restored.drain_changes().updated[0].representatives] == \
        [r[1] for r in running.drain_changes().updated[0].representatives]


def test_topics_saved_before_representative_vectors_take_them_from_the_items(centers: np.ndarray,
                                                                              tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    model = OnlineTopicModel(threshold=0.5, representatives=2)
    vectors = [noisy(centers[0], rng) for _ in range(4)]
    items = [Item(id=f"item{i}", source="feed", title=f"t{i}", text="x") for i in range(4)]
    store = Store(tmp_path / "t.db")
    store.add_items("feed", "rss", items)
    store.close()
    results = [Enriched(it, v, [], model.update(v, item_id=it.id)) for it, v in zip(items, vectors, strict=True)]
    save(model, tmp_path / "t.db", results)
    store = Store(tmp_path / "t.db")
    store.db.execute("update topics set candidates = null, rep_vectors = null")
    store.db.conn.commit()
    [topic], _ = store.load_topics()
    store.close()
    by_id = dict(zip((it.id for it in items), vectors, strict=True))
    assert topic.rep_vectors is not None and len(topic.representatives) == 2
    assert np.allclose(topic.rep_vectors, [by_id[r[1]] for r in topic.representatives])
