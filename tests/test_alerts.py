"""Alert rules and cooldowns, evaluated purely; mutes as the store keeps them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.classifier import Prediction
from models.topics import OnlineTopicModel
from monitor import service
from monitor.config.load import load_settings
from monitor.config.schema import AlertSettings
from monitor.enrich.alerts import AlertEngine, Evaluation, Mute, Rule
from monitor.enrich.pipeline import BatchResult, Enriched
from monitor.ingest.item import Item, make_id
from monitor.store.db import Store


def ev(topic: int = 1, size: int = 1, label: str = "spam", conf: float = 0.95, text: str = "hello") -> Evaluation:
    item = Item(id=f"i-{topic}-{size}-{text}", source="s", title="t", text=text)
    return Evaluation(item, [Prediction("spam", label, conf, conf < 0.5, "zero-shot")], topic, size)


def rule(**kw: object) -> Rule:
    base = {"name": "r", "kind": "label", "task": "spam", "label": "spam", "cooldown_minutes": 10.0}
    return Rule.from_settings(AlertSettings(**{**base, **kw}), "#default")


def test_label_rule_fires_above_its_confidence_and_stays_quiet_on_the_topic_during_the_cooldown() -> None:
    engine = AlertEngine([rule(min_confidence=0.9)])
    assert engine.evaluate(ev(conf=0.85), now=0) == []
    [alert] = engine.evaluate(ev(conf=0.95), now=0)
    assert (alert.rule, alert.channel, alert.topic_id) == ("r", "#default", 1)
    assert "95%" in alert.reason and alert.labels == [["spam", "spam", 0.95, False]]
    assert engine.evaluate(ev(conf=0.99, text="again"), now=599) == []
    assert len(engine.evaluate(ev(topic=2), now=599)) == 1
    assert len(engine.evaluate(ev(conf=0.99, text="later"), now=601)) == 1


def test_rule_scoped_cooldown_silences_the_rule_on_every_topic() -> None:
    engine = AlertEngine([rule(cooldown_scope="rule")])
    assert len(engine.evaluate(ev(topic=1), now=0)) == 1
    assert engine.evaluate(ev(topic=2), now=10) == []


def test_keyword_rule_matches_title_and_text_with_a_regex() -> None:
    engine = AlertEngine([rule(kind="keyword", pattern=r"(?i)\boutage\b", channel="#ops")])
    assert engine.evaluate(ev(text="all fine"), now=0) == []
    [alert] = engine.evaluate(ev(text="Major OUTAGE in eu-west"), now=0)
    assert alert.channel == "#ops" and "OUTAGE" in alert.reason


def test_topic_size_rule_fires_once_per_topic_even_after_the_cooldown() -> None:
    engine = AlertEngine([rule(kind="topic_size", size=3, cooldown_minutes=0.0)])
    assert engine.evaluate(ev(size=2), now=0) == []
    assert len(engine.evaluate(ev(size=3), now=1)) == 1
    assert engine.evaluate(ev(size=4), now=10_000) == []


def test_cooldowns_survive_through_the_fired_map() -> None:
    engine = AlertEngine([rule()], fired={("r", "topic:1"): 100.0})
    assert engine.evaluate(ev(), now=200) == []


def test_a_muted_topic_raises_no_alerts() -> None:
    engine = AlertEngine([rule()], muted={Mute(1)})
    assert engine.evaluate(ev(topic=1), now=0) == []
    assert len(engine.evaluate(ev(topic=2), now=0)) == 1


def test_a_mute_follows_its_topic_when_it_merges_into_another(db_path: Path) -> None:
    store = Store(db_path)
    model = OnlineTopicModel(threshold=0.75, merge_threshold=0.8)

    def commit(vectors: list[np.ndarray]) -> list[int]:
        items = [Item(id=make_id("s", str(model.updates + n)), source="s", title="t", text="x")
                 for n in range(len(vectors))]
        store.add_items("s", "s", items)
        results = [Enriched(i, v, [], model.update(v, item_id=i.id)) for i, v in zip(items, vectors, strict=True)]
        changes = model.drain_changes()
        store.complete(BatchResult(results, changes, {}, {"next_id": model.next_id, "updates": model.updates}, []))
        return [r.topic_id for r in results]

    a = np.eye(8)[0]
    b = a + 0.9 * np.eye(8)[1]
    b /= np.linalg.norm(b)
    big, _, small = commit([a, a, b])
    service.mute(store, load_settings(None, env={}), service.MuteRequest(f"#{small}"), "U1")
    assert store.muted() == {Mute(small)}
    bridge = (a + b) / np.linalg.norm(a + b)
    assert commit([bridge] * 3)[-1] == big and store.topic(small).merged_into == big
    engine = AlertEngine([rule()], muted=store.muted())
    assert engine.evaluate(ev(topic=big), now=0) == [], "the muted story lives on in the topic it merged into"
    assert len(engine.evaluate(ev(topic=99), now=0)) == 1
    store.close()
