"""Driving the Slack app as Slack does: signed requests (commands, actions, modal submissions, events) into the real
Bolt app served on 127.0.0.1, answering through the recording fake Slack; and the settings those tests share."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.app import build_app
from bot.notifier import slack_client
from bot.server import make_web_app
from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.store.db import Store
from tests.daemon_helpers import run
from tests.fake_slack import FakeSlack
from tests.servers import sample_rows, serve

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TASKS = """
[[tasks]]
name = "spam"
  [[tasks.labels]]
  name = "spam"
  [[tasks.labels]]
  name = "ham"
"""


def signed(body: str | bytes, secret: str = SECRET, age: float = 0.0) -> dict[str, str]:
    ts = str(int(time.time() - age))
    raw = body if isinstance(body, bytes) else body.encode()
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}


def trigger_id() -> str:
    """A fresh trigger id, as Slack puts in every command and interaction (so no two bodies are the same)."""
    return f"{time.time_ns()}.1.2"


class Bot:
    """The app on a free port, plus the store it reads and the fake Slack it answers through."""

    def __init__(self, url: str, store: Store, slack: FakeSlack) -> None:
        self.url, self.store, self.slack = url, store, slack
        self.items = [r["id"] for r in store.db.query("select id from items order by rowid")]

    async def post(self, body: str | bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.url}/slack/events", data=body, headers=signed(body) if headers is None else headers) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text.startswith("{") else text

    def command_body(self, text: str, user: str = "U0ADA") -> str:
        return urlencode({
            "token": "legacy", "team_id": "T0TEST", "channel_id": "C0ALERTS", "user_id": user,
            "command": "/lookout", "text": text, "api_app_id": "A0APP", "response_url": self.slack.response_url,
            "trigger_id": trigger_id()})

    async def command(self, text: str, user: str = "U0ADA") -> tuple[int, Any]:
        return await self.post(self.command_body(text, user))

    async def action(self, action: dict[str, Any], blocks: list[dict[str, Any]], user: str = "U0ADA"
                     ) -> tuple[int, Any]:
        payload = {"type": "block_actions", "user": {"id": user, "team_id": "T0TEST"},
                   "team": {"id": "T0TEST"}, "api_app_id": "A0APP", "channel": {"id": "C0ALERTS"},
                   "container": {"type": "message", "message_ts": "1700000001.000100", "channel_id": "C0ALERTS"},
                   "message": {"ts": "1700000001.000100", "text": "[spam-wave] alert", "blocks": blocks},
                   "response_url": self.slack.response_url, "trigger_id": trigger_id(), "actions": [action]}
        return await self.post(urlencode({"payload": json.dumps(payload)}))

    async def submit(self, callback: str, metadata: str, values: dict[str, str], user: str = "U0ADA"
                     ) -> tuple[int, Any]:
        """Submit a modal (``view_submission``) with the text inputs ``values`` (block id -> text)."""
        payload = {"type": "view_submission", "team": {"id": "T0TEST"}, "user": {"id": user},
                   "api_app_id": "A0APP", "trigger_id": trigger_id(),
                   "view": {"id": "V1", "type": "modal", "callback_id": callback, "private_metadata": metadata,
                            "state": {"values": {k: {"value": {"type": "plain_text_input", "value": v}}
                                                 for k, v in values.items()}}}}
        return await self.post(urlencode({"payload": json.dumps(payload)}))


@contextlib.asynccontextmanager
async def served(settings: Settings, store: Store, slack: FakeSlack, clock: Callable[[], float] = time.monotonic,
                 encode: Callable[[], Any] = lambda: None) -> AsyncIterator[Bot]:
    """The app for ``settings`` served on a free port for the length of a ``with`` block."""
    app = build_app(settings, store, slack_client("xoxb-test-token", slack.base_url), encode, clock)
    runner, port = await serve(make_web_app(app, SECRET))
    try:
        yield Bot(f"http://127.0.0.1:{port}", store, slack)
    finally:
        await runner.cleanup()


def bot_settings(tmp_path: Path, extra: str = "") -> Settings:
    """Settings from ``l.toml`` in ``tmp_path``: a store ``l.db`` there, ``extra``, then TASKS."""
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n{extra}{TASKS}')
    return load_settings(cfg, env={})


@contextlib.asynccontextmanager
async def replayed(tmp_path: Path, tiny_model: str, slack: FakeSlack) -> AsyncIterator[Bot]:
    """The app served over a store that the daemon filled from a replay of 8 sample rows, with the tiny model (the
    ``bot`` fixture of conftest.py)."""
    data = tmp_path / "s.jsonl"
    undated = [{k: v for k, v in r.items() if k != "timestamp"} for r in sample_rows(8)]  # they happen as they arrive
    data.write_text("".join(json.dumps(r) + "\n" for r in undated))
    settings = bot_settings(tmp_path, f'[model]\nembedding = "{tiny_model}"\n'
                                      f'[[replays]]\nname = "list"\npath = "{data}"\n')
    encoder = Encoder(tiny_model)
    await run(settings, encoder, [])
    store = Store(settings.store.path)
    async with served(settings, store, slack, encode=lambda: encoder.encode) as bot:
        yield bot
    store.close()


def event_body(event: dict[str, Any]) -> str:
    return json.dumps({"token": "legacy", "team_id": "T0TEST", "api_app_id": "A0APP", "type": "event_callback",
                       "event_id": f"Ev{time.time_ns()}", "event_time": int(time.time()), "event": event})


class Clock:
    """A clock the test moves by hand (``time.monotonic`` counts from the host's boot)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def strict_settings(channels: tuple[str, ...] = ("C0LOOKOUT",)) -> Settings:
    """One admin (U0BOSS) and one channel: U0ADA, who sends the tests' requests, is neither admin nor member."""
    settings = load_settings(None, env={})
    return dataclasses.replace(settings, tasks=load_settings_tasks(), bot=dataclasses.replace(
        settings.bot, admins=("U0BOSS",), channels=channels))


def load_settings_tasks() -> tuple:
    path = Path(tempfile.mkdtemp()) / "t.toml"
    path.write_text(TASKS)
    return load_settings(path, env={}).tasks
