"""Active learning: the selection strategies, and the daemon's ask job using the one configured."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from models.active import COLD_START, STRATEGIES, margins, select
from monitor.config.load import load_settings
from monitor.config.schema import LearningSettings
from monitor.daemon.core import Daemon
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.store.db import Store
from tests.test_learning import TASK
from tests.test_learning_daemon import Recorder


def test_margin_takes_the_least_sure_and_spread_takes_one_per_topic_until_every_topic_had_a_turn() -> None:
    m = [0.05, 0.01, 0.02, 0.30, 0.90, 0.03, 0.50]
    topics = [7, 7, 7, 8, 8, 9, 9]
    assert select(m, topics, 3, "margin").tolist() == [1, 2, 5]
    assert select(m, topics, 3, "spread").tolist() == [1, 5, 3]
    assert select(m, topics, 7, "spread").tolist() == [1, 5, 3, 2, 6, 4, 0]
    assert select(m, topics, 4, "spread", per_topic=2).tolist() == [1, 2, 5, 3]
    assert select(m, topics, 100, "margin").tolist() == np.argsort(m, kind="stable").tolist()


def test_random_is_a_seeded_sample_and_an_unknown_strategy_is_refused() -> None:
    first = select(np.zeros(50), np.zeros(50), 10, "random", seed=3)
    assert len(set(first.tolist())) == 10 and first.tolist() == select(np.ones(50), [], 10, "random", seed=3).tolist()
    assert first.tolist() != select(np.zeros(50), np.zeros(50), 10, "random", seed=4).tolist()
    with pytest.raises(ValueError, match="unknown strategy 'entropy'; choose from random, margin, spread, cluster"):
        select([0.1], [1], 1, "entropy")


# Two tight groups of items on the plane: A around (1, 0) and B around (0, 1).
GROUP_A = [[1.0, 0.0], [0.99, 0.01], [0.98, 0.02], [0.97, 0.03], [0.96, 0.04]]
GROUP_B = [[0.0, 1.0], [0.01, 0.99]]


def test_cluster_takes_the_least_sure_item_of_each_group_where_margin_takes_a_whole_group() -> None:
    x = np.array(GROUP_A + GROUP_B)
    m = [0.01, 0.02, 0.5, 0.6, 0.7, 0.05, 0.9]
    assert select(m, np.zeros(7), 2, "margin").tolist() == [0, 1]
    assert select(m, np.zeros(7), 2, "cluster", embeddings=x).tolist() == [0, 5]
    assert select(m, np.zeros(7), 2, "spread").tolist() == [0, 1]


def test_typical_takes_the_centre_of_the_largest_group_no_label_covers_yet() -> None:
    x = np.array(GROUP_A + GROUP_B)
    m = [0.5, 0.6, 0.7, 0.8, 0.9, 0.01, 0.02]
    assert select(m, np.zeros(7), 1, "margin").tolist() == [5]
    assert select(m, np.zeros(7), 1, "typical", embeddings=x, labelled=np.array([[0.0, 0.98]])).tolist() == [2]
    assert select(m, np.zeros(7), 2, "typical", embeddings=x).tolist() == [2, 5]


def test_adaptive_asks_typical_items_until_every_class_has_its_cold_start_share_then_cluster_margin() -> None:
    x = np.array(GROUP_A + GROUP_B)
    m = [0.01, 0.02, 0.5, 0.6, 0.7, 0.05, 0.9]
    known = np.array([[-1.0 - n / 100, -1.0] for n in range(COLD_START * 2)])
    few, enough = known[1:], known

    def picks(strategy: str, labelled: np.ndarray, classes: int = 2) -> list[int]:
        return select(m, np.zeros(7), 2, strategy, embeddings=x, labelled=labelled, classes=classes).tolist()

    assert picks("adaptive", few) == picks("typical", few) != [0, 5]
    assert picks("adaptive", enough) == picks("cluster", enough) == [0, 5]
    assert picks("adaptive", enough, classes=3) == picks("typical", enough) != [0, 5]


def test_the_embedded_strategies_need_the_embeddings() -> None:
    with pytest.raises(ValueError, match="the cluster strategy needs the items' embeddings"):
        select([0.1, 0.2, 0.3], [1, 1, 1], 2, "cluster")


def test_the_margin_is_the_gap_between_the_top_two_probabilities() -> None:
    assert margins(np.array([[0.2, 0.5, 0.3], [0.5, 0.5, 0.0]])).tolist() == pytest.approx([0.2, 0.0])


def test_the_ask_strategy_setting_offers_every_strategy() -> None:
    [field] = [f for f in LearningSettings.__dataclass_fields__.values() if f.name == "ask_strategy"]
    assert sorted(field.metadata["choices"]) == sorted(STRATEGIES)


class AxisEncoder:
    """A sentence encoder for this test: ``topic T ham H spam S`` is T's own axis plus H and S on the axes of the
    two label descriptions, so the text sets both the item's topic and how sure zero-shot is of it."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for row, text in zip(out, texts, strict=True):
            if "mailing list" in text or "advertising" in text:
                row[0 if "mailing list" in text else 1] = 1.0
                continue
            topic, ham, spam = re.search(r"topic (\d) ham ([\d.]+) spam ([\d.]+)", text).groups()  # type: ignore
            row[2 + int(topic)], row[0], row[1] = 1.0, float(ham), float(spam)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


