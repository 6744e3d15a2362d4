"""Webhook intake: ``POST /ingest`` takes a JSON item or a list of them, authenticated by HMAC or bearer token.

Bad JSON, a missing field, a bad signature or an oversized body gets a 4xx with the reason and stores nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from monitor.item import Item, make_id, utcnow

SIGNATURE_HEADER = "X-Lookout-Signature"
FIELDS = {"id", "source", "title", "text", "url", "author", "published", "meta"}
Ingest = Callable[[list[Item]], Awaitable[int]]


class IngestError(ValueError):
    """A payload that cannot be stored; the message says why."""


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def authorized(headers: Any, body: bytes, secret: str, token: str) -> bool:
    """True when the request carries a valid HMAC signature or the bearer token (constant-time comparisons)."""
    if secret and hmac.compare_digest(headers.get(SIGNATURE_HEADER, ""), sign(secret, body)):
        return True
    return bool(token) and hmac.compare_digest(headers.get("Authorization", ""), f"Bearer {token}")


def _item(row: Any, n: int) -> Item:
    where = f"item {n}"
    if not isinstance(row, dict):
        raise IngestError(f"{where}: expected a JSON object")
    unknown = sorted(set(row) - FIELDS)
    if unknown:
        raise IngestError(f"{where}: unknown field {unknown[0]!r}; expected some of {', '.join(sorted(FIELDS))}")
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise IngestError(f"{where}: missing 'text' (a non-empty string)")
    for name in ("id", "source", "title", "url", "author", "published"):
        if name in row and not isinstance(row[name], str):
            raise IngestError(f"{where}: {name!r} must be a string")
    published = None
    if row.get("published"):
        try:
            published = datetime.fromisoformat(row["published"])
        except ValueError:
            raise IngestError(f"{where}: 'published' is not an ISO 8601 time") from None
    source = row.get("source") or "webhook"
    key = row.get("id") or hashlib.sha256(f"{row.get('title', '')}\x00{text}\x00{row.get('url', '')}".encode()
                                          ).hexdigest()
    return Item(id=make_id(source, key), source=source, title=row.get("title", ""), text=text,
                url=row.get("url", ""), author=row.get("author", ""), published=published, fetched=utcnow(),
                raw={"id": row.get("id", ""), "meta": row.get("meta", {})})


def parse_payload(body: bytes) -> list[Item]:
    """Items from a JSON object or list of objects; every item is checked before any is accepted."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"not valid JSON: {exc}") from None
    rows = data if isinstance(data, list) else [data]
    if not rows:
        raise IngestError("empty list: nothing to store")
    return [_item(row, n) for n, row in enumerate(rows)]


def make_app(ingest: Ingest, secret: str, token: str, max_bytes: int) -> web.Application:
    """The daemon's HTTP face: ``POST /ingest`` and ``GET /healthz``."""

    async def ingest_handler(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > max_bytes:
            return web.json_response({"ok": False, "error": f"body larger than {max_bytes} bytes"}, status=413)
        body = await request.content.read(max_bytes + 1)
        if len(body) > max_bytes:
            return web.json_response({"ok": False, "error": f"body larger than {max_bytes} bytes"}, status=413)
        if not authorized(request.headers, body, secret, token):
            return web.json_response({"ok": False, "error": "bad or missing signature or token"}, status=401)
        try:
            items = parse_payload(body)
        except IngestError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        stored = await ingest(items)
        return web.json_response({"ok": True, "received": len(items), "stored": stored}, status=202)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=max_bytes + 1024)
    app.router.add_post("/ingest", ingest_handler)
    app.router.add_get("/healthz", health)
    return app
