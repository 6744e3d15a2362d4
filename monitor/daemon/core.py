"""The daemon: sources feed the store, a worker enriches stored items, an outbox delivers alerts.

Sources only ever write to the store; the worker reads ``new`` items from it in arrival order, so the store is the
queue and a crash loses nothing. Alerts are delivered from an outbox table, so a slow or failing notifier never
holds up ingestion.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from multiprocessing.process import BaseProcess

import numpy as np
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from models.classifier import Classifier, TaskSpec, ZeroShotClassifier
from models.embedding import Encoder
from models.ladder import open_version
from models.registry import ModelLoadError
from models.topics import OnlineTopicModel
from monitor.config.schema import Settings, TopicSettings
from monitor.daemon.notify import DeliveryError, Notifier, Question
from monitor.enrich.alerts import Alert, AlertEngine, Rule, compile_pattern
from monitor.enrich.pipeline import BatchResult, Pipeline
from monitor.ingest.backoff import Health, backoff_delay
from monitor.ingest.item import Item
from monitor.ingest.sources import PolledSource, StreamSource
from monitor.ingest.sources.bluesky import BlueskySource
from monitor.ingest.sources.feed import FeedSource
from monitor.ingest.sources.imap import ImapSource
from monitor.ingest.sources.mastodon import MastodonSource
from monitor.ingest.sources.reddit import RedditSource
from monitor.ingest.sources.replay import ReplaySource
from monitor.ingest.text import cut
from monitor.ingest.webhook import make_app
from monitor.learning import job
from monitor.learning.runs import request_retrain, task_specs
from monitor.reports import digest as digests
from monitor.store.db import Store
from monitor.taxonomy.workflow import with_stored_tasks

log = logging.getLogger(__name__)
IDLE_WAIT = 1.0
WATCH_SYNC_SECONDS = 5.0
WATCH_COOLDOWN_SECONDS = 1800.0
RETRY_LATER_SECONDS = 5.0
OUTBOX_BATCH = 200
LEARNING_TICK_SECONDS = 2.0
BURST_HISTORY_BINS = 24


def topic_model_settings(s: TopicSettings) -> dict[str, float]:
    """The ``OnlineTopicModel`` arguments that ``[topics]`` settings make (the benchmarks use them too)."""
    return {"threshold": s.threshold, "merge_threshold": s.merge_threshold, "split_threshold": s.split_threshold,
            "min_split_size": s.min_split_size, "max_topics": s.max_topics,
            "forget_after": s.forget_after_hours * 3600, "term_half_life": s.term_half_life_hours * 3600,
            "max_chars": s.keyword_chars}


def restore_topics(store: Store, settings: Settings) -> OnlineTopicModel:
    """The topic model as last committed to the store."""
    topics, meta = store.load_topics()
    return OnlineTopicModel.restore(topics, next_id=meta.get("next_id", 1), updates=meta.get("updates", 0),
                                    **topic_model_settings(settings.topics))


def build_pipeline(settings: Settings, store: Store, encoder: Encoder | None = None) -> Pipeline:
    """Load the encoder (slow: seconds) and restore every stateful model from the store."""
    m = settings.model
    encoder = encoder or Encoder(m.embedding, device=m.device, batch_size=m.batch_size, max_chars=m.max_chars)
    serving = store.serving()
    classifiers = [serve_or_zero_shot(settings, task, serving.get(task.name), encoder.encode)
                   for task in task_specs(settings)]
    rules = [Rule.from_settings(a, settings.slack.channel) for a in settings.alerts]
    engine = AlertEngine(rules, store.cooldowns(since=0))
    prime_bursts(engine, store)
    return Pipeline(encoder.encode, classifiers, restore_topics(store, settings), engine,
                    keywords=settings.topics.keywords)


def prime_bursts(engine: AlertEngine, store: Store) -> None:
    """Rebuild the burst rules' counts from the arrivals of the last ``BURST_HISTORY_BINS`` bins in the store."""
    widest = max((r.bin_minutes * 60 for r in engine.rules if r.bursty), default=0.0)
    now = time.time()
    since = now - BURST_HISTORY_BINS * widest
    if widest:
        engine.prime(store.topic_times(since), store.label_times(since), now)


