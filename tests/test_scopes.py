"""The app's manifests ask for exactly the scopes and events the code needs: derived from the Web API calls and Bolt
listeners in bot/ and monitor/ (each method's scope from Slack's docs, in ``tests.slack_limits``). The fake Slack
refuses a call whose scope the token lacks, as Slack does, so every Slack test also proves the manifest enough."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.notifier import SlackNotifier
from monitor.daemon.notify import DeliveryError
from monitor.reports.digest import Digest
from tests.fake_slack import FakeSlack
from tests.slack_limits import EVENT_SCOPES, METHOD_SCOPES, ROOT, manifest_scopes

MANIFESTS = sorted(ROOT.glob("slack-manifest*.yml"))
SOURCES = sorted(p for folder in ("bot", "monitor") for p in (ROOT / folder).rglob("*.py"))
SDK_METHODS = {name for name in dir(AsyncWebClient) if not name.startswith("_") and "_" in name}
HELPERS = {"files_upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal")}
"""SDK helpers that call several Web API methods (read from slack_sdk's source)."""
ALSO = {"chat.postMessage": ("chat:write.public", "alerts go to the channels rules name, which the bot may not be in"),
        "conversations.members": ("groups:read", "bot.channels may be private channels")}
BOLT_EVENTS = {"message": "message.im"}
"""Bolt event -> the subscription it needs (Lookout answers direct messages only)."""
PLANNED_EVENTS = {"reaction_added"}
"""Subscribed for the reactions feature in progress; drop from here once a listener takes it."""


def web_api_methods() -> set[str]:
    """Every Web API method bot/ and monitor/ call, through the SDK client or Bolt's ``say``."""
    found: set[str] = set()
    for path in SOURCES:
        source = path.read_text(encoding="utf-8")
        for name in re.findall(r"\.([a-z]+_\w+)\(", source):
            if name in SDK_METHODS:
                found |= set(HELPERS.get(name, (name.replace("_", "."),)))
        if re.search(r"\bawait say\(", source):
            found.add("chat.postMessage")
    return found


def listened_events() -> set[str]:
    events = {e for path in SOURCES for e in re.findall(r'@app\.event\("(\w+)"\)', path.read_text(encoding="utf-8"))}
    return {BOLT_EVENTS.get(e, e) for e in events}


def needed_scopes() -> set[str]:
    methods = web_api_methods()
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"add {sorted(unknown)} with its scope from api.slack.com/methods to METHOD_SCOPES"
    scopes = {METHOD_SCOPES[m] for m in methods} | {ALSO[m][0] for m in methods if m in ALSO}
    scopes |= {EVENT_SCOPES[e] for e in listened_events() | PLANNED_EVENTS}
    if any('@app.command("/lookout")' in p.read_text(encoding="utf-8") for p in SOURCES):
        scopes.add("commands")
    return scopes - {""}


def test_the_code_calls_the_methods_it_is_known_to_call() -> None:
    assert {"chat.postMessage", "chat.update", "conversations.members", "users.info", "views.open", "views.publish",
            "files.getUploadURLExternal", "files.completeUploadExternal"} <= web_api_methods()
    assert {"app_home_opened", "app_mention", "message.im"} <= listened_events()


@pytest.mark.parametrize("manifest", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_the_manifest_asks_for_the_scopes_and_events_the_code_needs_and_no_more(manifest: Path) -> None:
    scopes = manifest_scopes(manifest)
    assert sorted(needed_scopes() - scopes) == [], f"{manifest.name} lacks scopes the code needs"
    assert sorted(scopes - needed_scopes()) == [], f"{manifest.name} asks for scopes no code uses"
    events = set(yaml.safe_load(manifest.read_text(encoding="utf-8"))["settings"]["event_subscriptions"]
                 ["bot_events"])
    assert events == listened_events() | PLANNED_EVENTS


def test_the_fake_slack_gets_its_scopes_from_the_manifest() -> None:
    assert FakeSlack().scopes == manifest_scopes() >= {"files:write", "chat:write.public", "users:read"}


async def test_a_call_without_its_scope_is_refused_as_slack_refuses_it(tmp_path: Path) -> None:
    scopes = manifest_scopes() - {"files:write"}
    slack = await FakeSlack(scopes=scopes).start()
    try:
        async with aiohttp.ClientSession() as http, http.post(
                f"{slack.base_url}files.getUploadURLExternal", data={"filename": "c.png", "length": "3"},
                headers={"Authorization": "Bearer xoxb-test-token"}) as resp:
            answer, header = await resp.json(), resp.headers["x-oauth-scopes"]
        assert answer == {"ok": False, "error": "missing_scope", "needed": "files:write",
                          "provided": ",".join(sorted(scopes))}
        assert header == ",".join(sorted(scopes))
        chart = tmp_path / "c.png"
        chart.write_bytes(b"png")
        notifier = SlackNotifier("xoxb-test-token", slack.base_url, per_second=100)
        digest = Digest(0.0, 86400.0, 24, 3, 1, [], [], [], {}, [], chart=chart)
        with pytest.raises(DeliveryError, match="the digest's chart was not uploaded: Slack said missing_scope"):
            await notifier.digest(digest, "C0ALERTS")
        await notifier.close()
    finally:
        await slack.stop()


async def test_alerts_reach_a_channel_the_bot_is_not_in_only_with_chat_write_public() -> None:
    from tests.test_slack import alert

    for scopes, delivered in ((manifest_scopes(), True), (manifest_scopes() - {"chat:write.public"}, False)):
        slack = await FakeSlack(scopes=scopes, joined={"C0LOOKOUT"}).start()
        notifier = SlackNotifier("xoxb-test-token", slack.base_url, per_second=100)
        try:
            if delivered:
                await notifier.send(alert(channel="C0ELSEWHERE"))
            else:
                with pytest.raises(DeliveryError, match="not_in_channel") as err:
                    await notifier.send(alert(channel="C0ELSEWHERE"))
                assert err.value.permanent
        finally:
            await notifier.close()
            await slack.stop()


async def test_a_method_the_fake_does_not_know_is_refused(slack: FakeSlack) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{slack.base_url}chat.scheduleMessage", data={"channel": "C0ALERTS", "text": "later"},
            headers={"Authorization": "Bearer xoxb-test-token"}) as resp:
        assert json.loads(await resp.text()) == {"ok": False, "error": "unknown_method"}
