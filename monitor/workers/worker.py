"""``lookout worker``: reads batches from the batches stream with a consumer group, encodes and classifies them
with the versions the daemon announces, and writes the results to the results stream.

At least once: a batch stays pending on its worker until the result is written and the batch acknowledged (one
transaction); a worker killed mid-batch leaves it pending, and after ``claim_timeout_seconds`` another worker
claims it (XAUTOCLAIM). A live worker renews its claim with every heartbeat, so a long batch is not taken from it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from redis.asyncio import Redis

from models.embedding import Encoder
from monitor.config.schema import Settings
from monitor.daemon.outbox import wait_up_to
from monitor.enrich.pipeline import Encoded, classify
from monitor.workers.serving import Models
from monitor.workers.streams import (
    HEARTBEAT_SECONDS,
    WORKERS_GROUP,
    Entry,
    Keys,
    RedisError,
    connect,
    ensure_groups,
    next_entry,
)
from monitor.workers.trainer import Trainer
from monitor.workers.wire import Announcement, Fields, Results, read_batch

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


class Worker:
    """One worker process (or, in tests and benchmarks, one task in an event loop)."""

    def __init__(self, settings: Settings, encoder: Encoder, name: str = "", train: bool = False) -> None:
        self.settings = settings
        self.s = settings.workers
        self.keys = Keys.of(self.s)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.encoder = encoder
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker")
        self._tmp = "" if self.s.cache_dir else tempfile.mkdtemp(prefix="lookout-worker-")
        self.models = Models(settings, encoder, Path(self.s.cache_dir or self._tmp), self.compute)
        self.batches = 0
        self.items = 0
        self.holding = ""  # the stream id of the batch in hand
        self.stop_event = asyncio.Event()
        self.trainer = Trainer(settings, self.name, self.models.cache, self.stop_event) if train else None

    def stop(self) -> None:
        """Finish the batch in hand, then return from ``run``."""
        self.stop_event.set()

    async def run(self) -> None:
        """Work until ``stop()``; while Redis is away, wait for it (logged once when it goes, once when back)."""
        down = False
        training = asyncio.create_task(self.trainer.run()) if self.trainer else None
        try:
            while not self.stop_event.is_set():
                redis = connect(self.s.redis_url)
                try:
                    await ensure_groups(redis, self.keys)
                    if down:
                        log.info("Redis at %s is back", self.s.redis_url)
                        down = False
                    await self._serve(redis)
                except (RedisError, OSError) as exc:
                    if not down:
                        log.warning("Redis at %s is unreachable (%s); waiting for it", self.s.redis_url, exc)
                        down = True
                    await wait_up_to(self.stop_event, RETRY_SECONDS)
                finally:
                    await redis.aclose()
        finally:
            if training is not None:
                self.stop_event.set()
                await training
            self.compute.shutdown(wait=True)
            if self._tmp:
                shutil.rmtree(self._tmp, ignore_errors=True)

    async def _serve(self, redis: Redis) -> None:
        beat = asyncio.create_task(self._heartbeat(redis))
        try:
            while not self.stop_event.is_set():
                if beat.done():
                    beat.result()
                await self._follow_announcement(redis)
                if not self.models.ready:
                    await wait_up_to(self.stop_event, RETRY_SECONDS)
                    continue
                job = await self._next(redis)
                if job is not None:
                    await self._work(redis, *job)
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)

    async def _follow_announcement(self, redis: Redis) -> None:
        """Serve what the daemon announced last; nothing (no batch is taken) until it announced an encoder of the
        worker's width."""
        raw = await redis.get(self.keys.models)
        if raw is None:
            return
        announcement = Announcement.loads(raw)
        if announcement.dim != self.encoder.dim:
            error = (f"the daemon's embeddings have {announcement.dim} dimensions but this worker's encoder "
                     f"({self.settings.model.embedding}) makes {self.encoder.dim}: set the same [model] embedding")
            if error != self.models.error:
                log.error("%s; no batch is taken", error)
            self.models.error, self.models.announced = error, ""
            return
        await self.models.update(announcement)

    async def _next(self, redis: Redis) -> Entry | None:
        """A batch a dead worker left (after the claim timeout), else a new one (waiting up to a second)."""
        entry, claimed = await next_entry(redis, self.keys.batches, WORKERS_GROUP, self.name,
                                          int(self.s.claim_timeout_seconds * 1000))
        if entry is not None and claimed:
            log.warning("claimed batch %s, left by a worker that stopped answering", entry[0].decode())
        return entry

    async def _work(self, redis: Redis, entry: bytes, fields: Fields) -> None:
        self.holding = entry.decode()
        try:
            batch, ids, texts = read_batch(fields)
            results = await self._enrich(batch, ids, texts)
            done = {**self.status(), "batches": self.batches + 1, "items": self.items + len(ids)}
            async with redis.pipeline(transaction=True) as tx:
                tx.xadd(self.keys.results, results.fields(), maxlen=self.s.maxlen, approximate=True)
                tx.xack(self.keys.batches, WORKERS_GROUP, entry)
                tx.hset(self.keys.workers, self.name, json.dumps(done))
                await tx.execute()
        finally:
            self.holding = ""
        self.batches += 1
        self.items += len(ids)

    async def _enrich(self, batch: str, ids: list[str], texts: list[str]) -> Results:
        """The batch with the classifiers in service now; if it fails, the items one by one (those that still
        fail are sent back as errors)."""
        loop = asyncio.get_running_loop()
        classifiers = list(self.models.classifiers)
        try:
            encoded = await loop.run_in_executor(self.compute, classify, self.encoder.encode, classifiers, texts)
            return Results(batch, self.name, ids, encoded, {})
        except Exception:
            log.exception("enriching batch %s of %d items failed; retrying them one by one", batch, len(ids))
        kept: list[tuple[str, Encoded]] = []
        errors: dict[str, str] = {}
        for item_id, text in zip(ids, texts, strict=True):
            try:
                kept.append((item_id, await loop.run_in_executor(self.compute, classify, self.encoder.encode,
                                                                 classifiers, [text])))
            except Exception as exc:
                errors[item_id] = f"{type(exc).__name__}: {exc}"
        embeddings = (np.vstack([e.embeddings for _, e in kept]) if kept
                      else np.zeros((0, self.encoder.dim), dtype=np.float32))
        return Results(batch, self.name, [i for i, _ in kept], Encoded(embeddings, [e.predictions[0] for _, e in kept]),
                       errors)

    def status(self) -> dict[str, object]:
        """What the heartbeat tells the daemon and ``lookout status``."""
        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(), "device": self.encoder.device,
                "batches": self.batches, "items": self.items, "models": self.models.versions(),
                "announcement": self.models.announced, "error": self.models.error, "seen": time.time(),
                "trains": self.trainer is not None, "training": self.trainer.state if self.trainer else {}}

    async def _heartbeat(self, redis: Redis) -> None:
        """Every few seconds (and thrice per claim timeout): the status into the workers hash, and the claim on the
        batch in hand renewed."""
        while True:
            await redis.hset(self.keys.workers, self.name, json.dumps(self.status()))
            if self.holding:
                await redis.xclaim(self.keys.batches, WORKERS_GROUP, self.name, 0,
                                   [self.holding], justid=True)
            await asyncio.sleep(min(HEARTBEAT_SECONDS, self.s.claim_timeout_seconds / 3))

