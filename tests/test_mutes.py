"""Mutes are safe by default: a confirmation before the Mute button acts, an Undo under it, `/lookout mutes` and
`unmute`, mutes of one rule and mutes that end; and with `bot.admins` empty only the workspace's admins and owners
(asked through users.info) may mute or change watches. Driven through the real Bolt app with signed requests and
the recording fake Slack on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.blocks import alert_blocks, taxonomy_blocks
from models.classifier import Prediction
from monitor import service
from monitor.config.load import load_settings
from monitor.enrich.alerts import Alert, AlertEngine, Evaluation, Mute, Rule, compile_pattern
from monitor.ingest.item import Item, make_id
from monitor.service import MuteRequest, ServiceError, mute_request
from monitor.store.db import Store
from tests.bot_helpers import Bot, Clock, bot_settings, served
from tests.fake_slack import FakeSlack
from tests.servers import wait_for

ADMIN, OWNER, MEMBER = "U0ADA", "U0OWNER", "U0PLAIN"
TOPIC, OTHER = 41, 42
ALERTS = """
[[alerts]]
name = "spam-wave"
kind = "keyword"
pattern = "(?i)offer"

[[alerts]]
name = "security"
kind = "keyword"
pattern = "(?i)password"
"""


@pytest.fixture
async def lookout(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[Bot]:
    """The app over a store with two topics and one item, for settings with two keyword rules and no admins."""
    settings = bot_settings(tmp_path, ALERTS)
    store = Store(settings.store.path)
    store.db["topics"].insert_all([{"id": tid, "size": 5, "keywords": json.dumps(words), "representatives": "[]",
                                    "alive": 1} for tid, words in ((TOPIC, ["offer", "cheap"]),
                                                                   (OTHER, ["login", "password"]))])
    store.add_items("list", "replay", [Item(id=make_id("list", "1"), source="list", title="Cheap offer",
                                            text="A cheap offer")])
    slack.workspace_owners.add(OWNER)
    async with served(settings, store, slack) as bot:
        yield bot
    store.close()


def alert(rule: str = "spam-wave", topic: int = TOPIC, item: str = "") -> Alert:
    return Alert(rule=rule, item_id=item or make_id("list", "1"), topic_id=topic, cooldown_key=f"topic:{topic}",
                 channel="C0ALERTS", created_at=1.0, reason="matches 'offer'", title="Cheap offer",
                 url="https://example.org/1", source="list", snippet="A cheap offer",
                 labels=[["spam", "spam", 0.9, False]])


def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    found = next(e for b in blocks for e in b.get("elements", []) if e.get("action_id") == action_id)
    block = next(b for b in blocks if found in b.get("elements", []))
    return {**found, "block_id": block.get("block_id", "b"), "action_ts": str(time.time())}


def updated_blocks(slack: FakeSlack) -> list[dict[str, Any]]:
    blocks = slack.calls["chat.update"][-1]["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def engine_with_both_rules(muted: set[Mute], wall: float | None = None) -> AlertEngine:
    """The engine for ALERTS' two keyword rules, no cooldown; ``wall`` fixes its clock (mutes end by it)."""
    return AlertEngine([Rule(name, "keyword", "C0ALERTS", 0.0, pattern=compile_pattern(pattern))
                        for name, pattern in (("spam-wave", "(?i)offer"), ("security", "(?i)password"))], muted=muted,
                       **({"clock": lambda: wall} if wall is not None else {}))


def evaluation(text: str, topic: int = TOPIC) -> Evaluation:
    item = Item(id=make_id("s", text), source="s", title=text, text=text)
    return Evaluation(item, [Prediction("spam", "spam", 0.9, False, "zero-shot")], topic, 5)


@pytest.mark.parametrize(("words", "expected"), [
    (["12"], MuteRequest("12")),
    (["#12", "security"], MuteRequest("#12", "security")),
    (["12", "for", "2h"], MuteRequest("12", "", 1_000_000 + 7200)),
    (["12", "spam-wave", "for", "3d"], MuteRequest("12", "spam-wave", 1_000_000 + 3 * 86400)),
    (["12", "for", "30m"], MuteRequest("12", "", 1_000_000 + 1800)),
    (["12", "until", "1970-01-13"], MuteRequest("12", "", 12 * 86400)),
    (["12", "until", "1970-01-12", "18:00+02:00"], MuteRequest("12", "", 11 * 86400 + 16 * 3600)),
])
def test_a_mute_names_a_topic_and_may_name_a_rule_and_an_end(words: list[str], expected: MuteRequest) -> None:
    assert mute_request(words, now=1_000_000) == expected