# A burst of four items in topic 0 that zero-shot is least sure of, then one item in each of topics 1-3, less unsure.
ITEMS = ([f"topic 0 ham 0.30 spam {0.30 + d:.3f} post {n}" for n, d in enumerate((0.004, 0.008, 0.012, 0.016))]
         + [f"topic {t} ham 0.30 spam {s} post" for t, s in ((1, 0.40), (2, 0.45), (3, 0.50))])


async def ask_daemon(tmp_path: Path, strategy: str | None) -> tuple[Daemon, Store, Recorder, dict[str, int]]:
    """A daemon that has classified ``ITEMS`` with ``ask_budget = 3`` and ``strategy`` (None: the default), its
    store, notifier, and each item's topic."""
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(json.dumps({"id": n, "text": text}) + "\n" for n, text in enumerate(ITEMS)))
    config = tmp_path / "lookout.toml"
    chosen = f'ask_strategy = "{strategy}"\n' if strategy else ""
    config.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[learning]\nask_budget = 3\n{chosen}'
                      f'[[replays]]\nname = "mail"\npath = "{stream}"\n{TASK}')
    settings = load_settings(config, env={})
    store = Store(settings.store.path)
    notifier = Recorder()
    daemon = Daemon(settings, store, build_pipeline(settings, store, AxisEncoder()), notifier,  # type: ignore
                    build_sources(settings))
    await daemon.run(until_idle=True)
    topic_of = {r["text"]: r["topic_id"] for r in store.db.query("select text, topic_id from items")}
    assert len(set(topic_of.values())) == 4
    return daemon, store, notifier, topic_of


@pytest.mark.parametrize("strategy", ["margin", "spread", "cluster", "adaptive", None])
async def test_the_ask_job_puts_the_configured_strategys_picks_to_the_team(tmp_path: Path,
                                                                          strategy: str | None) -> None:
    """None: the default, ``spread``. ``adaptive`` on a task no one has labelled yet asks about typical items."""
    daemon, store, notifier, topic_of = await ask_daemon(tmp_path, strategy)
    assert await daemon.ask() == 3
    [question] = notifier.questions
    asked = [q.text for q in question.items]
    if strategy == "margin":
        assert asked == ITEMS[:3] and len({topic_of[t] for t in asked}) == 1
    elif strategy == "adaptive":
        assert asked[0] in ITEMS[1:3] and len({topic_of[t] for t in asked}) == 3
    else:
        assert asked[0] == ITEMS[0] and len({topic_of[t] for t in asked}) == 3
        if strategy in ("spread", None):
            assert asked == [ITEMS[0], ITEMS[4], ITEMS[5]]
    assert [q.topic_id for q in question.items] == [topic_of[t] for t in asked]
    if strategy != "adaptive":
        assert [q.margin for q in question.items] == sorted(q.margin for q in question.items)
    store.close()


async def test_typical_questions_skip_the_kind_of_item_people_already_labelled(tmp_path: Path) -> None:
    daemon, store, notifier, _ = await ask_daemon(tmp_path, "typical")
    item = next(r["id"] for r in store.db.query("select id from items where text = ?", [ITEMS[1]]))
    store.correct(item, "spam", "spam", "U1", "slack")
    assert await daemon.ask() == 3
    [question] = notifier.questions
    assert sorted(q.text for q in question.items) == sorted(ITEMS[4:])
    store.close()
