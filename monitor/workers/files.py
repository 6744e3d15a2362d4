"""Model versions over HTTP, so a worker needs nothing of the daemon's filesystem: the daemon serves a version's
files (``GET /models/<task>/<version>`` lists them with their SHA-256, ``GET /models/<task>/<version>/<file>``
sends one), and a worker fetches them into its cache and checks every checksum before it loads the version.

Both routes need what ``POST /ingest`` needs: the bearer token, or an HMAC signature of the request path."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from models.registry import META, ModelLoadError, checked_meta
from monitor.ingest.webhook import SIGNATURE_HEADER, authorized, sign
from monitor.store.db import Store

if TYPE_CHECKING:
    from monitor.workers.training import RemoteTraining

log = logging.getLogger(__name__)
FETCH_TIMEOUT_SECONDS = 300.0
SHA_HEADER = "X-Lookout-SHA256"  # the SHA-256 of a file a worker uploads


def digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def manifest(folder: Path) -> dict[str, str]:
    """Every file of a version folder with its SHA-256 (``meta.json`` last, as it is written last)."""
    files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: (p.name == META, p.name))
    return {p.name: digest(p) for p in files}


def add_routes(app: web.Application, store: Store, secret: str, token: str,
               training: RemoteTraining | None = None) -> None:
    """Serve the registered versions' files on the daemon's HTTP server (and, with ``training``, what workers
    that train need: the runs' data, their progress and the versions they send back)."""
    if training is not None:
        training.add_routes(app, secret, token)

    async def folder(request: web.Request) -> Path:
        if not authorized(request.headers, request.path.encode(), secret, token):
            raise web.HTTPUnauthorized(text="bad or missing signature or token")
        task, version = request.match_info["task"], int(request.match_info["version"])
        rows = await store.read(store.versions, task)
        row = next((r for r in rows if r.version == version), None)
        if row is None or not Path(row.path).is_dir():
            raise web.HTTPNotFound(text=f"no version {version} of task {task!r}")
        return Path(row.path)

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"files": await asyncio.to_thread(manifest, await folder(request))})

    async def one_file(request: web.Request) -> web.StreamResponse:
        root = await folder(request)
        name = request.match_info["name"]
        if name not in {p.name for p in root.iterdir() if p.is_file()}:
            raise web.HTTPNotFound(text=f"no file {name!r} in that version")
        return web.FileResponse(root / name)

    app.router.add_get(r"/models/{task}/{version:\d+}", listing)
    app.router.add_get(r"/models/{task}/{version:\d+}/{name}", one_file)


def auth_headers(path: str, secrets: Mapping[str, str], signed: bytes | None = None) -> dict[str, str]:
    """The headers that let a worker in: the bearer token if it has one, else ``signed`` (by default the path)
    signed with the secret."""
    if token := secrets.get("LOOKOUT_WEBHOOK_TOKEN"):
        return {"Authorization": f"Bearer {token}"}
    if secret := secrets.get("LOOKOUT_WEBHOOK_SECRET"):
        return {SIGNATURE_HEADER: sign(secret, path.encode() if signed is None else signed)}
    return {}


async def _get(http: aiohttp.ClientSession, base: str, path: str, secrets: Mapping[str, str]) -> bytes:
    async with http.get(base.rstrip("/") + path, headers=auth_headers(path, secrets)) as resp:
        if resp.status != 200:
            raise ModelLoadError(f"{base}{path}: HTTP {resp.status} {(await resp.text())[:200]}")
        return await resp.read()


async def fetch(base: str, task: str, version: int, sha256: str, cache: Path, secrets: Mapping[str, str]) -> Path:
    """Fetch a version into ``cache/<task>/v<version>`` (kept when already there and sound) and check it: every
    file against the daemon's list, the weights against ``sha256`` (the announced checksum) and ``meta.json``.
    Raises ``ModelLoadError`` with the reason."""
    dest = cache / task / f"v{version}"
    if dest.is_dir() and _sound(dest, sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".v{version}-"))
    try:
        await _download(base, task, version, tmp, secrets)
        if not _sound(tmp, sha256):
            raise ModelLoadError(f"{task} v{version}: the weights fetched are not the ones announced (checksum)")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


async def _download(base: str, task: str, version: int, into: Path, secrets: Mapping[str, str]) -> None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)) as http:
            listed = json.loads(await _get(http, base, f"/models/{task}/{version}", secrets))["files"]
            for name, want in listed.items():
                if Path(name).name != name or name.startswith("."):
                    raise ModelLoadError(f"{base}: the file name {name!r} of {task} v{version} is not plain")
                body = await _get(http, base, f"/models/{task}/{version}/{name}", secrets)
                if hashlib.sha256(body).hexdigest() != want:
                    raise ModelLoadError(f"{task} v{version}: {name} does not match its checksum (corrupt in transit)")
                (into / name).write_bytes(body)
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{base}: cannot fetch {task} v{version}: {type(exc).__name__}: {exc}") from exc


def _sound(folder: Path, sha256: str) -> bool:
    try:
        return checked_meta(folder).get("sha256") == sha256
    except ModelLoadError:
        return False
