"""Who may do what through Slack: admins and channel members enforced from the first minute, the members list
kept five minutes, every guarded command, button, modal and reaction refused to a user without the right, and
every request the bot invites covered by a rule."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from bot import messages
from bot.access import RULES, Key, Need
from bot.app import build_app
from bot.blocks import alert_blocks
from bot.commands import ARITY
from bot.notifier import slack_client
from bot.server import make_web_app
from monitor.config.load import load_settings
from monitor.enrich.alerts import Alert, Mute
from tests.bot_helpers import SECRET, Bot, Clock, event_body, served, signed, strict_settings
from tests.fake_slack import FakeSlack
from tests.servers import serve, wait_for


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
    from monitor.store.learning_rows import UnsureItem
    from tests.test_home import busy_home

    alert = Alert(rule="r", item_id="i" * 20, topic_id=1, cooldown_key="k", channel="C", created_at=1.0,
                  reason="r", title="t", url="https://example.org/x", source="s", snippet="s",
                  labels=[["spam", "spam", 0.9, False]])
    label = {"name": "first", "description": "d", "topics": [1], "size": 1}
    proposal = {"id": 1, "status": "open", "labels": [label, {**label, "name": "second"}]}
    row = UnsureItem(item_id="i" * 20, title="t", text="x", url="", label="spam", margin=0.1, topic_id=0)
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
