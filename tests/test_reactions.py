"""Reactions as feedback, through the real daemon (which posts the alerts to the recording fake Slack) and the real
Bolt app taking signed ``reaction_added`` events: the confirming emoji records the alert's labels as confirmed,
the disputing one offers the relabel menus to whoever reacted, and only those who may correct are heard."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.store.db import Store
from tests.bot_helpers import Bot, event_body, served, signed, trigger_id
from tests.daemon_helpers import append, config, deliver
from tests.fake_slack import FakeSlack
from tests.servers import wait_for

ROOT_TS = "1700000001.000100"


@pytest.fixture(scope="module")
def encoder(tiny_model: str) -> Encoder:
    return Encoder(tiny_model)


@pytest.fixture
async def posted(tmp_path: Path, tiny_model: str, slack: FakeSlack, encoder: Encoder) -> Settings:
    """Settings whose store holds one alert, posted as ``ROOT_TS`` in channel C0LOOK."""
    cfg = config(tmp_path, tiny_model, slack)
    append(cfg, [{"id": "r1", "title": "Cheap pills", "text": "Buy cheap pills now, limited offer"}])
    await deliver(cfg, encoder)
    slack.calls.clear()
    return load_settings(cfg, env={})


async def react(app: Bot, reaction: str, user: str = "U0ADA", ts: str = ROOT_TS) -> None:
    body = event_body({"type": "reaction_added", "user": user, "reaction": reaction, "item_user": "U0BOT",
                       "item": {"type": "message", "channel": "C0LOOK", "ts": ts}, "event_ts": f"{time.time():.6f}"})
    status, _ = await app.post(body, {**signed(body), "Content-Type": "application/json"})
    assert status == 200


async def choose(app: Bot, menu: dict[str, Any], label: str, user: str = "U0ADA") -> None:
    """Pick ``label`` in a menu of an ephemeral message (Slack sends no copy of such a message)."""
    option = next(o for o in menu["options"] if o["text"]["text"] == label)
    payload = {"type": "block_actions", "user": {"id": user, "team_id": "T0TEST"}, "team": {"id": "T0TEST"},
               "api_app_id": "A0APP", "channel": {"id": "C0LOOK"},
               "container": {"type": "message", "message_ts": "1800000001.000200", "channel_id": "C0LOOK",
                             "is_ephemeral": True},
               "response_url": app.slack.response_url, "trigger_id": trigger_id(),
               "actions": [{"action_id": menu["action_id"], "block_id": "b", "type": "static_select",
                            "selected_option": option, "action_ts": "1"}]}
    status, _ = await app.post(urlencode({"payload": json.dumps(payload)}))
    assert status == 200


async def test_a_confirming_reaction_records_the_labels_as_confirmed(posted: Settings, slack: FakeSlack) -> None:
    store = Store(posted.store.path)
    item = store.db.execute("select item_id from alerts").fetchone()[0]
    label = store.labels_of(item)["spam"]
    async with served(posted, store, slack) as app:
        await react(app, "tada")
        await react(app, "white_check_mark", ts="1699999999.000100")
        await react(app, "white_check_mark")
        await wait_for(lambda: slack.calls["chat.postEphemeral"])
    [told] = slack.calls["chat.postEphemeral"]
    assert (told["channel"], told["user"]) == ("C0LOOK", "U0ADA")
    assert told["text"] == f"Recorded: *Cheap pills* is *{label}* in `spam` (confirmed)."
    [row] = store.corrections()
    assert (row.item_id, row.task, row.old_label, row.new_label, row.user, row.via) == \
        (item, "spam", label, label, "U0ADA", "reaction")
    store.close()


async def test_a_disputing_reaction_offers_the_relabel_menu_to_whoever_reacted(posted: Settings,
                                                                               slack: FakeSlack) -> None:
    store = Store(posted.store.path)
    item = store.db.execute("select item_id from alerts").fetchone()[0]
    label = store.labels_of(item)["spam"]
    other = "ham" if label == "spam" else "spam"
    async with served(posted, store, slack) as app:
        await react(app, "x")
        await wait_for(lambda: slack.calls["chat.postEphemeral"])
        [offer] = slack.calls["chat.postEphemeral"]
        assert (offer["channel"], offer["user"]) == ("C0LOOK", "U0ADA") and store.corrections() == []
        [menu] = offer["blocks"][1]["elements"]
        assert menu["action_id"] == "lookout_relabel:spam" and menu["type"] == "static_select"
        await choose(app, menu, other)
        await wait_for(lambda: slack.responses)
    [row] = store.corrections()
    assert (row.item_id, row.old_label, row.new_label, row.user) == (item, label, other, "U0ADA")
    [reply] = slack.responses
    assert reply["replace_original"] is True
    assert reply["blocks"][0]["elements"][0]["text"] == f":pencil2: <@U0ADA> set spam to {other} (was {label})"
    store.close()


async def test_only_members_may_react_to_correct_and_the_emoji_are_settings(posted: Settings,
                                                                           slack: FakeSlack) -> None:
    settings = dataclasses.replace(posted, bot=dataclasses.replace(
        posted.bot, channels=("C0LOOKOUT",), confirm_reaction="thumbsup", dispute_reaction="thumbsdown"))
    slack.members = {"C0LOOKOUT": ["U0BOSS"]}
    store = Store(settings.store.path)
    async with served(settings, store, slack) as app:
        await react(app, "thumbsup")
        await wait_for(lambda: slack.calls["conversations.members"])
        await react(app, "white_check_mark", user="U0BOSS")
        await react(app, "x", user="U0BOSS")
        await react(app, "thumbsup", user="U0BOSS")
        await wait_for(lambda: slack.calls["chat.postEphemeral"])
        await react(app, "thumbsdown", user="U0BOSS")
        await wait_for(lambda: len(slack.calls["chat.postEphemeral"]) == 2)
    assert [c.user for c in store.corrections()] == ["U0BOSS"], "U0ADA is not a member; ✅ and ❌ are not set"
    assert [(c["user"], "blocks" in c) for c in slack.calls["chat.postEphemeral"]] == \
        [("U0BOSS", False), ("U0BOSS", True)]
    store.close()