@pytest.mark.parametrize(("words", "reason"), [
    (["12", "for", "soon"], "`for soon` is not a duration"),
    (["12", "for", "0h"], "`for 0h` is not a duration"),
    (["12", "until", "tomorrow"], "`until tomorrow` is not a date"),
    (["12", "until", "1970-01-01"], "`until 1970-01-01` is past"),
    (["12", "for", "9999d"], "a year at most"),
    (["12", "security", "after", "2h"], "`after` after the rule"),
])
def test_a_mute_that_cannot_be_understood_says_why(words: list[str], reason: str) -> None:
    with pytest.raises(ServiceError, match=reason):
        mute_request(words, now=1_000_000)


async def test_a_mute_for_a_while_lapses_and_alerts_resume(lookout: Bot) -> None:
    _, answer = await lookout.command(f"mute {TOPIC} for 2h")
    assert answer["response_type"] == "in_channel" and answer["text"].startswith(
        f"Muted alerts about topic #{TOPIC} until <!date^")
    [row] = lookout.store.mutes()
    assert row.until == pytest.approx(time.time() + 7200, abs=60)
    engine = engine_with_both_rules(lookout.store.muted(now=row.until - 1), wall=row.until - 1)
    assert engine.evaluate(evaluation("a cheap offer and your password"), now=1.0) == [], \
        "a mute ends by the wall clock, whenever the item happened"
    assert lookout.store.muted(now=row.until + 1) == set(), "the store no longer gives a mute that ended"
    engine = engine_with_both_rules({Mute(TOPIC, "", row.until)}, wall=row.until + 1)
    fired = engine.evaluate(evaluation("a cheap offer and your password"), now=1.0)
    assert [a.rule for a in fired] == ["spam-wave", "security"], "the engine honours the end itself too"
    _, answer = await lookout.command("mutes")
    assert answer["text"].splitlines()[1].startswith(f"• alerts about topic #{TOPIC} until <!date^{int(row.until)}^")


async def test_a_mute_of_one_rule_lets_the_security_rule_through(lookout: Bot) -> None:
    _, answer = await lookout.command(f"mute #{TOPIC} spam-wave")
    assert answer["text"].startswith(f"Muted *spam-wave* alerts about topic #{TOPIC} (offer, cheap).")
    assert answer["text"].endswith("Other rules still alert.")
    assert lookout.store.muted() == {Mute(TOPIC, "spam-wave")}
    engine = engine_with_both_rules(lookout.store.muted())
    assert [a.rule for a in engine.evaluate(evaluation("an offer: reset your password"), now=10.0)] == ["security"]
    assert [a.rule for a in engine.evaluate(evaluation("an offer", topic=OTHER), now=10.0)] == ["spam-wave"]
    _, answer = await lookout.command(f"mute {TOPIC} eggs")
    assert answer["text"] == ":warning: no alert rule `eggs`; rules are: spam-wave, security"


async def test_mutes_lists_them_and_unmute_lifts_them(lookout: Bot) -> None:
    _, answer = await lookout.command("mutes")
    assert answer == {"response_type": "ephemeral", "text": "Nothing is muted."}
    await lookout.command(f"mute {TOPIC}")
    await lookout.command(f"mute {OTHER} security for 3d")
    _, answer = await lookout.command("mutes")
    first, second, hint = answer["text"].splitlines()[1:]
    assert first.startswith(f"• alerts about topic #{TOPIC}, by <@{ADMIN}> <!date^")
    assert second.startswith(f"• *security* alerts about topic #{OTHER} until <!date^")
    assert hint == "Lift one with `/lookout unmute <topic> [rule]`."
    _, answer = await lookout.command(f"unmute {OTHER} spam-wave")
    assert answer["text"] == (f":warning: rule `spam-wave` is not muted on topic #{OTHER}; `/lookout mutes` lists "
                              "the mutes in force")
    _, answer = await lookout.command(f"unmute {OTHER}")
    assert answer == {"response_type": "in_channel",
                      "text": f":loud_sound: <@{ADMIN}> unmuted *security* alerts about topic #{OTHER}."}
    assert lookout.store.muted() == {Mute(TOPIC)}
    _, answer = await lookout.command(f"unmute {OTHER}")
    assert answer["text"].startswith(f":warning: topic #{OTHER} is not muted")


