"""The durable store: SQLite through sqlite-utils, WAL, schema migrations (``migrations``), one writer thread,
reader threads.

An item is written (deduplicated by id) before any work is done on it and stays ``new`` until the batch that
enriched it commits, together with its labels, topic changes and alerts, in one transaction. A restart therefore
picks up exactly the items that were not finished, and never records an alert twice.

Async code writes through ``Store.call`` (the one writer thread and its connection) and reads through
``Store.read`` (a few reader threads, each with its own read-only connection, as datasette does): in WAL mode a
reader sees the last commit and never waits for the writer, so a long batch commit does not hold up a search.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sqlite_utils

from monitor.enrich.pipeline import BatchResult
from monitor.ingest.item import Item
from monitor.store.items import ItemRecords
from monitor.store.labels import LabelRecords
from monitor.store.learning import LearningRecords
from monitor.store.migrations import migrations
from monitor.store.mutes import MuteRecords
from monitor.store.outbox import OutboxRecords
from monitor.store.reports import ReportQueries
from monitor.store.rows import iso_time, row_item
from monitor.store.subscriptions import SubscriptionRecords
from monitor.store.taxonomy import TaxonomyRecords
from monitor.store.threads import ThreadRecords
from monitor.store.timeline import Timeline
from monitor.store.topics import TopicRecords
from monitor.store.watches import WatchRecords

T = TypeVar("T")
READERS = 4  # reader threads (each with its own read-only connection) behind Store.read


class Store(ItemRecords, LabelRecords, TopicRecords, OutboxRecords, WatchRecords, TaxonomyRecords,
            LearningRecords, ReportQueries, MuteRecords, SubscriptionRecords, ThreadRecords, Timeline):
    """All of Lookout's state in one SQLite file. Async code writes through ``call`` (one writer thread) and reads
    through ``read`` (reader threads); plain synchronous code (the CLI, a test looking at a running daemon) calls the
    methods directly.

    ``db`` is the calling thread's own database connection (read-only on a reader thread), so every method below runs
    unchanged on any thread, and a direct call never shares a connection, or a transaction, with the writer thread:
    SQLite's locks order it with the writer's commits.
    """

    def __init__(self, path: str | Path, readers: int = READERS) -> None:
        self.path = str(path)
        memory = self.path == ":memory:"
        if not memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._memory = memory
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._writer_db = self._connect()
        if not memory:
            self._writer_db.enable_wal()
        migrations.apply(self._writer_db)
        self._local = threading.local()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store", initializer=self._adopt_writer)
        # A :memory: database exists only inside its one connection, so a second connection cannot read it: there
        # reads run on the writer thread (and queue behind writes).
        self._readers = self._writer if memory else ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="store-read", initializer=self._open_reader)

    @property
    def db(self) -> sqlite_utils.Database:
        """The calling thread's database: the writer's on the writer thread, a read-only one on a reader thread, and
        a connection of its own (opened on first use) on any other thread. A ``:memory:`` database exists only in its
        one connection, so there every thread shares the writer's."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._writer_db if self._memory else self._connect()
        return db

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.db.conn

    def _connect(self, read_only: bool = False) -> sqlite_utils.Database:
        """Open (and remember, for ``close``) one more connection to the file; a write through a read-only one
        fails."""
        if read_only:
            conn = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False, timeout=30)
        else:
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA synchronous=NORMAL")
        with self._conns_lock:
            self._conns.append(conn)
        return sqlite_utils.Database(conn)

    def _adopt_writer(self) -> None:
        self._local.db = self._writer_db

    def _open_reader(self) -> None:
        self._local.db = self._connect(read_only=True)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the store's single writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, lambda: fn(*args))

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the read-only ``fn(*args)`` on a reader thread: it sees the last commit without waiting for the
        writer, and may take its time (drawing a chart) without holding writes up. ``fn`` must not write (its
        connection refuses). In a ``:memory:`` store this runs on the writer thread instead."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, lambda: fn(*args))

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> Store:
        """Use the store in a ``with`` block that closes it at the end."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store; an exception raised in the block propagates."""
        self.close()

    # sources ------------------------------------------------------------------------------------------------------
    def source_position(self, name: str) -> dict[str, Any]:
        rows = list(self.db.query("select position from sources where name = ?", [name]))
        return json.loads(rows[0]["position"] or "{}") if rows else {}

    def add_items(self, source: str, kind: str, items: Sequence[Item],
                  position: dict[str, Any] | None = None) -> list[str]:
        """Store new items (duplicates ignored) and the source's position in one transaction; return new ids."""
        now = time.time()
        with self._conn:
            ids = [i.id for i in items]
            known = {r["id"] for r in self.db.query(
                f"select id from items where id in ({','.join('?' * len(ids))})", ids)} if ids else set()
            fresh: dict[str, Item] = {}
            for item in items:
                if item.id not in known:
                    fresh.setdefault(item.id, item)
            self.db["items"].insert_all(
                ({"id": i.id, "source": i.source, "url": i.url, "author": i.author, "title": i.title,
                  "text": i.text, "published": iso_time(i.published), "fetched": iso_time(i.fetched),
                  "raw": json.dumps(i.raw, default=str), "state": "new", "stored_at": now,
                  "event_time": i.event_time}
                 for i in fresh.values()), ignore=True)
            self._touch_source(source, kind, now, position, len(fresh))
        return list(fresh)

    def _touch_source(self, name: str, kind: str, now: float, position: dict[str, Any] | None, new: int) -> None:
        self._conn.execute(
            "insert into sources (name, kind, position, last_success, failures, items_total, last_error) "
            "values (?, ?, ?, ?, 0, ?, '') on conflict(name) do update set kind = excluded.kind, "
            "position = coalesce(excluded.position, position), last_success = excluded.last_success, "
            "failures = 0, last_error = '', items_total = coalesce(items_total, 0) + excluded.items_total",
            [name, kind, json.dumps(position) if position is not None else None, now, new])

    def source_failed(self, name: str, kind: str, error: str) -> None:
        self._conn.execute(
            "insert into sources (name, kind, failures, last_error, last_error_at, items_total) "
            "values (?, ?, 1, ?, ?, 0) on conflict(name) do update set failures = failures + 1, "
            "last_error = excluded.last_error, last_error_at = excluded.last_error_at", [name, kind, error,
                                                                                         time.time()])
        self._conn.commit()

    # the pipeline -------------------------------------------------------------------------------------------------
    def pending_items(self, limit: int) -> list[Item]:
        """The oldest items not yet enriched, in arrival order."""
        return [row_item(r) for r in self.db.query(
            "select * from items where state = 'new' order by rowid limit ?", [limit])]

    def complete(self, batch: BatchResult) -> None:
        """Commit one enriched batch: item state, embeddings, labels, topics and new alerts, atomically."""
        now = time.time()
        with self._conn:
            self._conn.executemany(
                "update items set state = 'done', processed_at = ?, topic_id = ?, embedding = ? where id = ?",
                [(now, r.topic_id, r.embedding.astype(np.float32).tobytes(), r.item.id) for r in batch.results])
            self._conn.executemany(
                "insert or replace into labels (item_id, task, label, confidence, unsure, model, scores) "
                "values (?, ?, ?, ?, ?, ?, ?)",
                [(r.item.id, p.task, p.label, p.confidence, int(p.unsure), p.model, json.dumps(p.scores))
                 for r in batch.results for p in r.predictions])
            self._save_topics(batch.changes, batch.keywords, now)
            self._conn.executemany("insert or replace into meta (key, value) values (?, ?)",
                                   [(f"topics.{k}", json.dumps(v)) for k, v in batch.topic_meta.items()])
            self._conn.executemany(
                "insert or ignore into alerts (rule, item_id, topic_id, cooldown_key, channel, created_at, "
                "event_time, status, payload) values (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                [(a.rule, a.item_id, a.topic_id, a.cooldown_key, a.channel, a.created_at, a.event_time,
                  json.dumps(asdict(a))) for a in batch.alerts])

    def fail_items(self, errors: dict[str, str]) -> None:
        """Mark items that cannot be enriched, with the reason; they are kept, not retried forever."""
        with self._conn:
            self._conn.executemany("update items set state = 'failed', error = ?, processed_at = ? where id = ?",
                                   [(e, time.time(), i) for i, e in errors.items()])

