"""The daemon's side of training on a worker (``[workers] train``): a claimed run is queued on the training stream
with a ticket; the worker that takes it fetches the run (``GET /training/<ticket>``) and its training data
(``GET /training/<ticket>/data``: the rows ``package.build`` copies), reports progress (``POST .../progress``, relayed
to the run's notes and Slack thread), uploads the version's files (``PUT .../files/<name>``, each with its SHA-256)
and its outcome (``POST .../done``). The daemon checks every file against the checksums listed and the weights
against the registry's own (``meta.json``), puts the version through the gate (``decide``, on the scores the run
measured) and registers it as a local run would.

One run at a time, as locally. A run no worker took, or whose worker went silent, for ``train_wait_seconds`` fails
with a message saying which; a worker that died is replaced by another after ``claim_timeout_seconds`` (the entry
stays pending on it and is claimed with XAUTOCLAIM), and the run goes on under the same ticket. Every route needs
the bearer token, or an HMAC signature of the path (GET), of the body (POST) or of the path and the file's SHA-256
(PUT)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import StreamReader, web
from redis.typing import EncodableT, FieldT

from models import registry
from models.ladder import COST, ZERO_SHOT
from monitor.config.schema import Settings
from monitor.ingest.webhook import authorized
from monitor.learning.gate import decide
from monitor.learning.runs import models_dir
from monitor.learning.train import remove_unfinished
from monitor.store.db import Store
from monitor.store.learning_rows import Run
from monitor.workers import package
from monitor.workers.files import SHA_HEADER, digest, manifest
from monitor.workers.streams import Keys, RedisError, connect, ensure_groups

log = logging.getLogger(__name__)
DATA = "data.db"
UPLOAD = "upload"
STAGING = ".training"  # under the registry folder: the data of the run queued and the files uploaded


class Refused(ValueError):
    """A worker's outcome the daemon does not register."""


@dataclass
class Queued:
    """The run queued for the workers, and what the daemon knows of it."""

    run: int
    task: str
    version: int
    ticket: str
    folder: Path
    job: dict[str, Any]
    settings: Settings
    heard: float  # monotonic: when it was queued, or last heard of from a worker
    entry: str = ""
    worker: str = ""
    device: str = ""
    redis_error: str = ""
    closing: bool = False


def verdict(store: Store, settings: Settings, task: str, metrics: dict[str, Any]) -> tuple[bool, str]:
    """The gate's decision on the scores a run measured, as ``train_task`` takes it: against the model in service
    the run compared with, a costlier rung having to win by more than the tolerance."""
    try:
        serving = metrics["serving"]
        name = serving["version"]
        rows = [v for v in store.versions(task) if f"v{v.version}" == name]
        if name != ZERO_SHOT and not rows:
            raise Refused(f"it was compared with {name}, which this daemon does not have")
        theirs = ZERO_SHOT if name == ZERO_SHOT else registry.rung(rows[0].metrics)
        return decide(metrics["holdout"], serving["holdout"], metrics["live"], serving["live"],
                      settings.learning.tolerance, costlier=COST[metrics["rung"]] > COST[theirs])
    except (KeyError, TypeError) as exc:
        raise Refused(f"its scores are incomplete ({type(exc).__name__}: {exc})") from None


