"""Events into the Slack app: mentions and direct messages answered in their thread, App Home opened, and
Socket Mode envelopes answered across a dropped connection."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot.app import build_app
from bot.notifier import slack_client
from monitor.config.load import load_settings
from tests.bot_helpers import Bot, event_body, load_settings_tasks, signed
from tests.fake_slack import FakeSlack
from tests.servers import wait_for


async def test_a_mention_gets_an_answer_in_its_thread_and_nonsense_gets_help(bot: Bot) -> None:
    body = event_body({"type": "app_mention", "user": "U0ADA", "text": "<@U0BOT> anything about mortgage?",
                       "ts": "1700000002.000200", "channel": "C0ALERTS"})
    headers = {**signed(body), "Content-Type": "application/json"}
    assert (await bot.post(body, headers))[0] == 200
    await wait_for(lambda: bot.slack.calls["chat.postMessage"])
    [answer] = bot.slack.calls["chat.postMessage"]
    assert answer["thread_ts"] == "1700000002.000200" and answer["text"].startswith("*Nearest to* “mortgage”")
    body = event_body({"type": "message", "channel_type": "im", "user": "U0ADA", "text": "sing a song",
                       "ts": "1700000003.000300", "channel": "D0ADA"})
    await bot.post(body, {**signed(body), "Content-Type": "application/json"})
    await wait_for(lambda: len(bot.slack.calls["chat.postMessage"]) == 2)
    assert bot.slack.calls["chat.postMessage"][1]["text"].startswith("I didn't catch that.")


async def test_opening_app_home_publishes_the_dashboard(bot: Bot) -> None:
    await bot.command(f"label {bot.items[0][:8]} ham")
    body = event_body({"type": "app_home_opened", "user": "U0ADA", "channel": "D0ADA", "tab": "home"})
    assert (await bot.post(body, {**signed(body), "Content-Type": "application/json"}))[0] == 200
    await wait_for(lambda: bot.slack.calls["views.publish"])
    [published] = bot.slack.calls["views.publish"]
    view = published["view"] if isinstance(published["view"], dict) else json.loads(published["view"])
    text = json.dumps(view)
    assert published["user_id"] == "U0ADA" and view["type"] == "home"
    assert "*8* items" in text and "`spam`: zero-shot; 1 correction since the last training run" in text
    assert "Recent alerts" in text and len(view["blocks"]) <= 100


async def test_socket_mode_answers_envelopes_and_reconnects_after_a_drop(bot: Bot, slack: FakeSlack) -> None:
    settings = load_settings(None, env={})
    app = build_app(dataclasses.replace(settings, tasks=load_settings_tasks()), bot.store,
                    slack_client("xoxb-test-token", slack.base_url), lambda: None)
    handler = AsyncSocketModeHandler(app, "xapp-test-token", web_client=slack_client("xoxb-test-token",
                                                                                     slack.base_url))
    handler.client.ping_interval = 1
    await handler.connect_async()
    await wait_for(lambda: slack.socket_connections == 1)

    def envelope(n: int, text: str) -> dict[str, Any]:
        return {"envelope_id": f"env-{n}", "type": "slash_commands", "accepts_response_payload": True,
                "payload": {"token": "legacy", "team_id": "T0TEST", "channel_id": "C0ALERTS", "user_id": "U0ADA",
                            "command": "/lookout", "text": text, "api_app_id": "A0APP",
                            "response_url": slack.response_url, "trigger_id": "1.2.3"}}

    slack.envelopes.put_nowait(envelope(1, "help"))
    await wait_for(lambda: slack.acks)
    assert slack.acks[0]["envelope_id"] == "env-1" and "/lookout label" in slack.acks[0]["payload"]["text"]
    slack.envelopes.put_nowait(None)
    await wait_for(lambda: slack.socket_connections == 2)
    slack.envelopes.put_nowait(envelope(2, "status"))
    await wait_for(lambda: len(slack.acks) == 2)
    assert slack.acks[1]["envelope_id"] == "env-2" and slack.acks[1]["payload"]["text"].startswith("*8* items")
    await handler.close_async()
