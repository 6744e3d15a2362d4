"""The Slack app served for real on 127.0.0.1, driven by signed requests exactly as Slack sends them, answering
through a recording fake of the Web API and of response_url."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import numpy as np
import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot import messages
from bot.access import RULES, Key, Need, redact_url
from bot.app import build_app
from bot.blocks import alert_blocks
from bot.commands import ARITY, Command, UsageError, intent, parse
from bot.notifier import slack_client
from bot.server import Refused, SignedRequests, make_web_app
from monitor.config.load import load_settings
from monitor.enrich.alerts import Alert, Mute
from monitor.store.db import Store
from tests.bot_helpers import (
    SECRET,
    Bot,
    Clock,
    event_body,
    load_settings_tasks,
    served,
    signed,
    strict_settings,
)
from tests.fake_slack import FakeSlack
from tests.servers import serve, wait_for


@pytest.mark.parametrize(("text", "message"), [
    ("launch rockets", "I don't know `launch`"),
    ("topics many", "Usage: `/lookout topics [n]`"),
    ("topics 99", "Usage: `/lookout topics [n]`"),
    ("label abc", "Usage: `/lookout label <item> <label> [task]`"),
    ("search", "Usage: `/lookout search <words>`"),
    ("status now", "Usage: `/lookout status`"),
    ("retrain spam now", "Usage: `/lookout retrain [task]`"),
])
def test_bad_commands_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(text)
    assert message in str(err.value)
    assert parse("").name == "help" and parse("TOPICS 3").args == ("3",)


def test_slack_entities_in_command_text_become_what_the_user_typed() -> None:
    assert parse("watch add keyword a&amp;b|x&lt;y&gt;z").args == ("add", "keyword", "a&b|x<y>z")
    assert parse("watch add <https://example.org/feed?a=1&amp;b=2>").args == ("add",
                                                                             "<https://example.org/feed?a=1&b=2>")
    assert parse("search &amp;lt;").args == ("&lt;",)
    assert intent("<@U0BOT> search for R&amp;D").args == ("R&D",)


async def test_help_status_and_topics_answer_at_once(bot: Bot) -> None:
    status, answer = await bot.command("help")
    assert status == 200 and answer["response_type"] == "ephemeral" and "/lookout label" in answer["text"]
    _, answer = await bot.command("status")
    assert answer["text"].startswith("*8* items") and "`list` (replay)" in answer["text"]
    stored = bot.store.db.execute("select vector_sum from topics limit 1").fetchone()[0]
    vector = (-np.frombuffer(stored, dtype=np.float64)).tobytes()
    bot.store.db["topics"].insert_all([
        {"id": 800, "size": 50, "keywords": '["rockets", "launch"]', "name": "rockets / launch",
         "representatives": "[]", "vector_sum": vector, "alive": 1},
        {"id": 900, "size": 2, "keywords": '["rocket"]', "representatives": "[]", "vector_sum": vector, "alive": 1}])
    _, answer = await bot.command("topics 3")
    assert answer["text"].startswith("*Largest topics*\n• *#800 rockets / launch* (50 items · related: #900): "
                                     "rockets, launch")
    _, answer = await bot.command("dance")
    assert answer["text"].startswith("I don't know `dance`")


async def test_label_records_a_correction_and_bad_arguments_change_nothing(bot: Bot) -> None:
    item = bot.items[0]
    _, answer = await bot.command(f"label {item[:8]} ham")
    assert answer["text"].startswith("Recorded: *") and "is *ham* in `spam`" in answer["text"]
    [row] = bot.store.corrections()
    assert (row["item_id"], row["task"], row["new_label"], row["user"], row["via"]) == \
        (item, "spam", "ham", "U0ADA", "slack")
    assert bot.store.labels_of(item)["spam"] == "ham"
    for text, reason in [(f"label {item[:8]} eggs", "`eggs` is not a label"), ("label zzzzzzzz ham", "not an item id"),
                         ("label 000000 ham", "no item has an id starting with `000000`"),
                         (f"label {item[:8]} ham nosuchtask", "no task `nosuchtask`")]:
        _, answer = await bot.command(text)
        assert answer["text"].startswith(":warning:") and reason in answer["text"], text
    assert len(bot.store.corrections()) == 1


async def test_search_answers_after_the_ack_through_response_url(bot: Bot) -> None:
    _, answer = await bot.command("search mortgage rates")
    assert answer["text"] == "Searching…"
    await wait_for(lambda: bot.slack.responses)
    [reply] = bot.slack.responses
    assert reply["text"].startswith("*Nearest to* “mortgage rates”") and reply["text"].count("\n•") == 5
    _, answer = await bot.command("search payload")
    assert answer["text"] == "Searching…", "Bolt's own parser empties a form that holds the word payload"
    await wait_for(lambda: len(bot.slack.responses) == 2)
    assert bot.slack.responses[1]["text"].startswith("*Nearest to* “payload”")


async def test_alert_menus_and_buttons_correct_the_label_and_update_the_message(bot: Bot) -> None:
    item = bot.items[1]
    current = bot.store.labels_of(item)["spam"]
    other = "ham" if current == "spam" else "spam"
    alert = Alert(rule="spam-wave", item_id=item, topic_id=1, cooldown_key="topic:1", channel="C0ALERTS",
                  created_at=1.0, reason="r", title="t", url="https://example.org/x", source="list", snippet="s",
                  labels=[["spam", current, 0.9, False]])
    blocks = alert_blocks(alert, {"spam": ["spam", "ham"]})
    [row] = [b for b in blocks if b["type"] == "actions"]
    menu = next(e for e in row["elements"] if e["type"] == "static_select")
    choice = next(o for o in menu["options"] if o["text"]["text"] == other)
    status, _ = await bot.action({"action_id": menu["action_id"], "block_id": "b1", "type": "static_select",
                                  "selected_option": choice, "action_ts": "1"}, blocks)
    assert status == 200
    await wait_for(lambda: bot.slack.calls["chat.update"])
    [update] = bot.slack.calls["chat.update"]
    assert update["channel"] == "C0ALERTS" and update["ts"] == "1700000001.000100"
    note = update["blocks"][-1]["elements"][0]["text"]
    assert note == f":pencil2: <@U0ADA> set spam to {other} (was {current})"
    assert bot.store.labels_of(item)["spam"] == other
    confirm = next(e for e in row["elements"] if e["action_id"] == "lookout_confirm")
    await bot.action({**confirm, "block_id": "b1", "action_ts": "2"}, blocks)
    await wait_for(lambda: len(bot.slack.calls["chat.update"]) == 2)
    assert bot.slack.calls["chat.update"][1]["blocks"][-1]["elements"][0]["text"] == \
        f":pencil2: <@U0ADA> confirmed spam = {other}"
    assert [c["new_label"] for c in bot.store.corrections()] == [other, other]


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




@pytest.mark.parametrize(("text", "expected"), [
    ("<@U0BOT> what's trending?", Command("topics")),
    ("anything about outages today?", Command("search", ("outages",))),
    ("search for mortgage rates", Command("search", ("mortgage", "rates"))),
    ("tell me a joke", Command("help")),
])
def test_mentions_and_direct_messages_are_understood(text: str, expected: Command) -> None:
    assert intent(text) == expected


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


async def test_topic_shows_one_topic_and_mute_silences_it(bot: Bot) -> None:
    topic_id = bot.store.db.execute("select topic_id from items order by rowid limit 1").fetchone()[0]
    bot.store.db["topic_events"].insert({"kind": "split", "topic_id": topic_id, "other_id": 77, "size": 4,
                                         "at": 1_700_000_000.0})
    _, answer = await bot.command(f"topic #{topic_id}")
    assert answer["text"].startswith(f"*Topic #{topic_id}") and "in the last day" in answer["text"]
    assert answer["text"].endswith("_<!date^1700000000^{date_short} {time}|2023-11-14 22:13 UTC>: #77 split off it "
                                   "(4 items)_")
    _, answer = await bot.command("topic 99999")
    assert answer["text"] == ":warning: there is no topic #99999"
    _, answer = await bot.command(f"mute {topic_id}")
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith(f"Muted alerts about topic #{topic_id} (")
    assert bot.store.muted() == {Mute(topic_id)}


async def test_admins_and_channels_are_enforced_from_the_first_minute_and_the_mute_button_works(
        bot: Bot, slack: FakeSlack) -> None:
    topic_id = bot.store.db.execute("select topic_id from items order by rowid limit 1").fetchone()[0]
    slack.members = {"C0LOOKOUT": ["U0BOSS"], "C0TEAM": ["U0ADA"]}
    booted = Clock(10.0)
    async with served(strict_settings(), bot.store, slack, booted) as strict:
        _, answer = await strict.command(f"label {bot.items[0][:8]} ham")
        assert answer["text"] == "Corrections are accepted from members of Lookout's channels only."
        _, answer = await strict.command(f"label {bot.items[0][:8]} ham", user="U0BOSS")
        assert answer["text"].startswith("Recorded:"), "10 s after the host booted, the members are fetched"
        await strict.action({"action_id": "lookout_mute", "block_id": "b", "type": "button",
                             "value": json.dumps({"t": topic_id}), "action_ts": "2"}, [], user="U0BOSS")
        await wait_for(lambda: slack.calls["chat.update"])
        assert slack.calls["chat.update"][0]["blocks"][-2]["elements"][0]["text"] == \
            f":mute: <@U0BOSS> muted alerts about topic #{topic_id}"
        assert bot.store.muted() == {Mute(topic_id)}
    async with served(strict_settings(("C0LOOKOUT", "C0TEAM")), bot.store, slack, booted) as team:
        _, answer = await team.command(f"label {bot.items[0][:8]} spam")
        assert answer["text"].startswith("Recorded:") and len(bot.store.corrections()) == 2
    assert [c["channel"] for c in slack.calls["conversations.members"]] == ["C0LOOKOUT", "C0LOOKOUT", "C0TEAM"]


async def test_channel_members_are_fetched_again_after_five_minutes(bot: Bot, slack: FakeSlack) -> None:
    slack.members = {"C0LOOKOUT": ["U0ADA"]}
    clock = Clock(0.0)
    async with served(strict_settings(), bot.store, slack, clock) as strict:
        _, answer = await strict.command(f"label {bot.items[0][:8]} ham")
        assert answer["text"].startswith("Recorded:"), "just after boot, the members are fetched"
        slack.members = {"C0LOOKOUT": []}
        clock.now = 300.0
        _, answer = await strict.command(f"label {bot.items[1][:8]} ham")
        assert answer["text"].startswith("Recorded:"), "the list is kept for five minutes"
        clock.now = 300.5
        _, answer = await strict.command(f"label {bot.items[2][:8]} ham")
        assert answer["text"] == "Corrections are accepted from members of Lookout's channels only."
    assert len(slack.calls["conversations.members"]) == 2 and len(bot.store.corrections()) == 2


async def test_a_slack_error_listing_members_asks_to_try_again_and_is_not_kept(bot: Bot, slack: FakeSlack) -> None:
    slack.members = {"C0LOOKOUT": ["U0ADA"]}
    slack.failing["conversations.members"] = "internal_error"
    async with served(strict_settings(), bot.store, slack) as strict:
        _, answer = await strict.command(f"label {bot.items[0][:8]} ham")
        assert answer["text"] == ("I could not check who is in Lookout's channels just now (Slack said "
                                  "`internal_error`); nothing was changed, please try again in a minute.")
        await strict.action({"action_id": "lookout_confirm", "type": "button", "block_id": "b", "action_ts": "1",
                             "value": json.dumps({"i": bot.items[0]})}, [])
        await wait_for(lambda: slack.responses)
        assert slack.responses[0]["text"].startswith("I could not check who is in Lookout's channels just now")
        assert bot.store.corrections() == []
        del slack.failing["conversations.members"]
        _, answer = await strict.command(f"label {bot.items[0][:8]} ham")
        assert answer["text"].startswith("Recorded:")


NOT_A_MEMBER = ""
REFUSED: list[tuple[Key, Any, str]] = [
    (("command", "/lookout watch add"), "watch add https://blog.example.org/feed.xml", "change what is watched"),
    (("command", "/lookout watch remove"), "watch remove list", "change what is watched"),
    (("command", "/lookout label"), "label {item} ham", NOT_A_MEMBER),
    (("command", "/lookout mute"), "mute {topic}", "mute topics"),
    (("command", "/lookout unmute"), "unmute {topic}", "unmute topics"),
    (("command", "/lookout retrain"), "retrain", "ask for a retrain"),
    (("command", "/lookout taxonomy"), "taxonomy 3", "propose a taxonomy"),
    (("command", "/lookout digest schedule"), "digest schedule daily 08:00", "change the digest schedule"),
    (("action", "lookout_confirm"), {"action_id": "lookout_confirm", "type": "button",
                                     "value": '{"i": "{item}"}'}, NOT_A_MEMBER),
    (("action", "lookout_relabel"), {"action_id": "lookout_relabel:spam", "type": "static_select", "selected_option": {
        "value": '{"i": "{item}", "t": "spam", "l": "ham"}'}}, NOT_A_MEMBER),
    (("action", "lookout_answer"), {"action_id": "lookout_answer:0:1", "type": "button",
                                    "value": '{"i": "{item}", "t": "spam", "l": "ham"}'}, NOT_A_MEMBER),
    (("action", "lookout_mute"), {"action_id": "lookout_mute", "type": "button", "value": '{"t": {topic}}'},
     "mute topics"),
    (("action", "lookout_unmute"), {"action_id": "lookout_unmute", "type": "button",
                                    "value": '{"t": {topic}, "r": ""}'}, "unmute topics"),
    (("action", "lookout_tax_label"), {"action_id": "lookout_tax_label", "type": "static_select", "selected_option": {
        "value": '{"p": 1, "l": "first", "a": "drop", "i": ""}'}}, "change a taxonomy"),
    (("action", "lookout_tax_discard"), {"action_id": "lookout_tax_discard", "type": "button", "value": '{"p": 1}'},
     "change a taxonomy"),
    (("action", "lookout_tax_accept"), {"action_id": "lookout_tax_accept", "type": "button", "value": '{"p": 1}'},
     "accept a taxonomy"),
    (("view", "lookout_tax_edit"), ('{"p": 1, "l": "first"}', {"name": "renamed", "description": "d"}),
     "change a taxonomy"),
    (("view", "lookout_tax_accept"), ('{"p": 1}', {"task": "theme"}), "accept a taxonomy"),
    (("command", "/lookout subscribe"), "subscribe keyword outage", "change a channel's subscriptions"),
    (("command", "/lookout unsubscribe"), "unsubscribe 1", "change a channel's subscriptions"),
    (("event", "reaction_added"), {"type": "reaction_added", "user": "U0ADA", "reaction": "white_check_mark",
                                   "item": {"type": "message", "channel": "C0TEST", "ts": "1700000001.000100"}},
     NOT_A_MEMBER),
]


@pytest.mark.parametrize(("key", "request_", "what"), REFUSED, ids=[" ".join(k) for k, _, _ in REFUSED])
async def test_a_user_without_the_right_is_refused_and_nothing_changes(bot: Bot, slack: FakeSlack, key: Key,
                                                                        request_: Any, what: str) -> None:
    topic = bot.store.db.execute("select topic_id from items order by rowid limit 1").fetchone()[0]
    request_ = json.loads(json.dumps(request_).replace("{item}", bot.items[0]).replace("{topic}", str(topic)))
    labels = [{"name": n, "description": n, "topics": [topic], "size": 1} for n in ("first", "second")]
    bot.store.add_proposal(labels, 2, "keywords", "U0BOSS", "C0ALERTS")
    bot.store.update_proposal(1, ts="1700000001.000100")
    before = bot.store.proposal(1)
    refusal = messages.NOT_ADMIN.format(what=what) if what else messages.WRONG_CHANNEL
    slack.members = {"C0LOOKOUT": ["U0BOSS"]}
    async with served(strict_settings(), bot.store, slack) as strict:
        if key[0] == "command":
            status, answer = await strict.command(request_)
            assert answer == {"response_type": "ephemeral", "text": refusal}
        elif key[0] == "action":
            status, _ = await strict.action({**request_, "block_id": "b", "action_ts": "1"}, [])
            await wait_for(lambda: slack.responses)
            assert slack.responses == [{"response_type": "ephemeral", "replace_original": False, "text": refusal}]
        elif key[0] == "event":
            alert = Alert(rule="r", item_id=bot.items[0], topic_id=topic, cooldown_key="k", channel="C0TEST",
                          created_at=1.0, reason="r", title="t", url="", source="list", snippet="s",
                          labels=[["spam", "spam", 0.9, False]])
            bot.store.db["alerts"].insert({"rule": "r", "item_id": bot.items[0], "status": "sent", "ts": request_[
                "item"]["ts"], "posted_channel": "C0TEST", "payload": json.dumps(dataclasses.asdict(alert))})
            body = event_body(request_)
            status, _ = await strict.post(body, {**signed(body), "Content-Type": "application/json"})
            await wait_for(lambda: slack.calls["conversations.members"])
        else:
            status, answer = await strict.submit(key[1], *request_)
            assert answer["response_action"] == "errors" and list(answer["errors"].values()) == [refusal]
    assert status == 200
    assert bot.store.corrections() == [] and bot.store.runs() == [] and bot.store.muted() == set()
    assert bot.store.watches() == [] and bot.store.stored_tasks() == [] and bot.store.proposal(1) == before
    assert bot.store.subscriptions() == []
    assert set(slack.calls) <= {"auth.test", "conversations.members"}, "nothing was posted, updated or opened"


def test_every_request_the_bot_invites_has_a_rule_and_every_guarded_rule_a_refusal_test() -> None:
    from bot.blocks import accept_view, edit_label_view, question_blocks, taxonomy_blocks, undo_mute
    from bot.home import home_view, search_modal
    from monitor.daemon.notify import Question
    from tests.test_home import busy_home

    alert = Alert(rule="r", item_id="i" * 20, topic_id=1, cooldown_key="k", channel="C", created_at=1.0,
                  reason="r", title="t", url="https://example.org/x", source="s", snippet="s",
                  labels=[["spam", "spam", 0.9, False]])
    label = {"name": "first", "description": "d", "topics": [1], "size": 1}
    proposal = {"id": 1, "status": "open", "labels": [label, {**label, "name": "second"}]}
    row = {"item_id": "i" * 20, "title": "t", "text": "x", "url": "", "label": "spam", "margin": 0.1}
    elements = [e for b in [*alert_blocks(alert, {"spam": ["spam", "ham"]}),
                            *question_blocks(Question("spam", ["spam", "ham"], [row], "C")), *taxonomy_blocks(proposal),
                            *undo_mute(1, "r", "muted", "1")]
                for e in [*b.get("elements", []), *([b["accessory"]] if "accessory" in b else [])]]
    invited = {("action", e["action_id"].split(":")[0]) for e in elements if "action_id" in e}
    invited |= {("view", v["callback_id"]) for v in (edit_label_view(1, label), accept_view(1))}
    invited |= {("command", f"/lookout {name}") for name in ARITY if name != "watch"}
    invited |= {("command", f"/lookout watch {action}") for action in ("list", "add", "remove")}
    invited |= {("command", "/lookout digest schedule")}
    invited |= {("action", e["action_id"]) for b in home_view(busy_home())["blocks"] for e in b.get("elements", [])
                if "action_id" in e} | {("view", search_modal()["callback_id"])}
    assert invited == {k for k in RULES if k[0] != "event"}
    assert {k for k, _, _ in REFUSED} == {k for k, rule in RULES.items() if rule.need is not Need.ANYONE}


async def test_a_new_listener_without_a_rule_never_runs(bot: Bot, slack: FakeSlack) -> None:
    app = build_app(load_settings(None, env={}), bot.store, slack_client("xoxb-test-token", slack.base_url),
                    lambda: None)
    ran: list[str] = []

    @app.action("lookout_new_button")
    async def new_button(ack: Any) -> None:
        ran.append("new_button")
        await ack()

    runner, port = await serve(make_web_app(app, SECRET))
    try:
        await Bot(f"http://127.0.0.1:{port}", bot.store, slack).action(
            {"action_id": "lookout_new_button", "type": "button", "block_id": "b", "action_ts": "1", "value": "{}"}, [])
        await wait_for(lambda: slack.responses)
    finally:
        await runner.cleanup()
    assert slack.responses[0]["text"] == "Lookout does not take that request from anyone; nothing was changed."
    assert ran == []


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


@pytest.mark.parametrize("text", ["watch", "watch dance", "watch add", "watch remove", "watch list all",
                                  "watch add keyword", "watch add a b c"])
def test_bad_watch_commands_say_what_was_expected(text: str) -> None:
    with pytest.raises(UsageError, match="Usage: `/lookout watch list`"):
        parse(text)


async def test_watch_adds_lists_and_removes_feeds_and_keyword_rules(bot: Bot) -> None:
    _, answer = await bot.command("watch add <https://blog.example.org/feed.xml> blog")
    assert answer["response_type"] == "in_channel"
    assert answer["text"] == ("Now watching feed `blog`: `https://blog.example.org/feed.xml` (live within "
                              "seconds).")
    _, answer = await bot.command("watch add keyword (?i)outage")
    assert "keyword rule `i-outage`" in answer["text"]
    _, answer = await bot.command("watch add ftp://nope")
    assert answer["text"] == ":warning: `ftp://nope` is not a feed URL: expected http:// or https://"
    _, answer = await bot.command("watch add https://other.example.org/rss blog")
    assert answer["text"] == ":warning: the name `blog` is taken; give another one"
    _, answer = await bot.command(f"watch add https://other.example.org/rss {'b' * 41}")
    assert answer["text"].startswith(f":warning: `{'b' * 41}` cannot name a watch: expected one word (no spaces) of "
                                     "up to 40 characters"), "a name Slack's buttons could not carry is refused"
    _, answer = await bot.command("watch add https://reader:pa55word@private.example.org/feed?token=s3cret&page=2 "
                                  "private")
    assert answer["text"] == ("Now watching feed `private`: `https://***@private.example.org/feed?token=***&amp;"
                              "page=2` (live within seconds).")
    _, answer = await bot.command("watch list")
    assert "`list` (replay, config)" in answer["text"] and "`blog` (feed, by U0ADA)" in answer["text"]
    assert "`private` (feed, by U0ADA): `https://***@private.example.org/feed?token=***&amp;page=2`" in answer["text"]
    assert "pa55word" not in answer["text"] and "s3cret" not in answer["text"]
    await bot.command("watch remove private")
    _, answer = await bot.command("watch remove list")
    assert answer["text"] == ":warning: `list` is set in the configuration file; remove it there"
    _, answer = await bot.command("watch remove blog")
    assert answer["text"] == "Stopped watching `blog`."
    assert [w["name"] for w in bot.store.watches()] == ["i-outage"]


@pytest.mark.parametrize(("target", "shown"), [
    ("https://user:pass@host.example/feed", "https://***@host.example/feed"),
    ("https://ghp_abc123@host.example/feed.xml", "https://***@host.example/feed.xml"),
    ("https://host.example/rss?api_key=k1&lang=en&Access_Token=t2", "https://host.example/rss?api_key=***&lang=en&"
                                                                     "Access_Token=***"),
    ("https://host.example/feed#access_token=t3", "https://host.example/feed#access_token=***"),
    ("https://host.example/feed?page=2&q=a%20b", "https://host.example/feed?page=2&q=a%20b"),
    ("https://[::1/feed?token=x", "https://[::1/feed?token=***"),
    ("https://a:b@[::1/feed", "https://***@[::1/feed"),
    ("/var/mail/lookout.mbox", "/var/mail/lookout.mbox"),
    ("(?i)pass(word)?", "(?i)pass(word)?"),
])
def test_credentials_in_urls_are_masked(target: str, shown: str) -> None:
    assert redact_url(target) == shown


async def test_trends_answers_with_rising_and_fading_topics(bot: Bot) -> None:
    _, answer = await bot.command("trends 12")
    new, rest = answer["text"].split("\n*Rising", 1)
    assert new == ("*New over the last 12 h*\nToo early to tell: 0 of the 6 bins of watched history a new topic "
                   "needs."), "a store whose items all arrived just now cannot tell a new topic"
    rising, rest = ("*Rising" + rest).split("\n*Fading*\n")
    fading, labels = rest.split("\n*Labels*\n")
    assert rising == "*Rising over the last 12 h*\nNothing is rising above its baseline.", \
        "all 8 items arrived just now: a store with no history calls nothing rising"
    assert fading == "Nothing is fading."
    assert labels == "No label moved away from its baseline."
    _, answer = await bot.command("trends 999")
    assert answer["text"].startswith("Usage: `/lookout trends [hours]`")


async def test_retrain_queues_a_run_and_opens_the_thread_its_progress_follows(bot: Bot) -> None:
    _, answer = await bot.command("retrain eggs")
    assert answer["text"] == ":warning: no task `eggs`; tasks are: spam"
    _, answer = await bot.command("retrain")
    assert answer["text"].startswith("Queued: training starts within seconds")
    await wait_for(lambda: bot.store.runs() and bot.store.runs()[0]["thread"])
    [posted] = bot.slack.calls["chat.postMessage"]
    assert posted["channel"] == "C0ALERTS" and "Retraining `spam`, asked by <@U0ADA>" in posted["text"]
    [run] = bot.store.runs()
    assert (run["task"], run["status"], run["via"], run["requested_by"], run["channel"]) == \
        ("spam", "requested", "slack", "U0ADA", "C0ALERTS")
    assert run["thread"] == "1700000001.000100"
    _, answer = await bot.command("retrain spam")
    assert answer["text"] == f"A training run of `spam` (#{run['id']}) is already waiting or running."
    assert len(bot.store.runs()) == 1
    _, answer = await bot.command("status")
    assert "`spam`: zero-shot; 0 corrections since the last training run" in answer["text"]


async def test_an_answer_to_an_active_learning_question_is_a_correction(bot: Bot) -> None:
    from bot.blocks import question_blocks
    from monitor.daemon.notify import Question

    rows = bot.store.least_sure("spam", 0, 3)
    assert len(rows) == 3 and rows == sorted(rows, key=lambda r: r["margin"])
    blocks = question_blocks(Question("spam", ["spam", "ham"], rows, "C0ALERTS"))
    assert len(blocks) == 7 and [b["text"] for b in blocks[2]["elements"]] == \
        [{"type": "plain_text", "text": "spam"}, {"type": "plain_text", "text": "ham"}]
    button = blocks[2]["elements"][1]
    await bot.action({**button, "block_id": "q", "action_ts": "1"}, blocks)
    await wait_for(lambda: bot.slack.calls["chat.update"])
    [row] = bot.store.corrections()
    assert (row["item_id"], row["new_label"], row["via"]) == (rows[0]["item_id"], "ham", "slack")
    update = bot.slack.calls["chat.update"][0]
    note = (update["blocks"] if isinstance(update["blocks"], list) else json.loads(update["blocks"]))[-1]
    assert "<@U0ADA> " in note["elements"][0]["text"] and "ham" in note["elements"][0]["text"]


async def test_training_notes_thread_and_questions_are_posted_to_slack(slack: FakeSlack) -> None:
    from bot.notifier import SlackNotifier
    from monitor.daemon.notify import DeliveryError, Question

    notifier = SlackNotifier("xoxb-test-token", slack.base_url, per_second=100)
    thread = await notifier.note("Training run #1 of spam", "C0ALERTS", "")
    assert thread == "1700000001.000100"
    assert await notifier.note("epoch 1/5: <!channel> validation 0.8", "C0ALERTS", thread) == thread
    first, second = slack.calls["chat.postMessage"]
    assert "thread_ts" not in first and second["thread_ts"] == thread
    assert second["text"] == "epoch 1/5: &lt;!channel&gt; validation 0.8"
    item = {"item_id": "a" * 20, "title": "<@U123> win", "text": "x" * 5000, "url": "javascript:x", "label": "spam",
            "margin": 0.01}
    await notifier.ask(Question("spam", ["spam", "ham"], [item], "C0ALERTS"))
    text = json.dumps(slack.calls["chat.postMessage"][2]["blocks"])
    assert "lookout_answer:0:1" in text and "<@U123>" not in text and "javascript" not in text
    slack.unknown_channels.add("C0GONE")
    with pytest.raises(DeliveryError, match="channel_not_found") as err:
        await notifier.note("hello", "C0GONE", "")
    assert err.value.permanent
    await notifier.close()


async def test_a_taxonomy_is_proposed_reviewed_and_accepted_with_menus_and_modals(tmp_path: Path, tiny_model: str,
                                                                                  slack: FakeSlack) -> None:
    from bot.blocks import taxonomy_blocks
    from tests.test_taxonomy import stored_stream

    store, _ = stored_stream(tmp_path / "t.db")
    settings = load_settings(None, env={}, overrides={"store": {"path": str(tmp_path / "t.db")},
                                                      "model": {"embedding": tiny_model}})
    app = build_app(settings, store, slack_client("xoxb-test-token", slack.base_url), lambda: None)
    runner, port = await serve(make_web_app(app, SECRET))
    bot = Bot(f"http://127.0.0.1:{port}", store, slack)
    try:
        _, answer = await bot.command("taxonomy 99")
        assert answer["text"].startswith("Usage: `/lookout taxonomy [labels]`")
        _, answer = await bot.command("taxonomy 1")
        assert answer["text"].startswith("Proposing a taxonomy")
        await wait_for(lambda: slack.responses)
        assert slack.responses[-1]["text"] == ":warning: a taxonomy needs between 2 and 50 labels, not 1"
        await bot.command("taxonomy 3")
        await wait_for(lambda: store.proposal(1) and store.proposal(1)["ts"])
        [posted] = slack.calls["chat.postMessage"]
        blocks = json.loads(posted["blocks"]) if isinstance(posted["blocks"], str) else posted["blocks"]
        assert blocks[0]["text"]["text"] == "Taxonomy proposal #1: 3 labels" and len(blocks) == 5
        names = [x["name"] for x in store.proposal(1)["labels"]]

        def select(label_block: int, action: str) -> dict[str, Any]:
            menu = blocks[label_block]["accessory"]
            picked = next(o for o in menu["options"] if json.loads(o["value"])["a"] == action)
            return {**menu, "block_id": f"b{label_block}", "selected_option": picked, "action_ts": "1"}

        await bot.action(select(3, "merge"), blocks)
        await wait_for(lambda: slack.calls["chat.update"])
        assert [x["name"] for x in store.proposal(1)["labels"]] == names[:2]
        assert len(store.proposal(1)["labels"][0]["topics"]) + len(store.proposal(1)["labels"][1]["topics"]) >= 3

        await bot.action(select(1, "edit"), blocks)
        await wait_for(lambda: slack.calls["views.open"])
        view = slack.calls["views.open"][0]["view"]
        view = json.loads(view) if isinstance(view, str) else view
        assert view["callback_id"] == "lookout_tax_edit"

        _, refused = await bot.submit("lookout_tax_edit", view["private_metadata"], {"name": "Bad Name",
                                                                                   "description": "x"})
        assert refused["response_action"] == "errors" and "cannot be a label" in refused["errors"]["name"]
        status, _ = await bot.submit("lookout_tax_edit", view["private_metadata"],
                                 {"name": "first", "description": "the first story"})
        assert status == 200
        assert store.proposal(1)["labels"][0] | {} == {**store.proposal(1)["labels"][0], "name": "first",
                                                        "description": "the first story"}

        _, refused = await bot.submit("lookout_tax_accept", json.dumps({"p": 1}), {"task": "spam eggs"})
        assert refused["response_action"] == "errors"
        status, _ = await bot.submit("lookout_tax_accept", json.dumps({"p": 1}), {"task": "theme"})
        assert status == 200
        await wait_for(lambda: len(slack.calls["chat.postMessage"]) == 2)
        reply = slack.calls["chat.postMessage"][1]
        assert reply["thread_ts"] == posted_ts(store) and "accepted the taxonomy as task `theme`" in reply["text"]
        assert [t["name"] for t in store.stored_tasks()] == ["theme"]
        await wait_for(lambda: [r["thread"] for r in store.runs()] != [""])  # stored once Slack answered the post
        [run] = store.runs()
        assert (run["task"], run["via"], run["thread"]) == ("theme", "taxonomy", posted_ts(store))
        final = taxonomy_blocks(store.proposal(1))
        assert final[0]["text"]["text"] == "Taxonomy proposal #1: 2 labels (accepted)"
        discard = {**blocks[-1]["elements"][1], "block_id": "a", "action_ts": "2"}
        answered = len(slack.responses)
        await bot.action(discard, blocks)
        await wait_for(lambda: len(slack.responses) > answered)
        assert slack.responses[-1]["text"] == ":warning: proposal #1 is accepted already"
        _, answer = await bot.command("label " + store.db.execute("select id from items limit 1").fetchone()[0][:10]
                                      + " first theme")
        assert "is *first* in `theme`" in answer["text"]
        slack.unknown_channels.add("C0ALERTS")
        answered = len(slack.responses)
        await bot.command("taxonomy 2")
        await wait_for(lambda: len(slack.responses) > answered)
        assert slack.responses[-1]["text"] == (":warning: proposal #2 is stored but could not be posted here "
                                               "(channel_not_found); invite the bot to this channel and ask again")
    finally:
        await runner.cleanup()
        store.close()


def posted_ts(store: Store) -> str:
    found = store.proposal(1)
    assert found is not None
    return found["ts"]


def test_a_proposal_with_more_labels_than_a_message_holds_says_how_many_are_hidden() -> None:
    from bot.blocks import SHOWN_LABELS, taxonomy_blocks

    labels = [{"name": f"label-{i}", "description": "d", "topics": [i], "size": 1} for i in range(SHOWN_LABELS + 5)]
    shown = taxonomy_blocks({"id": 7, "labels": labels, "status": "open"})
    assert len(shown) <= 50, "Slack refuses a message of more than 50 blocks"
    assert sum(1 for b in shown if b["type"] == "section") == SHOWN_LABELS
    assert shown[-2]["elements"][0]["text"].startswith("5 more labels are not shown")


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


def test_the_models_line_says_which_rung_serves_and_what_zero_shot_scored() -> None:
    row = {"task": "spam", "version": "v3", "rung": "head", "int8": False, "metric": "macro_f1", "score": 0.9,
           "zero_shot": 0.61, "waiting": 2, "auto_agreement": (0, 0)}
    assert messages.model_line(row) == ("• `spam`: v3 (head), held-out macro_f1 0.900 against 0.610 zero-shot; "
                                        "2 corrections since the last training run")
    tuned = {**row, "rung": "fine-tuned", "int8": True, "zero_shot": None}
    assert messages.model_line(tuned).startswith("• `spam`: v3 (fine-tuned, int8), held-out macro_f1 0.900;")
