"""A recording fake of the Slack Web API on 127.0.0.1: real HTTP, Slack-shaped JSON, Socket Mode, response_url and
file uploads; it refuses what Slack refuses (``tests.slack_limits``)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.servers import serve
from tests.slack_limits import METHOD_SCOPES, block_errors, manifest_scopes, view_errors


@dataclass
class FakeSlack:
    """A recording fake of the Slack Web API: real HTTP, Slack-shaped JSON, 429s on demand. With ``stall_after``
    set, each ``chat.postMessage`` after that many is recorded, then left unanswered until ``unstall`` is set.

    Like Slack, it refuses a method it does not know (``unknown_method``), a call whose scope the bot token lacks
    (``missing_scope``; ``scopes`` defaults to the manifest's, and every answer carries them in ``x-oauth-scopes``),
    a post to a channel the bot is not in (``joined``, when set) without ``chat:write.public``, and blocks over
    Block Kit's limits (``invalid_blocks``). ``users.info`` says who is a workspace admin or owner."""

    calls: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    rate_limit_next: int = 0
    retry_after: int = 1
    unknown_channels: set[str] = field(default_factory=set)
    port: int = 0
    _runner: web.AppRunner | None = None
    ratelimited: int = 0
    responses: list[dict[str, Any]] = field(default_factory=list)
    envelopes: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    acks: list[dict[str, Any]] = field(default_factory=list)
    socket_connections: int = 0
    members: dict[str, list[str]] = field(default_factory=dict)
    failing: dict[str, str] = field(default_factory=dict)
    """method -> the error Slack answers it with (``{"ok": false, "error": ...}``)"""
    uploads: dict[str, bytes] = field(default_factory=dict)
    stall_after: int = -1
    stalled: int = 0
    unstall: asyncio.Event = field(default_factory=asyncio.Event)
    scopes: frozenset[str] = field(default_factory=manifest_scopes)
    joined: set[str] | None = None
    """the channels the bot is in; None: every one"""
    workspace_admins: set[str] = field(default_factory=lambda: {"U0ADA"})
    workspace_owners: set[str] = field(default_factory=set)
    channel_ids: dict[str, str] = field(default_factory=dict)
    """channel as posted to -> the id chat.postMessage answers with (``C0TEST`` for any other)"""
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(channel id, ts) -> the message as last posted or updated, which ``reactions.get`` answers with"""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def _refusal(self, method: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """What Slack answers a bot-token call it will not carry out, or None."""
        if method not in METHOD_SCOPES:
            return {"ok": False, "error": "unknown_method"}
        needed = METHOD_SCOPES[method]
        if needed and needed not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(sorted(self.scopes))}
        channel = payload.get("channel", "")
        if method == "chat.postMessage" and self.joined is not None and channel not in self.joined \
                and "chat:write.public" not in self.scopes:
            return {"ok": False, "error": "not_in_channel"}
        view = payload.get("view")
        errors = view_errors(view) if view else block_errors(payload.get("blocks") or [])
        return {"ok": False, "error": "invalid_blocks", "errors": errors} if errors else None

    def _user(self, user: str) -> dict[str, Any]:
        """``users.info``'s answer for ``user``: every U-id exists, as a plain member unless made admin or owner."""
        if not user.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        owner = user in self.workspace_owners
        return {"ok": True, "user": {"id": user, "team_id": "T0TEST", "name": user.lower(), "deleted": False,
                                     "is_bot": False, "is_admin": owner or user in self.workspace_admins,
                                     "is_owner": owner, "is_primary_owner": False, "is_restricted": False}}

    @web.middleware
    async def _scopes_header(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if request.path.startswith("/api/"):
            app_token = request.headers.get("Authorization", "").startswith("Bearer xapp-")
            response.headers["x-oauth-scopes"] = "connections:write" if app_token else ",".join(sorted(self.scopes))
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method == "GET":
            payload = dict(request.query)
        elif request.content_type == "application/json":
            payload = {**request.query, **await request.json()}
        else:
            payload = {**request.query, **await request.post()}
        token = "xapp-test-token" if method == "apps.connections.open" else "xoxb-test-token"
        if request.headers.get("Authorization", "") != f"Bearer {token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            self.ratelimited += 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(self.retry_after)})
        self.calls[method].append(payload)
        if method in self.failing:
            return web.json_response({"ok": False, "error": self.failing[method]})
        refused = None if method == "apps.connections.open" else self._refusal(method, payload)
        if refused:
            return web.json_response(refused)
        if method == "users.info":
            return web.json_response(self._user(str(payload.get("user", ""))))
        if method == "conversations.members":
            return web.json_response({"ok": True, "members": self.members.get(payload.get("channel", ""), []),
                                      "response_metadata": {"next_cursor": ""}})
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"})
        if method == "auth.test":
            return web.json_response({"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "lookout",
                                      "team_id": "T0TEST", "user_id": "U0BOT", "bot_id": "B0BOT"})
        if method == "files.getUploadURLExternal":
            file_id = f"F{len(self.calls[method]):08d}"
            return web.json_response({"ok": True, "file_id": file_id,
                                      "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"})
        if method == "files.completeUploadExternal":
            files = json.loads(payload["files"]) if isinstance(payload.get("files"), str) else payload["files"]
            return web.json_response({"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")}
                                                            for f in files]})
        if method == "chat.postMessage":
            if payload.get("channel") in self.unknown_channels:
                return web.json_response({"ok": False, "error": "channel_not_found"})
            if 0 <= self.stall_after < len(self.calls[method]):
                self.stalled += 1
                await self.unstall.wait()
            ts = f"{1700000000 + len(self.calls[method])}.000100"
            channel = self.channel_ids.get(str(payload.get("channel")), "C0TEST")
            self.messages[channel, ts] = {"type": "message", "ts": ts, "text": payload.get("text", ""),
                                          "blocks": payload.get("blocks", [])}
            return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": {"text": payload.get(
                "text", ""), "ts": ts}})
        return self._message_call(method, payload)

    def _message_call(self, method: str, payload: dict[str, Any]) -> web.Response:
        """chat.update changes a posted message, reactions.get answers with it (``message_not_found`` for one never
        posted), chat.postEphemeral with a ``message_ts``."""
        key = (str(payload.get("channel")), str(payload.get("ts") or payload.get("timestamp")))
        if method == "reactions.get" and key not in self.messages:
            return web.json_response({"ok": False, "error": "message_not_found"})
        if method == "chat.update":
            if key in self.messages:
                self.messages[key] = {**self.messages[key], "text": payload.get("text", ""),
                                      "blocks": payload.get("blocks", [])}
            return web.json_response({"ok": True, "channel": key[0], "ts": key[1], "text": payload.get("text", "")})
        if method == "reactions.get":
            return web.json_response({"ok": True, "type": "message", "channel": key[0],
                                      "message": self.messages[key]})
        if method == "chat.postEphemeral":
            return web.json_response({"ok": True, "message_ts": f"{1800000000 + len(self.calls[method])}.000200"})
        return web.json_response({"ok": True})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: hello, then the queued envelopes; ``None`` in the queue drops the connection."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket_connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP"},
                            "debug_info": {"host": "fake", "approximate_connection_time": 3600}})

        async def read_acks() -> None:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self.acks.append(json.loads(message.data))

        reader = asyncio.create_task(read_acks())
        while True:
            getter = asyncio.create_task(self.envelopes.get())
            await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            if (envelope := getter.result()) is None:
                break
            await ws.send_json(envelope)
        reader.cancel()
        await ws.close()
        return ws

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL handed out by files.getUploadURLExternal: keeps the bytes."""
        self.uploads[request.match_info["id"]] = await request.read()
        return web.Response(text="OK - uploaded")

    async def _response_url(self, request: web.Request) -> web.Response:
        """response_url: takes a reply, refusing blocks over Block Kit's limits as Slack does."""
        reply = await request.json()
        if block_errors(reply.get("blocks") or []):
            return web.Response(status=400, text="invalid_blocks")
        self.responses.append(reply)
        return web.Response(text="ok")

    @property
    def response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response/1"

    async def start(self) -> FakeSlack:
        app = web.Application(middlewares=[self._scopes_header])
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/api/{method}", self._handle)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_post("/upload/{id}", self._upload)
        app.router.add_get("/link", self._socket)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
