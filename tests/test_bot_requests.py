"""What the Slack app takes and refuses at its door: signatures, replays, stale and malformed requests (400 or
401, nothing changed), logs without request bodies, the health endpoint, and `lookout bot` doing the same."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

import aiohttp
import pytest

from bot.server import Refused, SignedRequests
from monitor.store.db import Store
from tests.bot_helpers import SECRET, Bot, Clock, signed
from tests.fake_slack import FakeSlack

FORM = "application/x-www-form-urlencoded"


Headers = Callable[[str | bytes], dict[str, str]]


def without(name: str) -> Headers:
    return lambda body: {k: v for k, v in signed(body).items() if k != name}


def signed_with(**changed: str) -> Headers:
    return lambda body: {**signed(body), **{k.replace("_", "-"): v for k, v in changed.items()}}


MALFORMED: list[tuple[str, str | bytes | None, Headers, int]] = [
    ("wrong secret", None, lambda body: signed(body, secret="wrong-secret"), 401),
    ("stale", None, lambda body: signed(body, age=6 * 60), 401),
    ("no headers", None, lambda _: {"Content-Type": FORM}, 401),
    ("no signature", None, without("X-Slack-Signature"), 401),
    ("no timestamp", None, without("X-Slack-Request-Timestamp"), 401),
    ("timestamp not a number", None, signed_with(X_Slack_Request_Timestamp="soon"), 400),
    ("timestamp not an integer", None, signed_with(X_Slack_Request_Timestamp="1.7e9"), 400),
    ("signature not ASCII", None, signed_with(X_Slack_Signature="v0=\u00e9t\u00e9"), 401),
    ("broken payload JSON", "payload=%7Bnot+json", signed, 400),
    ("broken payload JSON, unsigned", "payload=%7Bnot+json", lambda _: {"Content-Type": FORM}, 401),
    ("payload not an object", "payload=%5B1%2C+2%5D", signed, 400),
    ("broken JSON event", '{"type": "event_callback", "event": ', signed_with(Content_Type="application/json"), 400),
    ("body not UTF-8", b"text=\xff\xfe&command=%2Flookout", signed, 400),
]


@pytest.mark.parametrize(("body", "headers", "status"), [row[1:] for row in MALFORMED],
                         ids=[row[0] for row in MALFORMED])
async def test_forged_stale_and_malformed_requests_get_400_or_401_and_change_nothing(
        bot: Bot, body: str | bytes | None, headers: Headers, status: int) -> None:
    body = bot.command_body(f"label {bot.items[0][:8]} ham") if body is None else body
    answered, answer = await bot.post(body, headers(body))
    assert answered == status and set(answer) == {"error"}
    assert bot.store.corrections() == [] and bot.slack.responses == []


async def test_a_replayed_request_is_refused_and_recorded_once(bot: Bot) -> None:
    body = bot.command_body(f"label {bot.items[0][:8]} ham")
    headers = signed(body)
    status, answer = await bot.post(body, headers)
    assert status == 200 and answer["text"].startswith("Recorded:")
    assert await bot.post(body, headers) == (401, {"error": "a replay of a request already taken"})
    assert len(bot.store.corrections()) == 1


def test_signatures_are_kept_while_they_could_be_replayed_and_no_more_than_capacity_of_them() -> None:
    clock = Clock(1_700_000_000.0)
    requests = SignedRequests(SECRET, clock, capacity=2)

    def check(body: str) -> None:
        requests.check(body, signed(body, age=time.time() - clock.now))

    check("one")
    with pytest.raises(Refused, match="replay") as refused:
        check("one")
    assert refused.value.status == 401
    clock.now += 301
    with pytest.raises(Refused, match="expired"):
        requests.check("one", signed("one", age=time.time() - clock.now + 301))
    check("two")
    assert len(requests) == 1, "the first signature left the window and was forgotten"
    check("three")
    check("four")
    assert len(requests) == 2


async def test_refused_requests_are_logged_without_their_body(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = bot.command_body("retrain")
    assert (await bot.post(body, signed(body, secret="wrong-secret")))[0] == 401
    assert "refused a request to /slack/events from 127.0.0.1: a wrong or expired signature" in caplog.text
    assert quote_plus(bot.slack.response_url) not in caplog.text and "retrain" not in caplog.text


async def test_health_endpoint(bot: Bot) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{bot.url}/healthz") as resp:
        assert resp.status == 200 and await resp.json() == {"ok": True}


async def test_lookout_bot_refuses_replays_and_logs_no_request_body_at_its_default_level(tmp_path: Path,
                                                                                         slack: FakeSlack) -> None:
    from tests.cli import start

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[bot]\nport = {port}\n'
                   f'[slack]\nbase_url = "{slack.base_url}"\n')
    proc = await start("bot", "--config", str(cfg), SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET=SECRET)
    bot = Bot(f"http://127.0.0.1:{port}", Store(tmp_path / "l.db"), slack)
    try:
        async def up() -> bool:
            try:
                async with aiohttp.ClientSession() as http, http.get(f"{bot.url}/healthz") as resp:
                    return resp.status == 200
            except aiohttp.ClientConnectionError:
                return False

        for _ in range(600):
            if proc.returncode is not None or await up():
                break
            await asyncio.sleep(0.1)
        body = bot.command_body("help")
        headers = signed(body)
        status, answer = await bot.post(body, headers)
        assert status == 200 and "/lookout label" in answer["text"]
        assert (await bot.post(body, headers))[0] == 401
        assert (await bot.post(body, signed(body, secret="wrong-secret")))[0] == 401
    finally:
        proc.terminate()
        _, err = await proc.communicate()
        bot.store.close()
    log = err.decode()
    assert "refused a request to /slack/events from 127.0.0.1: a replay of a request already taken" in log
    assert "a wrong or expired signature" in log
    assert quote_plus(slack.response_url) not in log and slack.response_url not in log