def load_classifier(settings: Settings, task: TaskSpec, version: dict | None,
                    encode: Callable[[Sequence[str]], np.ndarray]) -> Classifier:
    """The registered ``version`` of ``task`` (``ModelLoadError`` if it cannot be loaded), or zero-shot for None."""
    if version is None:
        return ZeroShotClassifier.from_encoder(task, encode)
    return open_version(task, version["path"], f"v{version['version']}", settings.model.embedding,
                        device=settings.model.device, int8=bool(version["int8"]))


def serve_or_zero_shot(settings: Settings, task: TaskSpec, version: dict | None,
                       encode: Callable[[Sequence[str]], np.ndarray]) -> Classifier:
    """At start-up: the version in service for ``task``, or zero-shot when there is none or it cannot be loaded."""
    try:
        return load_classifier(settings, task, version, encode)
    except ModelLoadError as exc:
        log.error("task %s is served zero-shot: version %s cannot be loaded: %s", task.name,
                  (version or {}).get("version"), exc)
        return ZeroShotClassifier.from_encoder(task, encode)


def build_sources(settings: Settings) -> list[PolledSource | StreamSource]:
    sources: list[PolledSource | StreamSource] = [
        FeedSource(f.name, f.url, interval=f.interval_seconds, timeout=f.timeout_seconds,
                   max_backoff=f.max_backoff_seconds, max_bytes=f.max_bytes) for f in settings.feeds]
    sources += [ReplaySource(r.name, r.path, rate=r.rate, limit=r.limit) for r in settings.replays]
    sources += [ImapSource(m.name if len(m.folders) == 1 else f"{m.name}/{folder}", m.host, m.port, m.user,
                           settings.secrets[m.password_env], folder=folder, security=m.security, idle=m.idle,
                           poll_seconds=m.poll_seconds, reidle_seconds=m.reidle_minutes * 60,
                           timeout=m.timeout_seconds, max_chars=m.max_chars, max_backoff=m.max_backoff_seconds,
                           ca_file=m.ca_file) for m in settings.imap for folder in m.folders]
    sources += [RedditSource(r.name, r.subreddit, listing=r.listing, base_url=r.base_url,
                             interval=r.interval_seconds, timeout=r.timeout_seconds,
                             max_backoff=r.max_backoff_seconds, max_pages=r.max_pages) for r in settings.reddit]
    sources += [MastodonSource(m.name, m.base_url, timeline=m.timeline, tag=m.tag, list_id=m.list_id,
                               account_id=m.account_id, token=settings.secrets.get(m.token_env, ""),
                               timeout=m.timeout_seconds, max_backoff=m.max_backoff_seconds,
                               poll_seconds=m.poll_seconds) for m in settings.mastodon]
    sources += [BlueskySource(b.name, b.url, keywords=b.keywords, authors=b.authors, languages=b.languages,
                              timeout=b.timeout_seconds, max_backoff=b.max_backoff_seconds) for b in settings.bluesky]
    return sources


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


