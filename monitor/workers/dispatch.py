"""The daemon's side of the hand-off: publish batches of stored items, commit the results workers send back,
announce the versions in service, watch the workers, and wait out Redis going away.

The store stays the queue: an item is ``new`` until its batch commits. Each (re)connection to Redis starts from
the oldest ``new`` item, so batches lost with Redis (or left by a restart) are published again; a result whose
items are already committed is dropped item by item, so a batch done twice is committed once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis

from models.classifier import Classifier, ZeroShotClassifier
from models.registry import read_meta
from monitor.config.schema import ConfigError, Settings
from monitor.daemon.outbox import IDLE_WAIT, wait_up_to
from monitor.enrich.pipeline import Encoded
from monitor.ingest.item import Item
from monitor.store.db import Store
from monitor.store.rows import row_item
from monitor.workers.streams import (
    ALIVE_SECONDS,
    BRAIN,
    BRAIN_GROUP,
    FORGET_SECONDS,
    WORKERS_GROUP,
    Keys,
    RedisError,
    check,
    connect,
    ensure_groups,
    read_entries,
)
from monitor.workers.training import RemoteTraining
from monitor.workers.wire import Announcement, Results, Served, batch_fields

log = logging.getLogger(__name__)
Commit = Callable[[list[Item], Encoded, dict[str, str]], Awaitable[None]]
RETRY_SECONDS = 1.0
WAIT_RESULTS_MS = 250
OBSERVE_SECONDS = 1.0


def new_items_after(store: Store, rowid: int, limit: int) -> list[tuple[int, Item]]:
    """The oldest ``new`` items stored after ``rowid``, with their rowids."""
    return [(r["_rowid"], row_item(r)) for r in store.db.query(
        "select rowid as _rowid, * from items where state = 'new' and rowid > ? order by rowid limit ?",
        [rowid, limit])]


def new_items(store: Store, ids: Sequence[str]) -> dict[str, Item]:
    """Those of ``ids`` still ``new`` (the others are committed or failed already)."""
    if not ids:
        return {}
    return {r["id"]: row_item(r) for r in store.db.query(
        f"select * from items where state = 'new' and id in ({','.join('?' * len(ids))})", list(ids))}


def served(store: Store, classifiers: Sequence[Classifier]) -> list[Served]:
    """What the daemon serves, as workers must serve it: zero-shot, or a version with its weights' checksum."""
    out = []
    for c in classifiers:
        if c.version == ZeroShotClassifier.version:
            out.append(Served(c.task))
            continue
        number = int(c.version.removeprefix("v"))
        row = next(r for r in store.versions(c.task.name) if r.version == number)
        out.append(Served(c.task, number, str(read_meta(row.path).get("sha256", "")), row.int8))
    return out


