"""Task, label and rule names a valid configuration allows always fit what Slack takes: the longest one goes through
the real pipeline, notifier and fake Slack (which refuses blocks over Block Kit's limits, as Slack does), and a name
Slack or `/lookout label` could not carry is refused by `lookout settings --check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError

from bot.blocks import alert_blocks
from bot.notifier import make_notifier, slack_client
from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.config.validate import NAME_CHARS
from monitor.daemon.core import Daemon
from monitor.enrich.alerts import Alert
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.store.db import Store
from tests.bot_helpers import Bot, served
from tests.cli import lookout_here
from tests.fake_slack import FakeSlack
from tests.servers import sample_rows, wait_for

TASK = "ü" * (NAME_CHARS - 4) + "task"
LABELS = ["é" * NAME_CHARS, "ß" * (NAME_CHARS - 1) + "x"]


def config(tmp_path: Path, slack: FakeSlack, task: str = TASK, labels: list[str] = LABELS, rule: str = "r" * 40
           ) -> Path:
    data = tmp_path / "s.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(6)))
    label_rows = "".join(f'  [[tasks.labels]]\n  name = "{name}"\n' for name in labels)
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[slack]\nbase_url = "{slack.base_url}"\n'
                   f'channel = "C0ALERTS"\n[[replays]]\nname = "list"\npath = "{data}"\n'
                   f'[[tasks]]\nname = "{task}"\n{label_rows}'
                   f'[[alerts]]\nname = "{rule}"\nkind = "keyword"\npattern = "(?s)."\ncooldown_scope = "rule"\n'
                   "cooldown_minutes = 0\n")
    return cfg


async def test_the_longest_names_a_config_allows_reach_slack_on_every_alert(tmp_path: Path, tiny_model: str,
                                                                           slack: FakeSlack) -> None:
    settings = load_settings(config(tmp_path, slack), env={"SLACK_BOT_TOKEN": "xoxb-test-token"})
    store = Store(settings.store.path)
    notifier = make_notifier(settings, print)
    try:
        await Daemon(settings, store, build_pipeline(settings, store, Encoder(tiny_model)), notifier,
                     build_sources(settings)).run(until_idle=True)
    finally:
        await notifier.close()  # type: ignore[attr-defined]
    statuses = [r["status"] for r in store.db.query("select status from alerts")]
    assert len(statuses) == 6 and set(statuses) == {"sent"}, "Slack took every alert"
    posted = slack.calls["chat.postMessage"]
    assert len(posted) == 6
    blocks = posted[0]["blocks"] if isinstance(posted[0]["blocks"], list) else json.loads(posted[0]["blocks"])
    menu = next(e for b in blocks for e in b.get("elements", []) if e.get("type") == "static_select")
    assert [o["text"]["text"] for o in menu["options"]] == LABELS, "each label is shown in full"
    store.close()


async def test_the_fake_refuses_an_option_value_over_150_characters_as_slack_does(slack: FakeSlack) -> None:
    client = slack_client("xoxb-test-token", slack.base_url)
    option = {"text": {"type": "plain_text", "text": "é"}, "value": json.dumps({"l": LABELS[0], "t": TASK})}
    blocks = [{"type": "actions", "elements": [{"type": "static_select", "action_id": "x", "options": [option]}]}]
    assert len(option["value"]) > 150
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C0ALERTS", text="t", blocks=blocks)
    assert refused.value.response["error"] == "invalid_blocks"
    assert refused.value.response["errors"] == [
        "must be less than 151 characters [json-pointer:/blocks/0/elements/0/options/0/value]"]
    await client.session.close() if client.session else None


async def test_a_menu_older_than_a_change_of_the_labels_records_nothing(tmp_path: Path, slack: FakeSlack) -> None:
    settings = load_settings(config(tmp_path, slack, task="spam", labels=["eggs", "ham"]), env={})
    store = Store(settings.store.path)
    from monitor.ingest.item import Item, make_id

    item = make_id("list", "1")
    store.add_items("list", "replay", [Item(id=item, source="list", title="t", text="x")])
    alert = Alert(rule="r", item_id=item, topic_id=1, cooldown_key="k", channel="C0ALERTS", created_at=1.0,
                  reason="r", title="t", url="", source="list", snippet="s", labels=[["spam", "spam", 0.9, False]])
    blocks = alert_blocks(alert, {"spam": ["spam", "ham", "eggs"]})
    menu = next(e for b in blocks for e in b.get("elements", []) if e.get("type") == "static_select")
    async with served(settings, store, slack) as bot:
        for option, text in ((menu["options"][0], "the labels of task `spam` changed"),
                             (menu["options"][2], "the labels of task `spam` changed"),
                             (menu["options"][1], ":pencil2: <@U0ADA> set spam to ham")):
            calls = len(slack.calls["chat.update"])
            await Bot.action(bot, {**menu, "block_id": "b", "selected_option": option, "action_ts": "1"}, blocks)
            await wait_for(lambda calls=calls: len(slack.calls["chat.update"]) > calls)
            shown = slack.calls["chat.update"][-1]["blocks"]
            assert text in shown[-1]["elements"][0]["text"]
    assert [(c.task, c.new_label) for c in store.corrections()] == [("spam", "ham")], \
        "index 0 is another label now and index 2 is gone: only the entry whose label is where it was counts"
    store.close()


@pytest.mark.parametrize(("names", "where"), [
    ({"task": "spam filter"}, """tasks "spam filter".name = 'spam filter'"""),
    ({"labels": ["ham", "not spam"]}, ".labels[1].name = 'not spam'"),
    ({"labels": ["ham", "x" * (NAME_CHARS + 1)]}, ".labels[1].name = 'xxx"),
    ({"rule": "spam\\twave"}, "alerts \"spam\twave\".name = 'spam\\twave'"),
])
def test_settings_check_refuses_names_slack_or_lookout_label_cannot_carry(
        tmp_path: Path, slack: FakeSlack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        names: dict, where: str) -> None:
    result = lookout_here(capsys, monkeypatch, "settings", "--check", str(config(tmp_path, slack, **names)))
    assert result.returncode != 0
    assert where in result.stderr and f"expected one word (no spaces) of up to {NAME_CHARS} characters" in \
        result.stderr


def test_settings_check_takes_the_longest_names(tmp_path: Path, slack: FakeSlack, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert lookout_here(capsys, monkeypatch, "settings", "--check", str(config(tmp_path, slack))).returncode == 0