class Daemon:
    """Runs sources, the enrichment worker and the alert outbox until stopped (or, optionally, until idle)."""

    def __init__(self, settings: Settings, store: Store, pipeline: Pipeline, notifier: Notifier,
                 sources: Sequence[PolledSource | StreamSource],
                 on_progress: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.notifier = notifier
        self.polled = [s for s in sources if hasattr(s, "poll")]
        self.streams = [s for s in sources if hasattr(s, "stream")]
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
        self._configured_rules = list(pipeline.engine.rules)
        self._watched: dict[str, FeedSource] = {}
        self._compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enrich")
        self._trainer: BaseProcess | None = None
        self._trainer_run = 0

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
        interrupted = await self.store.call(self.store.recover_interrupted)
        if interrupted:
            log.warning("%d alerts were being sent when Lookout stopped; they are marked unknown, not resent "
                        "(`lookout status` lists them)", interrupted)
        if await self.store.call(self.store.requeue_interrupted_runs):
            log.info("an interrupted training run will resume from its last checkpoint")
        known = {row["name"]: row for row in (await self.store.call(self.store.status))["sources"]}
        for s in [*self.polled, *self.streams]:
            self._positions[s.name] = await self.store.call(self.store.source_position, s.name)
            self.health[s.name].failures = known.get(s.name, {}).get("failures") or 0
        self._scheduler = AsyncIOScheduler()
        for source in self.polled:
            self._schedule(source)
        await self._sync_watches()
        self._scheduler.add_job(self._sync_watches, "interval", seconds=WATCH_SYNC_SECONDS, id="watches",
                                max_instances=1, coalesce=True)
        self._schedule_learning()
        self._scheduler.start()
        http = await self._serve_http()
        streams = [asyncio.create_task(self._stream(s)) for s in self.streams]
        worker = asyncio.create_task(self._work())
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
            for source in [*self.polled, *self.streams]:
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

    def _schedule(self, source: PolledSource) -> None:
        assert self._scheduler is not None
        self._scheduler.add_job(self._poll, "interval", seconds=source.interval, args=[source], id=source.name,
                                next_run_time=datetime.now(self._scheduler.timezone), max_instances=1,
                                coalesce=True, misfire_grace_time=None)

    async def _sync_tasks(self) -> None:
        """Serve the tasks accepted at run time (``lookout taxonomy accept``, Slack), zero-shot until trained."""
        current = await self.store.call(with_stored_tasks, self.settings, self.store)
        known = {t.name for t in self.settings.tasks}
        added = [t for t in task_specs(current) if t.name not in known]
        if not added:
            return
        self.settings = current
        for task in added:
            await asyncio.get_running_loop().run_in_executor(self._compute, lambda t=task: self.pipeline.serve(
                serve_or_zero_shot(current, t, None, self.pipeline.encode)))
            log.info("now classifying task %s (%s)", task.name, ", ".join(task.label_names))

    async def _sync_watches(self) -> None:
        """Follow the feeds and keyword rules added or removed at run time (``watches`` in the store), and the
        tasks accepted at run time."""
        await self._sync_tasks()
        rows = await self.store.call(self.store.watches)
        feeds = {w["name"]: w["target"] for w in rows if w["kind"] == "feed"}
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
        self.pipeline.engine.rules = self._configured_rules + [
            Rule(name=w["name"], kind="keyword", channel=self.settings.slack.channel,
                 cooldown_seconds=WATCH_COOLDOWN_SECONDS, pattern=compile_pattern(w["target"]), origin="watch")
            for w in rows if w["kind"] == "keyword"]

    # the learning loop ------------------------------------------------------------------------------------------
    def _schedule_learning(self) -> None:
        """Schedule the learning jobs whether or not any task exists yet: each run reads the tasks of the moment,
        so a task accepted at run time is retrained and asked about like a configured one."""
        assert self._scheduler is not None
        s = self.settings.learning
        self._scheduler.add_job(self._learning_tick, "interval", seconds=LEARNING_TICK_SECONDS, id="learning",
                                max_instances=1, coalesce=True, next_run_time=datetime.now(self._scheduler.timezone))
        if s.min_new_corrections:
            self._scheduler.add_job(self._retrain_if_corrected, "interval", seconds=s.check_minutes * 60,
                                    id="corrections", max_instances=1, coalesce=True)
        if s.cron:
            self._scheduler.add_job(self._retrain_on_schedule, CronTrigger.from_crontab(s.cron, timezone="UTC"),
                                    id="retrain-cron", max_instances=1, coalesce=True)
        if self.settings.digest.cron:
            self._scheduler.add_job(self.send_digest, CronTrigger.from_crontab(self.settings.digest.cron,
                                                                               timezone="UTC"), id="digest",
                                    max_instances=1, coalesce=True)
        if s.ask_cron:
            self._scheduler.add_job(self.ask, CronTrigger.from_crontab(s.ask_cron, timezone="UTC"), id="ask",
                                    max_instances=1, coalesce=True)

    async def _request(self, task: str | None, via: str) -> None:
        for name, run_id, new in await self.store.call(request_retrain, self.store, self.settings, task, via):
            if new:
                log.info("training run #%d of %s requested (%s)", run_id, name, via)

    async def _retrain_on_schedule(self) -> None:
        """``learning.cron``: ask for a run of every task there is now (none yet: nothing to do)."""
        if self.settings.tasks:
            await self._request(None, "schedule")

    async def _retrain_if_corrected(self) -> None:
        """Ask for a run of every task with ``learning.min_new_corrections`` corrections since its last run."""
        for task in self.settings.tasks:
            since = await self.store.call(self.store.last_run_at, task.name)
            n = await self.store.call(self.store.count_corrections_since, task.name, since)
            if n >= self.settings.learning.min_new_corrections:
                await self._request(task.name, f"{n} new corrections")

    async def _learning_tick(self) -> None:
        await self._serve_promoted()
        await self._watch_trainer()
        await self._relay_notes()

    async def _serve_promoted(self) -> None:
        """Hot swap: serve each task's promoted version. The swap happens on the compute thread between batches,
        so a batch is labelled by one model or the other, never half and half."""
        serving = await self.store.call(self.store.serving)
        loop = asyncio.get_running_loop()
        for task in task_specs(self.settings):
            row = serving.get(task.name)
            want = f"v{row['version']}" if row else ZeroShotClassifier.version
            have = next(c.version for c in self.pipeline.classifiers if c.task.name == task.name)
            if want == have:
                continue
            try:
                classifier = await loop.run_in_executor(self._compute, load_classifier, self.settings, task, row,
                                                        self.pipeline.encode)
            except ModelLoadError as exc:
                log.error("task %s: %s cannot be served, %s stays in service: %s", task.name, want, have, exc)
                await self.store.call(self.store.set_version_status, task.name, row["version"], "broken", str(exc))
                if have != ZeroShotClassifier.version:
                    await self.store.call(self.store.promote, task.name, int(have[1:]), f"kept: {want} is broken")
                continue
            await loop.run_in_executor(self._compute, self.pipeline.serve, classifier)
            log.info("task %s is now served by %s (was %s)", task.name, want, have)

    async def _watch_trainer(self) -> None:
        """Start the next requested training run when none is running; record a run whose process died."""
        if self._trainer is not None:
            if self._trainer.is_alive():
                return
            code = self._trainer.exitcode
            run = await self.store.call(self.store.run, self._trainer_run)
            if run and run["status"] == "running":
                why = " (killed: out of memory?)" if code == -signal.SIGKILL else ""
                await self.store.call(self.store.finish_run, self._trainer_run, "failed",
                                      f"{run['task']}: the training process exited with code {code}{why}; the model "
                                      "in service stays")
            self._trainer = None
        run = await self.store.call(self.store.claim_run)
        if run is not None:
            self._trainer_run = run["id"]
            self._trainer = job.start(self.settings, run["id"])
            log.info("training run #%d of %s started (pid %s)", run["id"], run["task"], self._trainer.pid)

    async def _relay_notes(self) -> None:
        """Pass what training runs report on to the people following them (a Slack thread, or the console)."""
        for run in await self.store.call(self.store.unsent_notes):
            channel = run["channel"] or self.settings.slack.channel
            thread, sent = run["thread"] or "", run["notes_sent"]
            try:
                if not thread:
                    thread = await self.notifier.note(f"Training run #{run['id']} of {run['task']}", channel, "")
                for text in run["notes"][sent:]:
                    await self.notifier.note(text, channel, thread)
                    sent += 1
            except DeliveryError as exc:
                log.warning("training run #%d: a progress note was not delivered: %s", run["id"], exc)
                if exc.permanent:
                    sent = len(run["notes"])
            await self.store.call(self.store.notes_sent, run["id"], sent, channel, thread)

    async def send_digest(self) -> digests.Digest:
        """Build the trend digest of the last ``digest.hours``, write its chart and HTML page, and deliver it. It is
        read and drawn on a reader thread, so the writer goes on committing batches meanwhile."""
        d = self.settings.digest
        folder = digests.report_dir(self.settings.store.path, d.report_dir)
        digest = await self.store.read(digests.build, self.store, d.hours, d.history, d.limit, folder)
        digests.write(digest, folder)
        try:
            await self.notifier.digest(digest, d.channel or self.settings.slack.channel)
        except DeliveryError as exc:
            log.warning("the digest was not delivered: %s", exc)
        return digest

    async def ask(self) -> int:
        """Active learning: put the items each task's model was least sure of today to the team; returns how many."""
        s = self.settings.learning
        asked = 0
        for task in task_specs(self.settings):
            rows = await self.store.call(self.store.least_sure, task.name, time.time() - 86400, s.ask_budget)
            if not rows:
                continue
            try:
                await self.notifier.ask(Question(task.name, task.label_names, rows,
                                                 s.ask_channel or self.settings.slack.channel))
            except DeliveryError as exc:
                log.warning("questions about %s were not delivered: %s", task.name, exc)
                continue
            await self.store.call(self.store.record_questions, task.name, rows)
            asked += len(rows)
        return asked

    # sources ------------------------------------------------------------------------------------------------------
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
        app = make_app(self._ingest, self.settings.secrets.get("LOOKOUT_WEBHOOK_SECRET", ""),
                       self.settings.secrets.get("LOOKOUT_WEBHOOK_TOKEN", ""), http.max_body_bytes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, http.host, http.port).start()
        log.info("webhook intake listening on http://%s:%d/ingest", http.host, http.port)
        return runner

    async def _failed(self, source: PolledSource | StreamSource, exc: Exception) -> float:
        error = str(exc) or type(exc).__name__
        health = self.health[source.name]
        health.failed(error, log)
        await self.store.call(self.store.source_failed, source.name, source.kind, error)
        return backoff_delay(health.failures, getattr(source, "interval", 1.0), getattr(source, "max_backoff", 300))

    async def _poll(self, source: PolledSource) -> None:
        try:
            batch = await source.poll(self._positions.get(source.name, {}))
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
            await _wait(self._wake, IDLE_WAIT)

    async def _process(self, items: list[Item]) -> None:
        self.pipeline.engine.muted = await self.store.call(self.store.muted)
        try:
            result = await self._enrich(items)
        except Exception:
            log.exception("enriching a batch of %d items failed; retrying them one by one", len(items))
            await self._process_singly(items)
            return
        await self.store.call(self.store.complete, result)
        self._done(len(items), bool(result.alerts))

    async def _enrich(self, items: list[Item]) -> BatchResult:
        """Enrich on the one compute thread: torch keeps one OpenMP team instead of one per pool thread."""
        return await asyncio.get_running_loop().run_in_executor(self._compute, self.pipeline.enrich, items)

    async def _process_singly(self, items: list[Item]) -> None:
        """After a failed batch: the items one by one, reloading the model state only when a failure left some
        that no commit backs (a committed item's state is the store's)."""
        await self._reload_state()
        for item in items:
            try:
                result = await self._enrich([item])
            except Exception as exc:
                log.error("item %s from %s cannot be enriched and is kept as failed: %s", item.id, item.source, exc)
                await self.store.call(self.store.fail_items, {item.id: f"{type(exc).__name__}: {exc}"})
                self._done(1, False)
                await self._reload_state()
                continue
            await self.store.call(self.store.complete, result)
            self._done(1, bool(result.alerts))

    async def _reload_state(self) -> None:
        """Drop in-memory model state that no commit backs (after a failed batch)."""
        self.pipeline.topics = await self.store.call(restore_topics, self.store, self.settings)
        self.pipeline.engine.fired = await self.store.call(self.store.cooldowns, 0.0)
        await self.store.call(prime_bursts, self.pipeline.engine, self.store)

    def _done(self, n: int, alerted: bool) -> None:
        self.processed += n
        if self.on_progress:
            self.on_progress(n)
        if alerted:
            self._outbox_wake.set()

    # the outbox ---------------------------------------------------------------------------------------------------
    async def _deliver(self) -> None:
        """Keep one sender per channel that has pending alerts; once closing, let them deliver what is pending."""
        senders: dict[str, asyncio.Task[None]] = {}
        while True:
            self._outbox_wake.clear()
            for channel in [c for c, task in senders.items() if task.done()]:
                senders.pop(channel).result()
            for channel in await self.store.call(self.store.pending_channels):
                if channel not in senders:
                    senders[channel] = asyncio.create_task(self._send_channel(channel))
            if self._closing.is_set():
                await asyncio.gather(*senders.values())
                return
            await _wait(self._outbox_wake, IDLE_WAIT)

    async def _send_channel(self, channel: str) -> None:
        """Deliver ``channel``'s pending alerts in order, one at a time, until none is left (or, once closing, until
        Slack asks to wait)."""
        while batch := await self.store.call(self.store.pending_alerts, channel, OUTBOX_BATCH):
            for alert_id, alert in batch:
                if not await self._send(alert_id, alert):
                    await _wait(self._closing, RETRY_LATER_SECONDS)
                    if self._closing.is_set():
                        return
                    break

    async def _send(self, alert_id: int, alert: Alert) -> bool:
        """Send one alert, marked ``sending`` just before and its outcome recorded just after, so a crash leaves at
        most this one alert of its channel ``unknown``; False when it must be tried again later."""
        await self.notifier.ready(alert.channel)
        await self.store.call(self.store.start_alert, alert_id)
        try:
            await self.notifier.send(alert)
        except DeliveryError as exc:
            if not exc.permanent:
                log.warning("alert %d (%s) delivery will be retried: %s", alert_id, alert.rule, exc)
                await self.store.call(self.store.release_alert, alert_id)
                return False
            log.error("alert %d (%s) could not be delivered: %s", alert_id, alert.rule, exc)
            await self.store.call(self.store.finish_alert, alert_id, str(exc))
            return True
        await self.store.call(self.store.finish_alert, alert_id)
        return True