class Dispatcher:
    """Hands batches to workers and commits what comes back (one per daemon)."""

    def __init__(self, settings: Settings, store: Store, dim: int, classifiers: Callable[[], Sequence[Classifier]],
                 commit: Commit) -> None:
        check(settings.workers)
        self.settings = settings
        self.s = settings.workers
        self.keys = Keys.of(self.s)
        self.store = store
        self.dim = dim
        self.classifiers = classifiers
        self.commit = commit
        self.url = self.s.daemon_url or f"http://{settings.http.host}:{settings.http.port}"
        if not settings.http.port:
            if self.s.train:
                raise ConfigError("workers.train: the workers that train fetch the runs' data from the daemon's HTTP "
                                  "server and send the versions back to it; set http.port")
            log.warning("http.port is 0, so workers cannot fetch trained versions from this daemon: they serve "
                        "zero-shot until it is set")
        self.training = RemoteTraining(settings, store, self.url) if self.s.train else None
        self.in_flight: dict[str, float] = {}
        self.cursor = 0
        self.health: dict[str, Any] = {"redis": "connecting"}
        self._announced: tuple | None = None
        self._errors: dict[str, str] = {}
        self._session = uuid.uuid4().hex[:8]
        self._seq = itertools.count(1)

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, settled: Callable[[], bool],
                  idle: asyncio.Event) -> None:
        """Until ``stop``: publish, collect and announce; while Redis is away, wait for it (the store keeps
        every item meanwhile), then start again from the oldest item not committed."""
        down = False
        while not stop.is_set():
            redis = connect(self.s.redis_url)
            try:
                await ensure_groups(redis, self.keys)
                self.in_flight.clear()
                self.cursor, self._announced = 0, None
                if down:
                    log.info("Redis at %s is back; handing out the items not yet enriched", self.s.redis_url)
                    down = False
                await self._loop(redis, stop, wake, settled, idle)
            except (RedisError, OSError) as exc:
                if not down:
                    log.warning("Redis at %s is unreachable (%s); items are stored and wait for it",
                                self.s.redis_url, exc)
                    down = True
                self.health = {"redis": "unreachable", "error": str(exc), "in_flight": 0}
                await wait_up_to(stop, RETRY_SECONDS)
            finally:
                await redis.aclose()

    async def _loop(self, redis: Redis, stop: asyncio.Event, wake: asyncio.Event, settled: Callable[[], bool],
                    idle: asyncio.Event) -> None:
        while await self._collect(redis, "0", None):  # results read before a restart but never committed
            pass
        observed = 0.0
        while not stop.is_set():
            wake.clear()
            await self._announce(redis)
            published = await self._publish(redis)
            got = await self._collect(redis, ">", WAIT_RESULTS_MS if self.in_flight else None)
            if time.monotonic() - observed >= OBSERVE_SECONDS:
                await self._observe(redis)
                observed = time.monotonic()
            if not published and not got and not self.in_flight:
                if settled():
                    idle.set()
                await wait_up_to(wake, IDLE_WAIT)

    async def _announce(self, redis: Redis) -> None:
        """Tell the workers what is served whenever it changes (and after every reconnection)."""
        classifiers = list(self.classifiers())
        key = tuple((c.task, c.version) for c in classifiers)
        if key == self._announced:
            return
        rows = await self.store.read(served, self.store, classifiers)
        announcement = Announcement(tuple(rows), self.url, self.dim)
        await redis.set(self.keys.models, announcement.dumps())
        self._announced = key
        log.info("announced to the workers: %s (%s)", ", ".join(f"{s.task.name} {s.name}" for s in rows) or
                 "no tasks", announcement.id)

    async def _publish(self, redis: Redis) -> int:
        """Hand out batches of the oldest items not handed out, up to ``in_flight`` batches; returns how many
        items."""
        n = 0
        while len(self.in_flight) < self.s.in_flight:
            rows = await self.store.call(new_items_after, self.store, self.cursor, self.s.batch_size)
            if not rows:
                break
            batch = f"{self._session}-{next(self._seq)}"
            await redis.xadd(self.keys.batches, batch_fields(batch, [(i.id, i.content) for _, i in rows]),
                             maxlen=self.s.maxlen, approximate=True)
            self.in_flight[batch] = time.monotonic()
            self.cursor = rows[-1][0]
            n += len(rows)
        return n

    async def _collect(self, redis: Redis, start: str, block: int | None) -> int:
        """Commit the results waiting (``start`` "0": those read before but not acknowledged); returns how many
        batches."""
        got = await read_entries(redis, self.keys.results, BRAIN_GROUP, BRAIN, start, self.s.in_flight, block)
        for entry, fields in got:
            if fields:
                results = Results.read(fields)
                await self._commit(results)
                self.in_flight.pop(results.batch, None)
            await redis.xack(self.keys.results, BRAIN_GROUP, entry)
        return len(got)

    async def _commit(self, results: Results) -> None:
        fresh = await self.store.call(new_items, self.store, [*results.ids, *results.errors])
        rows = [i for i, item_id in enumerate(results.ids) if item_id in fresh]
        errors = {k: v for k, v in results.errors.items() if k in fresh}
        dropped = len(results.ids) + len(results.errors) - len(rows) - len(errors)
        if dropped:
            log.debug("batch %s from %s: %d items were committed already", results.batch, results.worker, dropped)
        if rows or errors:
            await self.commit([fresh[results.ids[i]] for i in rows], results.encoded.take(rows), errors)

    async def _observe(self, redis: Redis) -> None:
        """Refresh what ``/healthz`` says, log a worker's new error once, forget workers long gone."""
        groups = {g["name"].decode(): g for g in await redis.xinfo_groups(self.keys.batches)}
        group = groups.get(WORKERS_GROUP, {})
        workers = {k.decode(): json.loads(v) for k, v in (await redis.hgetall(self.keys.workers)).items()}
        now = time.time()
        for name, w in workers.items():
            if w.get("error") and self._errors.get(name) != w["error"]:
                log.error("worker %s: %s", name, w["error"])
            self._errors[name] = w.get("error", "")
        if gone := [n for n, w in workers.items() if now - w.get("seen", 0) > FORGET_SECONDS]:
            await self._forget(redis, gone)
        self.health = {"redis": "ok", "batches_waiting": group.get("lag"), "batches_held": group.get("pending"),
                       "in_flight": len(self.in_flight),
                       "workers": sum(now - w.get("seen", 0) <= ALIVE_SECONDS for w in workers.values()),
                       "failing": sorted(n for n, w in workers.items() if w.get("error"))}

    async def _forget(self, redis: Redis, names: list[str]) -> None:
        """Drop workers long gone from the list, and from the group once they hold no batch."""
        held = {c["name"].decode(): c["pending"] for c in await redis.xinfo_consumers(self.keys.batches,
                                                                                       WORKERS_GROUP)}
        for name in names:
            await redis.hdel(self.keys.workers, name)
            if not held.get(name):
                await redis.xgroup_delconsumer(self.keys.batches, WORKERS_GROUP, name)
            self._errors.pop(name, None)
