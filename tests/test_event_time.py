"""Event time: every item is timed by when it happened (its plausible published time, else its fetch), so a
backlog lands in its own hours instead of as one spike at "now", and bursts count late items in their own bin."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.embedding import Encoder
from monitor.enrich.bursts import BurstTracker
from monitor.ingest.item import Item
from monitor.store.db import Store
from tests.daemon_helpers import run, settings_for
from tests.feed_server import FeedServer, Route, rss
from tests.servers import sample_rows

HOUR = 3600.0


def feed_toml(url: str) -> str:
    return f"""
[[feeds]]
name = "news"
url = "{url}"
interval_seconds = 60
[[alerts]]
name = "emerging"
kind = "topic_burst"
min_count = 5
cooldown_minutes = 60
"""


def story_and_history(happened: datetime) -> tuple[list[dict], list[datetime]]:
    """Twelve distinct posts an hour apart from two days before ``happened`` (the warm-up), then eight copies of
    one story within a minute of ``happened``."""
    story = sample_rows(1)[0]
    history = sample_rows(12, start=1)
    start = happened - timedelta(hours=48)
    rows = [*history, *({**story, "id": f"same-story-{i}"} for i in range(8))]
    times = [start + timedelta(hours=h) for h in range(12)] + [happened + timedelta(seconds=i) for i in range(8)]
    return rows, times


async def test_a_first_poll_of_old_entries_lands_at_their_hours_and_fires_no_burst(
        tmp_path: Path, tiny_model: str, feed_server: FeedServer) -> None:
    encoder = Encoder(tiny_model)
    now = datetime.now(UTC).replace(microsecond=0)
    rows, times = story_and_history(now - timedelta(hours=30))
    rows.append({**sample_rows(1, start=30)[0], "id": "from-the-future"})
    times.append(now + timedelta(days=1))
    feed_server.routes["/old"] = Route(body=rss(rows, published=times))
    (tmp_path / "old").mkdir()
    old = settings_for(tmp_path / "old", tiny_model, feed_toml(feed_server.url("/old")))
    out: list[str] = []
    await run(old, encoder, out)
    assert not [line for line in out if "emerging topic" in line], "a backlog is a backfill, not a burst"
    db = sqlite3.connect(old.store.path)
    assert db.execute("select count(*) from items").fetchone()[0] == len(rows)
    event_times = sorted(t for _, t in db.execute("select id, event_time from items"))
    assert event_times[:-1] == [t.timestamp() for t in sorted(times[:-1])], "each entry at its published time"
    future, stored_at = db.execute("select event_time, stored_at from items where event_time = ?",
                                   [event_times[-1]]).fetchone()
    assert future < (now + timedelta(minutes=10)).timestamp() and abs(future - stored_at) < 60, \
        "a published time in the future falls back to the fetch time"

    rows, times = story_and_history(now - timedelta(minutes=2))
    feed_server.routes["/live"] = Route(body=rss(rows, published=times))
    (tmp_path / "live").mkdir()
    live = settings_for(tmp_path / "live", tiny_model, feed_toml(feed_server.url("/live")))
    out = []
    await run(live, encoder, out)
    emerging = [line for line in out if "emerging topic" in line]
    assert len(emerging) == 1, "the same story, fetched as it happens, is a burst"


def test_a_late_item_counts_in_its_own_bin_until_the_bin_is_complete() -> None:
    tracker = BurstTracker(warmup=6)
    for hour in range(8):
        for i in range(2):
            tracker.observe("k", hour * HOUR + i)
    on_time = tracker.observe("k", 8 * HOUR + 10)
    late = tracker.observe("k", 7 * HOUR + 50)
    assert late is not None and late.count == 3, "the late item joins hour 7's two, not hour 8"
    assert on_time is not None and on_time.count == 1
    after = tracker.observe("k", 8 * HOUR + 20)
    assert after is not None and after.count == 2
    assert after.baseline > on_time.baseline, "hour 8's baseline now includes the late item"
    assert tracker.observe("k", 6 * HOUR + 5) is None, "hour 6 is complete: too late to count"
    tracker.observe("k", 10 * HOUR)
    assert tracker.observe("k", 8 * HOUR + 30) is None


def test_event_time_is_a_plausible_published_time_else_the_fetch() -> None:
    fetched = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def at(published: datetime | None) -> float:
        return Item(id="x", source="s", title="t", text="t", published=published, fetched=fetched).event_time

    assert at(datetime(2026, 2, 27, 8, tzinfo=UTC)) == datetime(2026, 2, 27, 8, tzinfo=UTC).timestamp()
    assert at(fetched + timedelta(minutes=3)) == (fetched + timedelta(minutes=3)).timestamp(), "clock skew allowed"
    assert at(fetched + timedelta(hours=2)) == fetched.timestamp(), "in the future"
    assert at(datetime(1970, 1, 1, tzinfo=UTC)) == fetched.timestamp(), "a placeholder date"
    assert at(None) == fetched.timestamp()
    assert at(datetime(2026, 2, 27, 8)) == datetime(2026, 2, 27, 8, tzinfo=UTC).timestamp(), "naive is UTC"


def test_the_migration_fills_in_event_times_of_existing_items(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Store(path).close()
    db = sqlite3.connect(path)  # the store as it was before event times: without m015 and its columns
    db.execute("drop index idx_items_event_time")
    db.execute("alter table items drop column event_time")
    db.execute("alter table alerts drop column event_time")
    db.execute("delete from _sqlite_migrations where name = 'm015_event_time'")
    db.executemany("insert into items (id, source, title, text, published, fetched, state, stored_at) "
                   "values (?, 's', 't', 'x', ?, ?, 'done', 5.0)",
                   [("dated", "2026-02-27T08:00:00+00:00", "2026-03-01T12:00:00+00:00"),
                    ("future", "2027-01-01T00:00:00+00:00", "2026-03-01T12:00:00+00:00"),
                    ("undated", None, "2026-03-01T12:00:00+00:00")])
    db.commit()
    db.close()
    with Store(path) as store:
        times = dict(store.db.execute("select id, event_time from items").fetchall())
        assert times == {"dated": datetime(2026, 2, 27, 8, tzinfo=UTC).timestamp(),
                         "future": datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp(),
                         "undated": datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()}
        assert store.item_count(datetime(2026, 2, 27, tzinfo=UTC).timestamp(),
                                datetime(2026, 2, 28, tzinfo=UTC).timestamp()) == 1
