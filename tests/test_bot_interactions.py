"""Buttons, menus and modals on the bot's messages: relabel menus and confirm buttons on alerts, answers to
active-learning questions, training notes in threads, and a taxonomy proposed, reviewed and accepted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_app
from bot.blocks import alert_blocks
from bot.notifier import slack_client
from bot.server import make_web_app
from monitor.config.load import load_settings
from monitor.enrich.alerts import Alert
from monitor.store.db import Store
from monitor.store.learning_rows import UnsureItem
from tests.bot_helpers import SECRET, Bot
from tests.fake_slack import FakeSlack
from tests.servers import serve, wait_for


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
    assert [c.new_label for c in bot.store.corrections()] == [other, other]


async def test_an_answer_to_an_active_learning_question_is_a_correction(bot: Bot) -> None:
    from bot.blocks import question_blocks
    from monitor.daemon.notify import Question

    rows = bot.store.least_sure("spam", 0, 3)
    assert len(rows) == 3 and rows == sorted(rows, key=lambda r: r.margin)
    blocks = question_blocks(Question("spam", ["spam", "ham"], rows, "C0ALERTS"))
    assert len(blocks) == 7 and [b["text"] for b in blocks[2]["elements"]] == \
        [{"type": "plain_text", "text": "spam"}, {"type": "plain_text", "text": "ham"}]
    button = blocks[2]["elements"][1]
    await bot.action({**button, "block_id": "q", "action_ts": "1"}, blocks)
    await wait_for(lambda: bot.slack.calls["chat.update"])
    [row] = bot.store.corrections()
    assert (row.item_id, row.new_label, row.via) == (rows[0].item_id, "ham", "slack")
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
    item = UnsureItem(item_id="a" * 20, title="<@U123> win", text="x" * 5000, url="javascript:x", label="spam",
                      margin=0.01, topic_id=0)
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
        await wait_for(lambda: [r.thread for r in store.runs()] != [""])  # stored once Slack answered the post
        [run] = store.runs()
        assert (run.task, run.via, run.thread) == ("theme", "taxonomy", posted_ts(store))
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