class RemoteTraining:
    """Training runs carried out by workers (one per daemon, with ``[workers] train``)."""

    def __init__(self, settings: Settings, store: Store, url: str) -> None:
        self.s = settings.workers
        self.keys = Keys.of(self.s)
        self.store = store
        self.url = url
        self.current: Queued | None = None

    async def queue(self, settings: Settings, run: Run) -> None:
        """Queue the claimed ``run`` for the workers: its version number reserved, its data packed (a run that
        cannot be packed fails with the reason)."""
        try:
            await self._queue(settings, run)
        except Exception as exc:
            log.exception("training run #%d cannot be queued for the workers", run.id)
            self.current = None
            await self.store.call(self.store.finish_run, run.id, "failed",
                                  f"{run.task}: the run could not be queued for the workers ({type(exc).__name__}: "
                                  f"{exc}); the model in service stays")

    async def _queue(self, settings: Settings, run: Run) -> None:
        root, task = models_dir(settings), run.task
        version = run.version or registry.next_version(root, task)
        registry.version_dir(root, task, version).mkdir(parents=True, exist_ok=True)
        await self.store.call(self.store.start_run, run.id, version, 0)
        shutil.rmtree(root / STAGING, ignore_errors=True)  # what a run before a restart left
        ticket = uuid.uuid4().hex
        folder = root / STAGING / ticket
        (folder / UPLOAD).mkdir(parents=True)
        await asyncio.to_thread(package.build, self.store.path, folder / DATA, settings, task, run.id)
        serving = (await self.store.read(self.store.serving)).get(task)
        sha256 = ""
        if serving is not None:
            try:
                sha256 = str(registry.read_meta(serving.path).get("sha256", ""))
            except registry.ModelLoadError:
                serving = None  # the worker compares with zero-shot, as a local run does
        job = {"run": run.id, "task": task, "version": version, "settings": package.settings_json(settings),
               "data_sha256": await asyncio.to_thread(digest, folder / DATA),
               "serving": None if serving is None else {"version": serving.version, "sha256": sha256}}
        self.current = Queued(run.id, task, version, ticket, folder, job, settings, time.monotonic())
        await self.store.call(self.store.run_progress, run.id, {"phase": "waiting for a worker", "version": version},
                              f"Waiting for a worker that trains (`lookout worker --train`) to train {task} "
                              f"v{version}.")
        await self._publish(self.current)
        log.info("training run #%d of %s queued for the workers (v%d)", run.id, task, version)

    async def busy(self) -> bool:
        """Whether a run is queued or training; fails the one no worker took, or whose worker went silent, for
        ``train_wait_seconds``."""
        q = self.current
        if q is None:
            return False
        if q.closing:
            return True
        if not q.entry:
            await self._publish(q)
        if time.monotonic() - q.heard > self.s.train_wait_seconds:
            await self._fail(q, self._silence(q))
        return self.current is not None

    def _silence(self, q: Queued) -> str:
        wait = f"{self.s.train_wait_seconds:g} s"
        if q.worker:
            return (f"{q.task}: worker {q.worker} stopped answering while training it (nothing heard for {wait}) and "
                    "no other worker took the run over; the model in service stays")
        if q.redis_error:
            return (f"{q.task}: training run #{q.run} could not be queued for the workers in {wait}: Redis at "
                    f"{self.s.redis_url} is unreachable ({q.redis_error}); the model in service stays")
        return (f"{q.task}: no worker took training run #{q.run} within {wait}: start one with `lookout worker "
                "--train` (or set workers.train = false to train on the daemon's host); the model in service stays")

    async def _publish(self, q: Queued) -> None:
        redis = connect(self.s.redis_url)
        try:
            await ensure_groups(redis, self.keys, training=True)
            fields: dict[FieldT, EncodableT] = {"run": str(q.run), "task": q.task, "ticket": q.ticket, "url": self.url}
            entry = await redis.xadd(self.keys.training, fields, maxlen=self.s.maxlen, approximate=True)
            q.entry = entry.decode() if isinstance(entry, bytes) else str(entry)
            q.redis_error = ""
        except (RedisError, OSError) as exc:
            if not q.redis_error:
                log.warning("training run #%d waits to be queued: Redis at %s is unreachable (%s)", q.run,
                            self.s.redis_url, exc)
            q.redis_error = str(exc) or type(exc).__name__
        finally:
            await redis.aclose()

    async def _withdraw(self, q: Queued) -> None:
        """Drop the run's entry from the stream (a worker that holds it finds the ticket gone and lets it go)."""
        if not q.entry:
            return
        redis = connect(self.s.redis_url)
        try:
            await redis.xdel(self.keys.training, q.entry)
        except (RedisError, OSError) as exc:
            log.debug("training run #%d: its entry stays on the stream (%s)", q.run, exc)
        finally:
            await redis.aclose()

    async def _close(self, q: Queued) -> None:
        self.current = None
        shutil.rmtree(q.folder, ignore_errors=True)
        await self._withdraw(q)

    async def _fail(self, q: Queued, message: str) -> None:
        log.error("%s", message)
        await self.store.call(self.store.finish_run, q.run, "failed", message)
        remove_unfinished(registry.version_dir(models_dir(q.settings), q.task, q.version))
        await self._close(q)

    # what the workers send -----------------------------------------------------------------------------------------
    async def _progress(self, q: Queued, data: dict[str, Any]) -> None:
        worker, device = str(data["worker"]), str(data.get("device", ""))
        q.heard = time.monotonic()
        notes = [str(n) for n in data.get("notes", [])]
        if worker != q.worker:
            took = (f"Worker {worker} took the run over from {q.worker}, which stopped answering." if q.worker
                    else f"Worker {worker} is training it on {device}.")
            log.info("training run #%d of %s: %s", q.run, q.task, took)
            notes.insert(0, took)
            q.worker, q.device = worker, device
        state = {**dict(data.get("progress") or {}), "worker": worker, "device": device}
        for note in notes or [""]:
            await self.store.call(self.store.run_progress, q.run, state, note)

    async def _receive(self, q: Queued, name: str, want: str, body: StreamReader) -> None:
        if not want or name.startswith(".") or Path(name).name != name:
            raise web.HTTPBadRequest(text=f"{name!r}: a plain file name and its {SHA_HEADER} header are needed")
        dest = q.folder / UPLOAD / name
        h = hashlib.sha256()
        with dest.open("wb") as f:
            async for chunk in body.iter_chunked(1 << 20):
                h.update(chunk)
                f.write(chunk)
        if h.hexdigest() != want:
            dest.unlink(missing_ok=True)
            log.warning("training run #%d: refused %s from %s: it does not match its checksum", q.run, name, q.worker)
            raise web.HTTPBadRequest(text=f"{name}: the bytes received do not match the SHA-256 sent with them "
                                          "(corrupt or changed in transit); refused")
        q.heard = time.monotonic()

    def _place(self, q: Queued, files: dict[str, str]) -> Path:
        """The uploaded version, checked (every file against the list, the weights against ``meta.json``), moved
        into the registry."""
        upload = q.folder / UPLOAD
        got = manifest(upload)
        if got != files:
            wrong = sorted(n for n in {*got, *files} if got.get(n) != files.get(n))
            raise Refused(f"the files received do not match the ones listed: {', '.join(wrong)}")
        try:
            meta = registry.checked_meta(upload)
        except registry.ModelLoadError as exc:
            raise Refused(str(exc).replace(str(upload), f"{q.task} v{q.version}")) from None
        if (meta.get("task"), meta.get("version")) != (q.task, q.version):
            raise Refused(f"it is {meta.get('task')} v{meta.get('version')}, not {q.task} v{q.version}")
        folder = registry.version_dir(models_dir(q.settings), q.task, q.version)
        shutil.rmtree(folder, ignore_errors=True)
        upload.rename(folder)
        return folder

    async def _finish(self, q: Queued, data: dict[str, Any]) -> tuple[str, int]:
        """Register what a worker sent back (or record why the run failed there); the message and HTTP status."""
        q.closing = True
        try:
            await self._progress(q, {**data, "progress": {"phase": "registering", "version": q.version}})
            if data.get("status") != "done":
                message = f"{data.get('message') or f'{q.task}: training failed'} (on worker {q.worker})"
                await self._fail(q, message)
                return message, 200
            return await self._register(q, data)
        except Exception as exc:
            if self.current is q:
                log.exception("training run #%d: registering what worker %s sent back failed", q.run, q.worker)
                await self._fail(q, f"{q.task}: registering the version worker {q.worker} sent back failed "
                                    f"({type(exc).__name__}: {exc}); the model in service stays")
            raise

    async def _register(self, q: Queued, data: dict[str, Any]) -> tuple[str, int]:
        try:
            metrics = data["metrics"]
            promote, reason = await self.store.read(verdict, self.store, q.settings, q.task, metrics)
            folder = await asyncio.to_thread(self._place, q, dict(data["files"]))
        except (Refused, KeyError, TypeError, ValueError) as exc:
            message = (f"{q.task}: the version worker {q.worker} sent back was refused, the model in service stays: "
                       f"{exc}")
            await self._fail(q, message)
            return message, 422
        await self.store.call(self.store.add_version, q.task, q.version, str(folder), "candidate", metrics, reason,
                              q.run, bool(data.get("int8")))
        if promote:
            await self.store.call(self.store.promote, q.task, q.version, reason)
        else:
            await self.store.call(self.store.set_version_status, q.task, q.version, "rejected", reason)
        message = (f"{q.task} v{q.version} ({metrics['rung']}) {'promoted' if promote else 'rejected'}: {reason} "
                   f"(trained on worker {q.worker}, {q.device})")
        await self.store.call(self.store.finish_run, q.run, "done", message)
        log.info("training run #%d: %s", q.run, message)
        await self._close(q)
        return message, 200

    def add_routes(self, app: web.Application, secret: str, token: str) -> None:
        """The routes a training worker uses, on the daemon's HTTP server."""

        def allow(request: web.Request, signed: bytes) -> Queued:
            if not authorized(request.headers, signed, secret, token):
                raise web.HTTPUnauthorized(text="bad or missing signature or token")
            q = self.current
            if q is None or q.closing or not hmac.compare_digest(q.ticket, request.match_info["ticket"]):
                raise web.HTTPGone(text="this training run is not waiting for a worker any more (finished, timed "
                                        "out or queued again)")
            return q

        async def body(request: web.Request) -> tuple[Queued, dict[str, Any]]:
            raw = await request.read()
            q = allow(request, raw)
            try:
                return q, json.loads(raw)
            except ValueError:
                raise web.HTTPBadRequest(text="expected a JSON object") from None

        async def job(request: web.Request) -> web.Response:
            return web.json_response(allow(request, request.path.encode()).job)

        async def data(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(allow(request, request.path.encode()).folder / DATA)

        async def progress(request: web.Request) -> web.Response:
            q, sent = await body(request)
            if "worker" not in sent:
                raise web.HTTPBadRequest(text="expected the worker's name")
            await self._progress(q, sent)
            return web.json_response({"ok": True})

        async def upload(request: web.Request) -> web.Response:
            want = request.headers.get(SHA_HEADER, "")
            q = allow(request, f"{request.path}\n{want}".encode())
            await self._receive(q, request.match_info["name"], want, request.content)
            return web.json_response({"ok": True})

        async def done(request: web.Request) -> web.Response:
            q, sent = await body(request)
            if "worker" not in sent:
                raise web.HTTPBadRequest(text="expected the worker's name")
            message, status = await self._finish(q, sent)
            return web.json_response({"message": message}, status=status)

        app.router.add_get("/training/{ticket}", job)
        app.router.add_get("/training/{ticket}/data", data)
        app.router.add_post("/training/{ticket}/progress", progress)
        app.router.add_put("/training/{ticket}/files/{name}", upload)
        app.router.add_post("/training/{ticket}/done", done)