async def test_the_mute_button_asks_first_mutes_its_rule_and_undo_lifts_it(lookout: Bot, slack: FakeSlack) -> None:
    blocks = alert_blocks(alert(), {"spam": ["spam", "ham"]})
    mute = button(blocks, "lookout_mute")
    assert mute["confirm"]["title"]["text"] == "Mute these alerts?" and mute["confirm"]["style"] == "danger"
    assert mute["confirm"]["text"]["text"].startswith(f"No more *spam-wave* alerts about topic #{TOPIC}")
    await lookout.action(mute, blocks)
    await wait_for(lambda: slack.calls["chat.update"])
    assert lookout.store.muted() == {Mute(TOPIC, "spam-wave")}, "the security rule still alerts about the topic"
    shown = updated_blocks(slack)
    assert shown[-2]["elements"][0]["text"] == f":mute: <@{ADMIN}> muted *spam-wave* alerts about topic #{TOPIC}"
    undo = button(shown, "lookout_unmute")
    assert undo["text"]["text"] == "Undo" and "confirm" not in undo
    await lookout.action(undo, shown)
    await wait_for(lambda: slack.responses)
    assert lookout.store.muted() == set()
    [reply] = slack.responses
    assert reply["replace_original"] is True and len(reply["blocks"]) == len(shown)
    assert reply["blocks"][-1]["elements"][0]["text"] == \
        f":loud_sound: <@{ADMIN}> unmuted *spam-wave* alerts about topic #{TOPIC}."
    await lookout.action(undo, shown)
    await wait_for(lambda: len(slack.responses) == 2)
    assert slack.responses[1]["text"].startswith(":warning: rule `spam-wave` is not muted")


