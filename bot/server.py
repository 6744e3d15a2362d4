"""Serves the Slack app over HTTP with aiohttp: ``POST /slack/events`` (events, commands, actions) and
``GET /healthz``. Every request is authenticated here, before Bolt parses it: Slack's signature over the raw body,
a timestamp within five minutes, and no second request with a signature already seen in that window."""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import Clock, SignatureVerifier

log = logging.getLogger(__name__)
WINDOW = 300


class Refused(Exception):
    """A request that does not reach the app: ``status`` (400 malformed, 401 not authentic) and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now  # type: ignore[method-assign]


class SignedRequests:
    """Slack's request signing, with replays refused: each accepted signature is kept until its timestamp leaves
    the five-minute window (at most ``capacity`` of them; past that the oldest are forgotten first)."""

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time, capacity: int = 20_000) -> None:
        self.verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))
        self.clock = clock
        self.capacity = capacity
        self._seen: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        """How many signatures are kept."""
        return len(self._seen)

    def check(self, body: str, headers: Mapping[str, str]) -> None:
        """Raise ``Refused`` unless ``body`` is signed by Slack, fresh, and not seen before."""
        timestamp, signature = headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
        if not timestamp or not signature or not signature.isascii():
            raise Refused(401, "no Slack signature")
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise Refused(400, "the timestamp is not a number")
        if not self.verifier.is_valid(body, timestamp, signature):
            raise Refused(401, "a wrong or expired signature")
        now = self.clock()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if signature in self._seen:
            raise Refused(401, "a replay of a request already taken")
        self._seen[signature] = int(timestamp) + WINDOW
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


def text_of(body: bytes) -> str:
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise Refused(400, "a body that is not UTF-8") from exc


def bolt_request(text: str, request: web.Request) -> AsyncBoltRequest:
    """The Bolt request for an authenticated body: JSON, a form with a JSON ``payload`` field, or a plain form (a
    slash command). Raises ``Refused`` (400) when the JSON is broken or not an object. Bolt is handed the parsed
    object as JSON, since its own parser empties any form that merely contains the word "payload"."""
    try:
        if request.content_type == "application/json" or text.startswith("{"):
            parsed = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            parsed = json.loads(form["payload"]) if "payload" in form else form
    except ValueError as exc:
        raise Refused(400, "broken JSON") from exc
    if not isinstance(parsed, dict):
        raise Refused(400, "a body that is not a JSON object")
    return AsyncBoltRequest(body=json.dumps(parsed), query=request.query_string,
                            headers=request.headers)  # type: ignore[arg-type]


def make_web_app(app: AsyncApp, signing_secret: str, clock: Callable[[], float] = time.time) -> web.Application:
    """The aiohttp application serving ``app``; ``clock`` (wall time) judges request timestamps."""
    signed = SignedRequests(signing_secret, clock)

    async def events(request: web.Request) -> web.Response:
        try:
            text = text_of(await request.read())
            signed.check(text, request.headers)
            bolt = bolt_request(text, request)
        except Refused as exc:
            log.info("refused a request to /slack/events from %s: %s", request.remote, exc)
            return web.json_response({"error": str(exc)}, status=exc.status)
        return await to_aiohttp_response(await app.async_dispatch(bolt))

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", health)
    return web_app
