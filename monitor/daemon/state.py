"""What the daemon's parts (sources, outbox, learning, digests) share: ``Daemon.__init__`` sets every attribute
declared here, and the parts read them through this one declaration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitor.config.schema import Settings
    from monitor.daemon.notify import Notifier
    from monitor.enrich.pipeline import Pipeline
    from monitor.ingest.backoff import Health
    from monitor.ingest.sources import PolledSource, StreamSource
    from monitor.ingest.sources.feed import FeedSource
    from monitor.store.db import Store
    from monitor.workers.dispatch import Dispatcher


class DaemonState:
    """The state of a running daemon, as its parts see it."""

    settings: Settings
    store: Store
    pipeline: Pipeline
    notifier: Notifier
    polled: list[PolledSource]
    streams: list[StreamSource]
    health: dict[str, Health]
    processed: int
    _positions: dict[str, dict[str, Any]]
    _polled_once: set[str]
    _streams_done: set[str]
    _stop: asyncio.Event
    _closing: asyncio.Event
    _idle: asyncio.Event
    _wake: asyncio.Event
    _outbox_wake: asyncio.Event
    _scheduler: AsyncIOScheduler | None
    _watched: dict[str, FeedSource]
    _compute: ThreadPoolExecutor
    _trainer: BaseProcess | None
    _trainer_run: int
    _handoff: Dispatcher | None
    _sync_tasks: Callable[[], Awaitable[None]]

    async def _between_batches(self, change: Callable[[], None]) -> None:
        """Change the pipeline's state on the compute thread, so that no batch sees half of a change."""
        await asyncio.get_running_loop().run_in_executor(self._compute, change)
