"""``lookout worker --train``: takes training runs from the training stream (consumer group ``train``), trains each
with ``job.execute`` (the local run's code: every rung, the same budget rules) on the worker's own devices, from
the data the daemon packed, and sends the version back (see ``training`` for the daemon's side).

A run stays pending on its worker until the daemon has its outcome; the worker renews its claim while it trains,
so a worker that dies leaves the run to another after ``claim_timeout_seconds`` (XAUTOCLAIM). A worker asked to
stop (SIGTERM) stops training at the next progress report and leaves the run pending for another worker; a run the
daemon no longer waits for (HTTP 410) is let go."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import aiohttp

from models.embedding import pick_device
from models.registry import ModelLoadError
from monitor.config.schema import Settings
from monitor.daemon.outbox import wait_up_to
from monitor.learning import job as jobs
from monitor.learning.runs import RunStopped
from monitor.store.db import Store
from monitor.workers import package
from monitor.workers.files import FETCH_TIMEOUT_SECONDS, SHA_HEADER, auth_headers, digest, fetch, manifest
from monitor.workers.streams import (
    HEARTBEAT_SECONDS,
    TRAIN_GROUP,
    Entry,
    Keys,
    RedisError,
    connect,
    ensure_groups,
    next_entry,
)
from monitor.workers.wire import Fields

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 1.0
RETRY_SECONDS = 1.0
UNREACHABLE = (aiohttp.ClientError, TimeoutError, OSError)


class Withdrawn(RunStopped):
    """The run was taken from this worker: it is stopping, or the daemon no longer waits for the run."""


class Gone(Exception):
    """The daemon no longer waits for this run (HTTP 410)."""


class LinkError(RuntimeError):
    """The daemon refused a request (other than a version it would not register)."""


class Link:
    """The requests of one run to the daemon, under ``/training/<ticket>``, signed as ``training`` expects."""

    def __init__(self, http: aiohttp.ClientSession, base: str, ticket: str, secrets: dict[str, str]) -> None:
        self.http, self.base, self.prefix, self.secrets = http, base.rstrip("/"), f"/training/{ticket}", secrets

    @staticmethod
    async def _check(resp: aiohttp.ClientResponse, ok: tuple[int, ...] = (200,)) -> None:
        if resp.status == 410:
            raise Gone(await resp.text())
        if resp.status not in ok:
            raise LinkError(f"{resp.url.path}: HTTP {resp.status} {(await resp.text())[:300]}")

    async def job(self) -> dict[str, Any]:
        async with self.http.get(self.base + self.prefix, headers=auth_headers(self.prefix, self.secrets)) as resp:
            await self._check(resp)
            return dict(await resp.json())

    async def download(self, into: Path) -> None:
        path = f"{self.prefix}/data"
        async with self.http.get(self.base + path, headers=auth_headers(path, self.secrets)) as resp:
            await self._check(resp)
            with into.open("wb") as f:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    f.write(chunk)

    async def post(self, what: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        path, body = f"{self.prefix}/{what}", json.dumps(data).encode()
        headers = {**auth_headers(path, self.secrets, body), "Content-Type": "application/json"}
        async with self.http.post(self.base + path, data=body, headers=headers) as resp:
            await self._check(resp, (200, 422))
            return resp.status, dict(await resp.json())

    async def put(self, file: Path, sha256: str) -> None:
        path = f"{self.prefix}/files/{file.name}"
        headers = {**auth_headers(path, self.secrets, f"{path}\n{sha256}".encode()), SHA_HEADER: sha256}
        with file.open("rb") as f:
            async with self.http.put(self.base + path, data=f, headers=headers) as resp:
                await self._check(resp)


class Trainer:
    """The training side of one worker (``lookout worker --train``)."""

    def __init__(self, settings: Settings, name: str, cache: Path, stop: asyncio.Event) -> None:
        self.settings = settings
        self.s = settings.workers
        self.keys = Keys.of(self.s)
        self.name = name
        self.cache = cache
        self.stop_event = stop
        self.device = pick_device(settings.training.device)
        self.state: dict[str, Any] = {}  # the run in hand, for the heartbeat
        self.runs = 0

    async def run(self) -> None:
        """Take runs until the worker stops; while Redis is away, wait for it (the batches' side logs it)."""
        while not self.stop_event.is_set():
            redis = connect(self.s.redis_url)
            try:
                await ensure_groups(redis, self.keys, training=True)
                while not self.stop_event.is_set():
                    got = await self._next(redis)
                    if got is not None:
                        await self._take(redis, *got)
            except (RedisError, OSError) as exc:
                log.debug("training: Redis at %s is unreachable (%s)", self.s.redis_url, exc)
                await wait_up_to(self.stop_event, RETRY_SECONDS)
            finally:
                await redis.aclose()

    async def _next(self, redis: Any) -> Entry | None:
        """A run a dead worker left (after the claim timeout), else a new one (waiting up to a second)."""
        entry, claimed = await next_entry(redis, self.keys.training, TRAIN_GROUP, self.name,
                                          int(self.s.claim_timeout_seconds * 1000))
        if entry is not None and claimed:
            log.warning("claimed training run #%s, left by a worker that stopped answering",
                        entry[1].get(b"run", b"?").decode())
        return entry

    async def _take(self, redis: Any, entry: bytes, fields: Fields) -> None:
        done = asyncio.Event()
        renew = asyncio.create_task(self._renew(redis, entry, done))
        try:
            finished = await self._carry(fields)
        except Exception:
            log.exception("training run %s failed on this worker; it is left for a worker to take over",
                          fields.get(b"run", b"?").decode())
            finished = False
        finally:
            done.set()  # not a cancellation: the Redis client may turn one into an error, and this loop goes on
            await renew
            self.state = {}
        if finished:
            await redis.xack(self.keys.training, TRAIN_GROUP, entry)

    async def _renew(self, redis: Any, entry: bytes, done: asyncio.Event) -> None:
        """Thrice per claim timeout, claim the run again, so no other worker takes it while this one trains."""
        while not done.is_set():
            try:
                await redis.xclaim(self.keys.training, TRAIN_GROUP, self.name, 0, [entry], justid=True)
            except (RedisError, OSError) as exc:
                log.debug("training: the claim was not renewed (%s)", exc)
            await wait_up_to(done, min(HEARTBEAT_SECONDS, self.s.claim_timeout_seconds / 3))

    async def _carry(self, fields: Fields) -> bool:
        """One run from the daemon's ticket to its outcome; whether the daemon is done with it (acknowledge)."""
        run_id, task = int(fields[b"run"]), fields[b"task"].decode()
        self.state = {"run": run_id, "task": task, "device": self.device, "phase": "starting"}
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
        tmp = Path(tempfile.mkdtemp(prefix=f"lookout-train-{run_id}-"))
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                link = Link(http, fields[b"url"].decode(), fields[b"ticket"].decode(), self.settings.secrets)
                job = await link.job()
                try:
                    settings = await self._prepare(link, job, tmp)
                except (LinkError, ModelLoadError, TypeError, KeyError) as exc:
                    message = (f"{task}: worker {self.name} could not prepare the run ({exc}); the model in service "
                               "stays")
                    await link.post("done", {"worker": self.name, "device": self.device, "status": "failed",
                                             "message": message})
                    log.error("%s", message)
                    return True
                return await self._train(link, job, settings)
        except Gone:
            log.info("training run #%d of %s: the daemon no longer waits for it; let go", run_id, task)
            return True
        except (LinkError, *UNREACHABLE) as exc:
            log.warning("training run #%d of %s: the daemon cannot be reached or refused (%s: %s); the run is left "
                        "for a worker to take over", run_id, task, type(exc).__name__, exc)
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def _prepare(self, link: Link, job: dict[str, Any], tmp: Path) -> Settings:
        """The run's data fetched and checked, the model in service fetched beside it; the settings to train with."""
        data = tmp / "data.db"
        await link.download(data)
        if await asyncio.to_thread(digest, data) != job["data_sha256"]:
            raise LinkError("the training data fetched does not match its checksum (corrupt in transit)")
        if serving := job["serving"]:
            folder = await fetch(link.base, job["task"], serving["version"], serving["sha256"], self.cache,
                                 self.settings.secrets)
            await asyncio.to_thread(package.relocate, data, job["task"], serving["version"], folder)
        return package.worker_settings(self.settings, job["settings"], data, tmp / "models")

    async def _train(self, link: Link, job: dict[str, Any], settings: Settings) -> bool:
        """Train (on a thread) while relaying progress; send the outcome and the version's files back."""
        run_id, withdrawn = int(job["run"]), threading.Event()

        def on_progress(_: dict[str, Any]) -> None:
            if withdrawn.is_set():
                raise Withdrawn("the run was taken from this worker")

        store = Store(settings.store.path)
        try:
            sent = len(run.notes) if (run := store.run(run_id)) else 0
            training = asyncio.ensure_future(asyncio.to_thread(jobs.execute, store, settings, run_id, on_progress))
            sent, gone = await self._follow(link, store, run_id, training, withdrawn, sent)
            await training
            if withdrawn.is_set():
                log.info("training run #%d stopped on this worker%s", run_id,
                         "" if gone else "; it is left for another worker")
                return gone
            await self._send_back(link, store, job, sent)
            self.runs += 1
            return True
        finally:
            store.close()

    async def _follow(self, link: Link, store: Store, run_id: int, training: asyncio.Future[Any],
                      withdrawn: threading.Event, sent: int) -> tuple[int, bool]:
        """Report the run's progress and new notes at once and every second while it trains; ``(notes sent,
        daemon gone)``."""
        while True:
            run = store.run(run_id)
            progress = run.progress if run else {}
            self.state = {"run": run_id, "task": run.task if run else "", "device": self.device, **progress}
            notes = list(run.notes[sent:]) if run else []
            if run is None or run.status != "running":
                notes = notes[:-1]  # the outcome, which the daemon records itself
            try:
                await link.post("progress", {"worker": self.name, "device": self.device, "progress": progress,
                                             "notes": notes})
                sent += len(notes)
            except Gone:
                withdrawn.set()
                return sent, True
            except (LinkError, *UNREACHABLE) as exc:
                log.warning("training run #%d: progress not reported (%s: %s)", run_id, type(exc).__name__, exc)
            await asyncio.wait({training}, timeout=PROGRESS_SECONDS)
            if self.stop_event.is_set():
                withdrawn.set()
            if training.done() or withdrawn.is_set():
                return sent, False

    async def _send_back(self, link: Link, store: Store, job: dict[str, Any], sent: int) -> None:
        run = store.run(int(job["run"]))
        report: dict[str, Any] = {"worker": self.name, "device": self.device, "status": run.status if run else None,
                                  "message": run.message if run else None,
                                  "notes": list(run.notes[sent:-1]) if run else []}  # the last: the outcome
        if run and run.status == "done":
            version = next(v for v in store.versions(job["task"]) if v.version == job["version"])
            folder = Path(version.path)
            files = await asyncio.to_thread(manifest, folder)
            for name, sha256 in files.items():
                await link.put(folder / name, sha256)
            report.update(files=files, metrics=version.metrics, int8=version.int8)
        status, answer = await link.post("done", report)
        if status == 422:
            log.error("training run #%d: the daemon refused the version: %s", job["run"], answer.get("message"))
        else:
            log.info("training run #%d: %s", job["run"], answer.get("message"))
