"""Webhook intake: ``POST /ingest`` takes a JSON item or a list of them, authenticated by HMAC or bearer token.

Bad JSON, a missing field, a bad signature or an oversized body gets a 4xx with the reason and stores nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from monitor.ingest.item import Item, make_id, utcnow

SIGNATURE_HEADER = "X-Lookout-Signature"
FIELDS = {"id", "source", "title", "text", "url", "author", "published", "meta"}
MAX_CHARS = {"id": 1000, "source": 200, "title": 2000, "url": 4000, "author": 500, "published": 64}
MAX_DEPTH = 32
MAX_INT_DIGITS = 20
SURROGATE = re.compile("[\ud800-\udfff]")
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


def _no_constant(name: str) -> None:
    raise IngestError(f"not valid JSON: {name} is not a JSON number")


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise IngestError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise IngestError(f"the number {text[:40]} is out of range")
    return value


def _check_json(value: Any, what: str, depth: int = 0) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and strings (keys too) that hold a lone surrogate: JSON's
    ``\\ud800`` escapes decode to one, and no UTF-8 text (SQLite, Slack) can hold it."""
    if depth > MAX_DEPTH:
        raise IngestError(f"{what} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if SURROGATE.search(value):
            raise IngestError(f"{what} holds a lone surrogate (an unpaired \\ud800-\\udfff escape)")
    elif isinstance(value, dict):
        for key, inner in value.items():
            _check_json(key, what, depth)
            _check_json(inner, what, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            _check_json(inner, what, depth + 1)


def _published(value: str, where: str) -> datetime:
    """An ISO 8601 time as UTC; one without an offset is taken as UTC."""
    try:
        published = datetime.fromisoformat(value)
    except ValueError:
        raise IngestError(f"{where}: 'published' is not an ISO 8601 time") from None
    try:
        return published.astimezone(UTC) if published.tzinfo else published.replace(tzinfo=UTC)
    except OverflowError:
        raise IngestError(f"{where}: 'published' is out of range") from None


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
    for name, limit in MAX_CHARS.items():
        if name in row and not isinstance(row[name], str):
            raise IngestError(f"{where}: {name!r} must be a string")
        if len(row.get(name, "")) > limit:
            raise IngestError(f"{where}: {name!r} is longer than {limit} characters")
    if "meta" in row and not isinstance(row["meta"], dict):
        raise IngestError(f"{where}: 'meta' must be a JSON object")
    for name, value in row.items():
        _check_json(value, f"{where}: {name!r}")
    published = _published(row["published"], where) if row.get("published") else None
    source = row.get("source") or "webhook"
    key = row.get("id") or hashlib.sha256(f"{row.get('title', '')}\x00{text}\x00{row.get('url', '')}".encode()
                                          ).hexdigest()
    return Item(id=make_id(source, key), source=source, title=row.get("title", ""), text=text,
                url=row.get("url", ""), author=row.get("author", ""), published=published, fetched=utcnow(),
                raw={"id": row.get("id", ""), "meta": row.get("meta", {})})


def parse_payload(body: bytes) -> list[Item]:
    """Items from a JSON object or list of objects; every item is checked before any is accepted."""
    try:
        data = json.loads(body, parse_int=_int, parse_float=_float, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise IngestError(f"not valid JSON: nested deeper than {MAX_DEPTH} levels") from None
    rows = data if isinstance(data, list) else [data]
    if not rows:
        raise IngestError("empty list: nothing to store")
    return [_item(row, n) for n, row in enumerate(rows)]


def make_app(ingest: Ingest, secret: str, token: str, max_bytes: int,
             health: Callable[[], dict[str, Any]] | None = None) -> web.Application:
    """The daemon's HTTP face: ``POST /ingest`` and ``GET /healthz`` (``ok``, and what ``health`` adds). A body is
    read whole (chunked too) but refused as soon as it passes ``max_bytes``; it is parsed in a thread, so a large
    one does not hold the loop."""

    def too_big() -> web.Response:
        return web.json_response({"ok": False, "error": f"body larger than {max_bytes} bytes"}, status=413)

    async def ingest_handler(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > max_bytes:
            return too_big()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return too_big()
        if len(body) > max_bytes:  # aiohttp versions differ on whether client_max_size itself passes
            return too_big()
        if not authorized(request.headers, body, secret, token):
            return web.json_response({"ok": False, "error": "bad or missing signature or token"}, status=401)
        try:
            items = await asyncio.to_thread(parse_payload, body)
        except IngestError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        stored = await ingest(items)
        return web.json_response({"ok": True, "received": len(items), "stored": stored}, status=202)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, **(health() if health else {})})

    app = web.Application(client_max_size=max_bytes + 1)  # request.read() stops soon after a body passes max_bytes
    app.router.add_post("/ingest", ingest_handler)
    app.router.add_get("/healthz", healthz)
    return app
