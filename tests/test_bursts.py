"""Burst detection as items arrive, the burst alert rules with their cooldowns, and priming after a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.embedding import Encoder
from monitor.enrich.alerts import AlertEngine
from monitor.enrich.bursts import MAX_DECAY_BINS, BurstTracker
from monitor.store.db import Store
from tests.daemon_helpers import run, settings_for
from tests.feed_server import FeedServer, Route, rss
from tests.servers import sample_rows
from tests.test_alerts import ev, rule

HOUR = 3600.0


def usual(per_hour: int, hours: int, alpha: float = 0.3) -> float:
    """The baseline after ``hours`` full hours of ``per_hour`` items, starting from nothing."""
    return per_hour * (1 - (1 - alpha) ** hours)


def feed_hours(tracker: BurstTracker, counts: list[int], key: str = "k") -> list[bool]:
    """Observe ``counts[h]`` items in hour ``h``; whether each hour ended up flagged (factor 3, at least 5)."""
    flagged = []
    for hour, n in enumerate(counts):
        hit = False
        for i in range(n):
            ts = hour * HOUR + i
            hit |= tracker.bursting(tracker.observe(key, ts), ts, factor=3.0, min_count=5)
        flagged.append(hit)
    return flagged


def test_a_flat_rate_never_bursts_and_a_planted_burst_is_flagged_in_its_hour() -> None:
    flat = [4, 5, 6, 5, 4, 6, 5, 5, 4, 6, 5, 6]
    assert feed_hours(BurstTracker(), flat) == [False] * 12
    planted = [*flat[:8], 20, *flat[8:]]
    assert feed_hours(BurstTracker(), planted) == [False] * 8 + [True] + [False] * 4


def test_the_burst_is_seen_at_the_item_that_crosses_factor_times_the_baseline() -> None:
    tracker = BurstTracker()
    feed_hours(tracker, [2] * 8)
    ts = 8 * HOUR
    hits = [tracker.bursting(tracker.observe("k", ts + i), ts + i, 3.0, 5) for i in range(8)]
    assert hits == [False] * 5 + [True] * 3
    assert tracker.observe("k", ts + 9).baseline == pytest.approx(usual(2, 8))


def test_nothing_fires_during_warm_up_and_a_new_key_after_it_is_an_emerging_burst() -> None:
    tracker = BurstTracker(warmup=6)
    tracker.observe("first", 0.0)
    early = [tracker.bursting(tracker.observe("early", 2 * HOUR + i), 2 * HOUR + i, 3.0, 5) for i in range(30)]
    assert not any(early)
    late = [tracker.bursting(tracker.observe("late", 7 * HOUR + i), 7 * HOUR + i, 3.0, 5) for i in range(6)]
    assert late == [False] * 4 + [True] * 2
    assert tracker.observe("late", 7 * HOUR + 9).baseline == 0.0


def test_quiet_hours_decay_the_baseline_and_quiet_keys_are_dropped() -> None:
    tracker = BurstTracker()
    feed_hours(tracker, [10] * 8)
    busy = tracker.observe("k", 8 * HOUR).baseline
    quiet = tracker.observe("k", 20 * HOUR).baseline
    assert busy > 8 and quiet < busy * 0.7**11
    for n in range(1000):
        tracker.observe(f"once-{n}", 21 * HOUR)
    assert len(tracker) == 1001
    assert tracker.forget_quiet((22 + MAX_DECAY_BINS) * HOUR) == 1001
    assert len(tracker) == 0
    tracker.observe("a", 100 * HOUR)
    tracker.observe("b", (101 + MAX_DECAY_BINS) * HOUR)
    assert len(tracker) == 1, "a quiet key is dropped when a new bin opens"


def test_topic_burst_rule_fires_once_per_topic_during_its_cooldown() -> None:
    engine = AlertEngine([rule(name="surge", kind="topic_burst", factor=3.0, cooldown_minutes=120.0)])
    for hour in range(8):
        for i in range(2):
            assert engine.evaluate(ev(topic=1, text=f"{hour}-{i}"), hour * HOUR + i) == []
    fired = [a for i in range(15) for a in engine.evaluate(ev(topic=1, text=f"b{i}"), 8 * HOUR + i)]
    assert len(fired) == 1
    assert fired[0].reason == (f"topic #1 is surging: 6 items in this 60 min window, {6 / usual(2, 8):.1f}× its "
                               f"usual {usual(2, 8):.1f}")
    emerging = [a for i in range(6) for a in engine.evaluate(ev(topic=7, text=f"n{i}"), 8 * HOUR + 100 + i)]
    assert [a.reason for a in emerging] == ["emerging topic #7: 5 items in this 60 min window, from next to none"]


def test_label_rate_rule_fires_when_the_label_rate_doubles_and_counts_only_that_label() -> None:
    engine = AlertEngine([rule(name="more-spam", kind="label_rate", factor=2.0, min_count=3, cooldown_minutes=60.0)])
    for hour in range(8):
        for i in range(3):
            assert engine.evaluate(ev(topic=hour * 10 + i, text=f"{hour}-{i}"), hour * HOUR + i) == []
    for i in range(20):
        assert engine.evaluate(ev(topic=500 + i, label="ham", text=f"h{i}"), 8 * HOUR + i) == []
    fired = [a for i in range(8) for a in engine.evaluate(ev(topic=900 + i, text=f"s{i}"), 8 * HOUR + 50 + i)]
    assert len(fired) == 1 and fired[0].cooldown_key == "rule"
    assert fired[0].reason == f"spam = spam: 6 items in this 60 min window, 2.1× the usual {usual(3, 8):.1f}"


def test_priming_from_past_arrivals_gives_the_state_a_running_engine_has() -> None:
    live = AlertEngine([rule(name="surge", kind="topic_burst"), rule(name="rate", kind="label_rate")])
    times = [hour * HOUR + i for hour in range(8) for i in range(3)]
    for ts in times:
        live.evaluate(ev(topic=1, text=str(ts)), ts)
    primed = AlertEngine(live.rules)
    primed.prime({1: times}, {("spam", "spam"): times}, 8 * HOUR)
    for name in ("surge", "rate"):
        key = "topic:1" if name == "surge" else "label:spam:spam"
        assert primed.trackers[name].observe(key, 8 * HOUR) == live.trackers[name].observe(key, 8 * HOUR)


async def test_the_daemon_alerts_an_emerging_topic_once_after_warm_up_and_not_before(
        tmp_path: Path, tiny_model: str, feed_server: FeedServer) -> None:
    story = sample_rows(1)[0]
    rows = [{**story, "id": f"same-story-{i}"} for i in range(8)]
    feed_server.routes["/news"] = Route(body=rss(rows, published=datetime.now(UTC) - timedelta(minutes=2)))
    rule_toml = f"""
[[feeds]]
name = "news"
url = "{feed_server.url('/news')}"
interval_seconds = 60
[[alerts]]
name = "emerging"
kind = "topic_burst"
min_count = 5
cooldown_minutes = 60
"""
    encoder = Encoder(tiny_model)
    for folder in ("fresh", "warm"):
        (tmp_path / folder).mkdir()
    fresh = settings_for(tmp_path / "fresh", tiny_model, rule_toml)
    out: list[str] = []
    await run(fresh, encoder, out)
    assert not [line for line in out if "emerging topic" in line]

    warmed = settings_for(tmp_path / "warm", tiny_model, rule_toml)
    store = Store(warmed.store.path)
    now = time.time()
    store.db["items"].insert_all({"id": f"old-{h}", "source": "news", "title": "old", "text": "old", "state": "done",
                                  "event_time": now - h * HOUR, "topic_id": 999} for h in range(1, 9))
    store.close()
    out = []
    await run(warmed, encoder, out)
    emerging = [line for line in out if "emerging topic" in line]
    assert len(emerging) == 1 and "5 items in this 60 min window" in emerging[0]
