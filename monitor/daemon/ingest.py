"""The daemon's sources: each polled source on its own schedule, each stream in its own task, the feeds and keyword
rules watched at run time, and the webhook intake; every item is stored before any work is done on it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from monitor.daemon.state import DaemonState
from monitor.enrich.alerts import Rule, compile_pattern
from monitor.ingest.backoff import Health, backoff_delay
from monitor.ingest.item import Item
from monitor.ingest.sources import PolledSource, StreamSource
from monitor.ingest.sources.feed import FeedSource
from monitor.ingest.text import cut
from monitor.ingest.webhook import make_app
from monitor.subscriptions import subscription_rules

log = logging.getLogger(__name__)
WATCH_SYNC_SECONDS = 5.0
WATCH_COOLDOWN_SECONDS = 1800.0


class SourceJobs(DaemonState):
    """The ``Daemon``'s part that polls, streams and takes in items (a mixin: the state is the daemon's)."""

    async def _schedule_sources(self) -> None:
        """Schedule every polled source, sync the watches added at run time now and then every few seconds."""
        assert self._scheduler is not None
        for source in self.polled:
            self._schedule(source)
        await self._sync_watches()
        self._scheduler.add_job(self._sync_watches, "interval", seconds=WATCH_SYNC_SECONDS, id="watches",
                                max_instances=1, coalesce=True)

    def _schedule(self, source: PolledSource) -> None:
        assert self._scheduler is not None
        self._scheduler.add_job(self._poll, "interval", seconds=source.interval, args=[source], id=source.name,
                                next_run_time=datetime.now(self._scheduler.timezone), max_instances=1,
                                coalesce=True, misfire_grace_time=None)

    async def _sync_watches(self) -> None:
        """Follow the feeds and keyword rules added or removed at run time (``watches`` in the store), the channels'
        subscriptions, and the tasks accepted at run time."""
        await self._sync_tasks()
        rows = await self.store.call(self.store.watches)
        feeds = {w.name: w.target for w in rows if w.kind == "feed"}
        for name, url in feeds.items():
            if name not in self._watched:
                source = self._watched[name] = FeedSource(name, url)
                self.polled.append(source)
                self.health[name] = Health(name)
                self._positions[name] = await self.store.call(self.store.source_position, name)
                self._schedule(source)
                log.info("now watching feed %s (%s)", name, url)
        for name in [n for n in self._watched if n not in feeds]:
            source = self._watched.pop(name)
            self.polled.remove(source)
            self._polled_once.discard(name)
            if self._scheduler is not None and self._scheduler.get_job(name):
                self._scheduler.remove_job(name)
            await source.close()
            log.info("stopped watching feed %s", name)
        added = [Rule(name=w.name, kind="keyword", channel=self.settings.slack.channel,
                      cooldown_seconds=WATCH_COOLDOWN_SECONDS, pattern=compile_pattern(w.target), origin="watch")
                 for w in rows if w.kind == "keyword"] + await self.store.call(subscription_rules, self.store)
        await self._between_batches(lambda: self.pipeline.use_rules(added))

    async def _store(self, source: PolledSource | StreamSource, items: list[Item], position: dict) -> None:
        await self._add(source.name, source.kind, items, position)
        self._positions[source.name] = position

    async def _add(self, source: str, kind: str, items: list[Item], position: dict | None) -> int:
        """Store items (text cut to ``max_item_chars`` with a marker) and wake the worker; return how many were new."""
        limit = self.settings.model.max_item_chars
        items = [dataclasses.replace(i, text=cut(i.text, limit)) if len(i.text) > limit else i for i in items]
        new = await self.store.call(self.store.add_items, source, kind, items, position)
        if new:
            self._wake.set()
        return len(new)

    async def _ingest(self, items: list[Item]) -> int:
        by_source: dict[str, list[Item]] = {}
        for item in items:
            by_source.setdefault(item.source, []).append(item)
        return sum([await self._add(name, "webhook", group, None) for name, group in by_source.items()])

    async def _serve_http(self) -> web.AppRunner | None:
        http = self.settings.http
        if not http.port:
            return None
        secret, token = (self.settings.secrets.get(v, "") for v in ("LOOKOUT_WEBHOOK_SECRET", "LOOKOUT_WEBHOOK_TOKEN"))
        app = make_app(self._ingest, secret, token, http.max_body_bytes, health=self._health)
        if self._handoff is not None:
            from monitor.workers.files import add_routes

            add_routes(app, self.store, secret, token, self._handoff.training)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, http.host, http.port).start()
        log.info("webhook intake listening on http://%s:%d/ingest", http.host, http.port)
        return runner

    def _health(self) -> dict[str, Any]:
        """What ``/healthz`` adds to ``ok``: the hand-off to workers (Redis, batches waiting and held, workers)."""
        return {} if self._handoff is None else {"workers": self._handoff.health}

    async def _failed(self, source: PolledSource | StreamSource, exc: Exception) -> float:
        error = str(exc) or type(exc).__name__
        health = self.health[source.name]
        health.failed(error, log)
        await self.store.call(self.store.source_failed, source.name, source.kind, error)
        return backoff_delay(health.failures, getattr(source, "interval", 1.0), getattr(source, "max_backoff", 300))

    async def _poll(self, source: PolledSource) -> None:
        """One poll of ``source``; a poll cut short by shutting down ends quietly (the position is not moved)."""
        try:
            batch = await source.poll(self._positions.get(source.name, {}))
        except asyncio.CancelledError:
            if self._scheduler is not None and not self._scheduler.running:
                return
            raise
        except Exception as exc:
            delay = await self._failed(source, exc)
            if self._scheduler is not None and self._scheduler.get_job(source.name):
                self._scheduler.modify_job(source.name, next_run_time=datetime.now(self._scheduler.timezone)
                                           + timedelta(seconds=delay))
        else:
            self.health[source.name].succeeded(log)
            await self._store(source, batch.items, batch.position)
        finally:
            self._polled_once.add(source.name)
            self._wake.set()

    async def _stream(self, source: StreamSource) -> None:
        while True:
            try:
                async for batch in source.stream(self._positions.get(source.name, {})):
                    await self._store(source, batch.items, batch.position)
                    self.health[source.name].succeeded(log)
                    if getattr(source, "live", False):
                        self._streams_done.add(source.name)
                self._streams_done.add(source.name)
                self._wake.set()
                return
            except Exception as exc:
                await asyncio.sleep(await self._failed(source, exc))
