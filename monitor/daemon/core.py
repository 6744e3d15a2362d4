"""The daemon: sources feed the store (``ingest``), a worker enriches stored items (here), an outbox delivers alerts
(``outbox``), the learning jobs keep the models current (``learning``), and digests go out on their schedule
(``digests``).

Sources only ever write to the store; the worker reads ``new`` items from it in arrival order, so the store is the
queue and a crash loses nothing. Alerts are delivered from an outbox table, so a slow or failing notifier never
holds up ingestion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess
from typing import cast

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config.hints import unused_settings
from monitor.config.schema import Settings
from monitor.daemon.digests import DigestJobs
from monitor.daemon.ingest import SourceJobs
from monitor.daemon.learning import LearningJobs
from monitor.daemon.notify import Notifier
from monitor.daemon.outbox import IDLE_WAIT, Outbox, wait_up_to
from monitor.enrich.build import prime_bursts, restore_topics
from monitor.enrich.describe import link_typical
from monitor.enrich.pipeline import BatchResult, Encoded, Pipeline
from monitor.ingest.backoff import Health
from monitor.ingest.item import Item
from monitor.ingest.sources import PolledSource, StreamSource
from monitor.ingest.sources.feed import FeedSource
from monitor.store.db import Store

log = logging.getLogger(__name__)


class Daemon(SourceJobs, Outbox, LearningJobs, DigestJobs):
    """Runs sources, the enrichment worker and the alert outbox until stopped (or, optionally, until idle)."""

    def __init__(self, settings: Settings, store: Store, pipeline: Pipeline, notifier: Notifier,
                 sources: Sequence[PolledSource | StreamSource],
                 on_progress: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.notifier = notifier
        self.polled = [cast(PolledSource, s) for s in sources if hasattr(s, "poll")]
        self.streams = [cast(StreamSource, s) for s in sources if hasattr(s, "stream")]
        self.on_progress = on_progress
        self.processed = 0
        self.health = {s.name: Health(s.name) for s in sources}
        self._positions: dict[str, dict] = {}
        self._polled_once: set[str] = set()
        self._streams_done: set[str] = set()
        self._stop = asyncio.Event()
        self._closing = asyncio.Event()
        self._idle = asyncio.Event()
        self._wake = asyncio.Event()
        self._outbox_wake = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None
        self._watched: dict[str, FeedSource] = {}
        self._compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enrich")
        self._trainer: BaseProcess | None = None
        self._trainer_run = 0
        self._handoff = None
        if settings.workers.redis_url:  # lookout worker processes encode and classify; the daemon commits
            from monitor.workers.dispatch import Dispatcher

            self._handoff = Dispatcher(settings, store, int(pipeline.encode([""]).shape[1]),
                                       lambda: self.pipeline.classifiers, self._commit)

    def stop(self) -> None:
        """Ask the daemon to finish the batch in hand, deliver what is pending and return."""
        self._stop.set()
        self._wake.set()

    async def run(self, until_idle: bool = False) -> None:
        """Run until ``stop()`` (SIGINT/SIGTERM), or with ``until_idle`` until every finite source is played,
        every live stream caught up once, every feed polled once, and every item and alert handled."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)
        for note in unused_settings(self.settings):
            log.warning("%s", note)
        interrupted = await self.store.call(self.store.recover_interrupted)
        if interrupted:
            log.warning("%d alerts were being sent when Lookout stopped; they are marked unknown, not resent "
                        "(`lookout status` lists them)", interrupted)
        if await self.store.call(self.store.requeue_interrupted_runs):
            log.info("an interrupted training run will resume from its last checkpoint")
        known = {row["name"]: row for row in (await self.store.call(self.store.status))["sources"]}
        sources_all: list[PolledSource | StreamSource] = [*self.polled, *self.streams]
        for s in sources_all:
            self._positions[s.name] = await self.store.call(self.store.source_position, s.name)
            self.health[s.name].failures = known.get(s.name, {}).get("failures") or 0
        self._scheduler = AsyncIOScheduler()
        await self._schedule_sources()
        self._schedule_learning()
        await self._schedule_digest()
        self._scheduler.start()
        http = await self._serve_http()
        streams = [asyncio.create_task(self._stream(s)) for s in self.streams]
        worker = asyncio.create_task(self._work() if self._handoff is None else
                                     self._handoff.run(self._stop, self._wake, self._settled, self._idle))
        outbox = asyncio.create_task(self._deliver())
        try:
            if until_idle:
                await asyncio.wait([asyncio.create_task(self._idle.wait()), asyncio.create_task(self._stop.wait())],
                                   return_when=asyncio.FIRST_COMPLETED)
            else:
                await self._stop.wait()
        finally:
            if http is not None:
                await http.cleanup()
            self._scheduler.shutdown(wait=False)
            for task in streams:
                task.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
            self.stop()
            await worker
            self._closing.set()
            self._outbox_wake.set()
            await outbox
            closing: list[PolledSource | StreamSource] = [*self.polled, *self.streams]
            for source in closing:
                await source.close()
            await self.notifier.close()
            self._compute.shutdown(wait=True)
            if self._trainer is not None and self._trainer.is_alive():
                log.info("stopping training run #%d; it resumes from its last epoch at the next start",
                         self._trainer_run)
                self._trainer.terminate()
                self._trainer.join(10)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    # the worker ---------------------------------------------------------------------------------------------------
    def _settled(self) -> bool:
        return (len(self._streams_done) == len(self.streams)
                and self._polled_once >= {s.name for s in self.polled})

    async def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            items = await self.store.call(self.store.pending_items, self.settings.pipeline.batch_size)
            if items:
                await self._process(items)
                continue
            if self._settled():
                self._idle.set()
            await wait_up_to(self._wake, IDLE_WAIT)

    async def _use_mutes(self) -> None:
        mutes = await self.store.call(self.store.muted)
        await self._between_batches(lambda: self.pipeline.use_mutes(mutes))

    async def _process(self, items: list[Item]) -> None:
        """Enrich and commit a batch of stored items here, on the compute thread."""
        await self._batch(items, lambda rows: self.pipeline.enrich([items[i] for i in rows]))

    async def _commit(self, items: list[Item], encoded: Encoded, errors: dict[str, str]) -> None:
        """Commit what a worker made of ``items`` exactly as a local batch, and keep the items it could not enrich
        as failed."""
        if errors:
            await self.store.call(self.store.fail_items, errors)
            self._done(len(errors), False)
        if items:
            await self._batch(items, lambda rows: self.pipeline.commit([items[i] for i in rows], encoded.take(rows)))

    async def _batch(self, items: list[Item], step: Callable[[list[int]], BatchResult]) -> None:
        """Run ``step`` (items at these rows -> their result) on the whole batch on the compute thread; when it
        fails, on each item alone, reloading the model state only when a failure left some that no commit backs
        (a committed item's state is the store's); an item that fails alone is kept as failed."""
        await self._use_mutes()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._compute, step, list(range(len(items))))
        except Exception:
            log.exception("a batch of %d items failed; retrying them one by one", len(items))
            await self._reload_state()
            for i, item in enumerate(items):
                try:
                    result = await loop.run_in_executor(self._compute, step, [i])
                except Exception as exc:
                    log.error("item %s from %s cannot be enriched and is kept as failed: %s", item.id, item.source,
                              exc)
                    await self.store.call(self.store.fail_items, {item.id: f"{type(exc).__name__}: {exc}"})
                    self._done(1, False)
                    await self._reload_state()
                    continue
                await self._finish(result, 1)
            return
        await self._finish(result, len(items))

    async def _finish(self, result: BatchResult, n: int) -> None:
        await self._describe(result)
        await self.store.call(self.store.complete, result)
        self._done(n, bool(result.alerts))

    async def _describe(self, result: BatchResult) -> None:
        """Give a topic alert its typical items' titles and links, read from the store, where every item is before
        it is enriched (``Pipeline.commit`` named the topics and chose the items)."""
        wanted = sorted({i for alert in result.alerts for i, *_ in alert.typical})
        if wanted:
            link_typical(result.alerts, await self.store.read(self.store.links, wanted))

    async def _reload_state(self) -> None:
        """Drop in-memory model state that no commit backs (after a failed batch)."""
        topics = await self.store.call(restore_topics, self.store, self.settings)
        fired = await self.store.call(self.store.cooldowns, 0.0)
        await self._between_batches(lambda: self.pipeline.reset(topics, fired))
        await self.store.call(prime_bursts, self.pipeline, self.store)

    def _done(self, n: int, alerted: bool) -> None:
        self.processed += n
        if self.on_progress:
            self.on_progress(n)
        if alerted:
            self._outbox_wake.set()