async def test_the_mute_commands_answer_carries_an_undo_button(lookout: Bot, slack: FakeSlack) -> None:
    end = datetime.fromtimestamp(time.time() + 30 * 86400, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    _, answer = await lookout.command(f"mute {TOPIC} security until {end:%Y-%m-%d}")
    assert lookout.store.muted() == {Mute(TOPIC, "security", end.timestamp())}
    await lookout.action(button(answer["blocks"], "lookout_unmute"), answer["blocks"])
    await wait_for(lambda: slack.responses)
    assert lookout.store.muted() == set() and "unmuted *security*" in json.dumps(slack.responses[0]["blocks"])


def test_the_taxonomys_discard_button_asks_before_it_discards() -> None:
    label = {"name": "first", "description": "d", "topics": [1], "size": 1}
    blocks = taxonomy_blocks({"id": 3, "status": "open", "labels": [label, {**label, "name": "second"}]})
    discard = button(blocks, "lookout_tax_discard")
    assert discard["confirm"]["title"]["text"] == "Discard this proposal?"
    assert discard["confirm"]["text"]["text"].startswith("Proposal #3 and its labels are dropped for good")


GUARDED = [f"mute {TOPIC}", f"unmute {TOPIC}", "watch add https://blog.example.org/feed.xml blog", "watch remove x",
           "retrain", "taxonomy 3"]


@pytest.mark.parametrize("text", GUARDED)
async def test_with_no_admins_set_a_plain_member_may_not_mute_or_change_watches(lookout: Bot, slack: FakeSlack,
                                                                               text: str) -> None:
    lookout.store.mute(TOPIC, OWNER)
    _, answer = await lookout.command(text, user=MEMBER)
    assert answer == {"response_type": "ephemeral", "text": messages.NOT_WORKSPACE_ADMIN.format(
        what=text_rule(text))}
    assert lookout.store.muted() == {Mute(TOPIC)} and lookout.store.watches() == [] and lookout.store.runs() == []
    assert [c["user"] for c in slack.calls["users.info"]] == [MEMBER]


def text_rule(text: str) -> str:
    from bot.access import RULES, key_of

    return RULES[key_of({"command": "/lookout", "text": text})].what  # type: ignore[index]


async def test_with_no_admins_set_workspace_admins_and_owners_may_and_are_asked_about_once(
        lookout: Bot, slack: FakeSlack) -> None:
    _, answer = await lookout.command(f"mute {TOPIC}", user=OWNER)
    assert answer["text"].startswith("Muted alerts")
    _, answer = await lookout.command(f"unmute {TOPIC}", user=ADMIN)
    assert answer["text"].startswith(":loud_sound:")
    await lookout.command(f"mute {TOPIC}", user=ADMIN)
    _, answer = await lookout.command("mutes", user=MEMBER)
    assert answer["text"].startswith("*Muted*"), "anyone may see what is muted"
    assert sorted(c["user"] for c in slack.calls["users.info"]) == [ADMIN, OWNER], "each answer is kept"


async def test_with_no_admins_set_a_plain_members_mute_and_undo_clicks_change_nothing(lookout: Bot,
                                                                                      slack: FakeSlack) -> None:
    blocks = alert_blocks(alert(), {})
    await lookout.action(button(blocks, "lookout_mute"), blocks, user=MEMBER)
    await wait_for(lambda: slack.responses)
    refusal = messages.NOT_WORKSPACE_ADMIN.format(what="mute topics")
    assert slack.responses == [{"response_type": "ephemeral", "replace_original": False, "text": refusal}]
    lookout.store.mute(TOPIC, ADMIN, "spam-wave")
    from bot.blocks import undo_mute

    shown = [*blocks, *undo_mute(TOPIC, "spam-wave", "muted", "1")]
    await lookout.action(button(shown, "lookout_unmute"), shown, user=MEMBER)
    await wait_for(lambda: len(slack.responses) == 2)
    assert slack.responses[1]["text"] == messages.NOT_WORKSPACE_ADMIN.format(what="unmute topics")
    assert lookout.store.muted() == {Mute(TOPIC, "spam-wave")} and "chat.update" not in slack.calls


async def test_when_slack_cannot_say_who_is_admin_nothing_changes_and_the_answer_is_not_kept(
        lookout: Bot, slack: FakeSlack) -> None:
    slack.failing["users.info"] = "internal_error"
    _, answer = await lookout.command(f"mute {TOPIC}")
    assert answer["text"] == messages.admins_unknown("internal_error") and lookout.store.muted() == set()
    del slack.failing["users.info"]
    _, answer = await lookout.command(f"mute {TOPIC}")
    assert answer["text"].startswith("Muted alerts")


async def test_a_workspace_admins_answer_is_asked_again_after_five_minutes(tmp_path: Path, slack: FakeSlack) -> None:
    settings = bot_settings(tmp_path, ALERTS)
    store = Store(settings.store.path)
    store.db["topics"].insert({"id": TOPIC, "size": 5, "keywords": "[]", "representatives": "[]", "alive": 1})
    clock = Clock(0.0)
    async with served(settings, store, slack, clock) as bot:
        assert (await bot.command(f"mute {TOPIC}"))[1]["text"].startswith("Muted")
        slack.workspace_admins.discard(ADMIN)
        clock.now = 300.0
        assert (await bot.command(f"unmute {TOPIC}"))[1]["text"].startswith(":loud_sound:")
        clock.now = 300.5
        _, answer = await bot.command(f"mute {TOPIC}")
        assert answer["text"] == messages.NOT_WORKSPACE_ADMIN.format(what="mute topics")
    assert len(slack.calls["users.info"]) == 2 and store.muted() == set()
    store.close()


async def test_configured_admins_are_the_only_admins_and_slack_is_not_asked(tmp_path: Path, slack: FakeSlack) -> None:
    settings = bot_settings(tmp_path, '[bot]\nadmins = ["U0BOSS"]\n' + ALERTS)
    store = Store(settings.store.path)
    store.db["topics"].insert({"id": TOPIC, "size": 5, "keywords": "[]", "representatives": "[]", "alive": 1})
    async with served(settings, store, slack) as bot:
        _, answer = await bot.command(f"mute {TOPIC}", user=OWNER)
        assert answer["text"] == messages.NOT_ADMIN.format(what="mute topics")
        assert (await bot.command(f"mute {TOPIC}", user="U0BOSS"))[1]["text"].startswith("Muted")
    assert "users.info" not in slack.calls
    store.close()


def test_a_mute_set_before_a_merge_is_lifted_by_either_topic_number(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.db["topics"].insert_all([{"id": 1, "size": 1, "keywords": "[]", "representatives": "[]", "alive": 0,
                                    "merged_into": 2}, {"id": 2, "size": 9, "keywords": "[]",
                                                        "representatives": "[]", "alive": 1}])
    service.mute(store, load_settings(None, env={}), MuteRequest("1"), "U1")
    assert store.muted() == {Mute(2)} and store.mutes()[0].on == 2
    assert [m.topic_id for m in service.unmute(store, "#2")] == [1]
    store.close()


def test_mutes_stored_before_mutes_had_a_rule_and_an_end_stay_in_force(tmp_path: Path) -> None:
    import sqlite_utils

    from monitor.store.migrations import m012_mute_scope, migrations

    old = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(old, stop_before=m012_mute_scope.__name__)
    old["mutes"].insert({"topic_id": 7, "user": "U1", "created_at": 1.0})
    old.close()
    store = Store(tmp_path / "old.db")
    assert store.muted() == {Mute(7)}
    store.mute(7, "U2", "security", until=2e9)
    assert store.muted(now=1e9) == {Mute(7), Mute(7, "security", 2e9)}
    store.close()
