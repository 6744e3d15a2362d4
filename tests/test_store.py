"""The SQLite store: migrations, deduplication, atomic batches, the alert outbox and source positions; reads on
their own connections while the writer works."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from models.classifier import Prediction
from models.topics import OnlineTopicModel
from monitor.enrich.alerts import Alert
from monitor.enrich.pipeline import BatchResult, Enriched
from monitor.ingest.item import Item, make_id
from monitor.store.db import Store


def item(n: int, source: str = "feed") -> Item:
    return Item(id=make_id(source, str(n)), source=source, title=f"title {n}", text=f"text {n}")


def alert(item_id: str, rule: str = "r", channel: str = "#c") -> Alert:
    return Alert(rule=rule, item_id=item_id, topic_id=1, cooldown_key="topic:1", channel=channel, created_at=1.0,
                 reason="because", title="t", url="", source="feed", snippet="s")


def batch(items: list[Item], alerts: list[Alert]) -> BatchResult:
    model = OnlineTopicModel()
    results = []
    for i, it in enumerate(items):
        v = np.eye(8, dtype=np.float32)[i % 8]
        results.append(Enriched(it, v, [Prediction("t", "a", 0.9, False, "zero-shot")],
                                model.update(v, text=it.text, item_id=it.id)))
    changes = model.drain_changes()
    return BatchResult(results, changes, {t.id: ["kw"] for t in changes.updated},
                       {"next_id": model.next_id, "updates": model.updates}, alerts)


def test_items_are_stored_once_with_the_source_position_and_migrations_rerun_safely(db_path: Path) -> None:
    store = Store(db_path)
    assert store.add_items("feed", "feed", [item(1), item(2), item(1)], {"etag": "a"}) == [item(1).id, item(2).id]
    assert store.add_items("feed", "feed", [item(2), item(3)], {"etag": "b"}) == [item(3).id]
    store.close()
    store = Store(db_path)
    assert store.source_position("feed") == {"etag": "b"}
    assert [i.id for i in store.pending_items(10)] == [item(n).id for n in (1, 2, 3)]
    assert store.status()["sources"][0]["items_total"] == 3
    mode = sqlite3.connect(db_path).execute("pragma journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()


def test_a_batch_commits_items_labels_topics_and_alerts_together(db_path: Path) -> None:
    store = Store(db_path)
    items = [item(n) for n in range(3)]
    store.add_items("feed", "feed", items)
    store.complete(batch(items, [alert(items[0].id)]))
    assert store.pending_items(10) == []
    status = store.status()
    assert status["topics"] == 3 and status["labels"][0]["n"] == 3
    topics, meta = store.load_topics()
    assert meta == {"next_id": 4, "updates": 3} and len(topics) == 3
    store.complete(batch(items[:1], [alert(items[0].id)]))
    assert status["alerts_by_status"] == {"pending": 1}
    assert store.status()["alerts_by_status"] == {"pending": 1}
    store.close()


def test_the_outbox_never_sends_an_alert_twice_across_a_crash(db_path: Path) -> None:
    store = Store(db_path)
    items = [item(n) for n in range(4)]
    store.add_items("feed", "feed", items)
    store.complete(batch(items, [alert(i.id) for i in items[:3]] + [alert(items[3].id, channel="#other")]))
    assert store.pending_channels() == ["#c", "#other"]
    [(first, _), (second, _)] = store.pending_alerts("#c", limit=2)
    store.start_alert(first)
    store.finish_alert(first)
    store.start_alert(second)
    store.close()
    store = Store(db_path)
    assert store.recover_interrupted() == 1
    assert [(a.item_id, a.channel) for a in store.unknown_alerts()] == [(items[1].id, "#c")]
    [(third, a)] = store.pending_alerts("#c")
    assert a.item_id == items[2].id
    store.start_alert(third)
    store.release_alert(third)
    assert [i for i, _ in store.pending_alerts("#c")] == [third]
    store.start_alert(third)
    store.finish_alert(third, "channel_not_found")
    assert store.pending_channels() == ["#other"]
    assert store.status()["alerts_by_status"] == {"failed": 1, "sent": 1, "unknown": 1, "pending": 1}
    store.close()


def test_failed_items_are_kept_with_their_reason(db_path: Path) -> None:
    store = Store(db_path)
    store.add_items("feed", "feed", [item(1)])
    store.fail_items({item(1).id: "ValueError: bad"})
    assert store.pending_items(5) == []
    row = store.db["items"].get(item(1).id)
    assert (row["state"], row["error"]) == ("failed", "ValueError: bad")
    store.close()


def held_writer(store: Store, held: threading.Event, done: threading.Event) -> Callable[[], bool]:
    """A writer job that adds an item in a transaction it keeps open until ``done`` (or 60 s, so a broken read
    path fails the test instead of hanging it); it returns whether ``done`` came while it was held."""
    def hold() -> bool:
        with store.db.atomic():
            store.db.execute("insert into items (id, source, state) values ('uncommitted', 'feed', 'new')")
            held.set()
            return done.wait(60)
    return hold


async def test_a_read_completes_while_the_writer_is_held_in_a_long_transaction(db_path: Path) -> None:
    store = Store(db_path)
    await store.call(store.add_items, "feed", "feed", [item(1)])
    held, done = threading.Event(), threading.Event()
    writer = asyncio.create_task(store.call(held_writer(store, held, done)))
    await asyncio.to_thread(held.wait)
    during = await store.read(store.status)
    reader = await store.read(threading.current_thread)
    done.set()
    assert await writer, "the read had to wait for the writer's transaction to end"
    assert during["items"] == 1, "a read sees the last commit, not the writer's open transaction"
    assert reader.name.startswith("store-read")
    assert (await store.read(store.status))["items"] == 2
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await store.read(store.add_watch, "w", "keyword", "x", "ada")
    store.close()


async def test_a_direct_call_beside_the_writer_thread_uses_its_own_connection(db_path: Path) -> None:
    """A test (or the CLI) calling the store directly while the daemon's writer thread holds a transaction neither
    sees that transaction nor joins it (it once shared the writer's connection and broke its savepoints); a direct
    write waits for the writer's commit."""
    store = Store(db_path)
    await store.call(store.add_items, "feed", "feed", [item(1)])
    held, done = threading.Event(), threading.Event()
    writer = asyncio.create_task(store.call(held_writer(store, held, done)))
    await asyncio.to_thread(held.wait)
    assert store.status()["items"] == 1, "a direct read sees the last commit, not the writer's open transaction"
    direct_write = asyncio.create_task(asyncio.to_thread(store.add_items, "feed", "feed", [item(3)]))
    await asyncio.sleep(0.3)
    assert not direct_write.done(), "a direct write waits for the writer's transaction"
    done.set()
    await writer
    await direct_write
    assert store.status()["items"] == 3
    store.close()


async def test_a_memory_store_reads_on_its_writer_thread(tmp_path: Path) -> None:
    store = Store(":memory:")
    await store.call(store.add_items, "feed", "feed", [item(1)])
    assert (await store.read(store.status))["items"] == 1
    writer, reader = await store.call(threading.current_thread), await store.read(threading.current_thread)
    assert reader is writer
    store.close()


async def test_the_daemon_reads_and_draws_its_digest_while_the_writer_is_held(tmp_path: Path,
                                                                              tiny_model: str) -> None:
    from models.embedding import Encoder
    from monitor.config.load import load_settings
    from monitor.daemon.core import Daemon
    from monitor.daemon.notify import ConsoleNotifier
    from monitor.enrich.build import build_pipeline

    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f'[digest]\nhours = 1\nreport_dir = "{tmp_path / "reports"}"\n')
    settings = load_settings(cfg, env={})
    store = Store(settings.store.path)
    store.add_items("feed", "feed", [item(1)])
    store.complete(batch([item(1)], []))
    out: list[str] = []
    daemon = Daemon(settings, store, build_pipeline(settings, store, Encoder(tiny_model)),
                    ConsoleNotifier(out.append, "never"), [])
    held, done = threading.Event(), threading.Event()
    writer = asyncio.create_task(store.call(held_writer(store, held, done)))
    await asyncio.to_thread(held.wait)
    digest = await daemon.send_digest()
    done.set()
    assert await writer, "the digest waited for the writer"
    assert digest.items == 1 and digest.busiest == [(1, 1)]
    assert digest.chart is not None and digest.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out[0].startswith("Lookout digest")
    store.close()


def test_today_in_the_status_starts_at_midnight_in_the_teams_time_zone(db_path: Path) -> None:
    """An item stored a minute before midnight in Tokyo is yesterday's there, one stored a minute after is today's
    (whichever day it is in UTC, the store's old reference, at the time the test runs)."""
    store = Store(db_path)
    store.add_items("feed", "feed", [item(1), item(2)])
    midnight = datetime.now(ZoneInfo("Asia/Tokyo")).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    with store.db.conn:
        store.db.execute("update items set stored_at = ? where id = ?", [midnight - 60, item(1).id])
        store.db.execute("update items set stored_at = ? where id = ?", [midnight + 60, item(2).id])
    status = store.status("Asia/Tokyo")
    assert (status["items"], status["items_today"], status["sources"][0]["items_today"]) == (2, 1, 1)
    store.close()
