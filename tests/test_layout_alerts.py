"""Alerts as a person reads them: real alerts from the committed sample, fired by the daemon (a keyword and a
topic_size rule) or by the alert engine over hours of arrivals (a topic_burst rule), posted through the Slack
notifier to the recording fake Slack (which refuses what breaks Block Kit's limits), and a topic alert muted
through the real Bolt app.

To read a few rendered alerts' Block Kit JSON yourself: ``python -m tests.test_layout_alerts`` (with the bundled
model; ``--model PATH`` for another)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bot.mrkdwn import local
from bot.notifier import SlackNotifier
from models.embedding import Encoder
from models.topics import OnlineTopicModel
from monitor.config.load import load_settings
from monitor.config.schema import AlertSettings, Settings
from monitor.daemon.core import Daemon
from monitor.enrich.alerts import Alert, AlertEngine, Evaluation, Mute, Rule
from monitor.enrich.build import build_pipeline
from monitor.enrich.describe import link_typical, name_topics
from monitor.ingest.item import Item, make_id
from monitor.ingest.registry import build_sources
from monitor.store.db import Store
from tests.bot_helpers import TASKS, served
from tests.fake_slack import FakeSlack
from tests.servers import sample_rows, wait_for

TOKYO = "Asia/Tokyo"
RULES = r"""
[[alerts]]
name = "security"
kind = "keyword"
pattern = '(?i)\b(virus|security|exploits?)\b'

[[alerts]]
name = "emerging"
kind = "topic_size"
size = 3
"""


def sample_settings(tmp: Path, model: str, n: int = 40) -> Settings:
    """A replay of the first ``n`` items of the committed sample (each with a link), one task, a keyword and a
    topic_size rule, alerts to C0ALERTS, times in Tokyo."""
    data = tmp / "sample.jsonl"
    data.write_text("".join(json.dumps({**r, "url": f"https://lists.example.org/{i}"}) + "\n"
                            for i, r in enumerate(sample_rows(n))))
    cfg = tmp / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp / "l.db"}"\n[model]\nembedding = "{model}"\n[slack]\nchannel = "C0ALERTS"\n'
                   f'[time]\ntimezone = "{TOKYO}"\n[[replays]]\nname = "list"\npath = "{data}"\n{TASKS}{RULES}')
    return load_settings(cfg, env={})


def notifier(settings: Settings, slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier("xoxb-test-token", slack.base_url, per_second=100,
                         tasks={t.name: [x.name for x in t.labels] for t in settings.tasks},
                         zone=settings.time.timezone)


async def daemon_alerts(settings: Settings, encoder: Encoder, slack: FakeSlack) -> Store:
    """Run the daemon over the sample until idle, posting its alerts to the fake Slack; returns the store."""
    store = Store(settings.store.path)
    await Daemon(settings, store, build_pipeline(settings, store, encoder), notifier(settings, slack),
                 build_sources(settings)).run(until_idle=True)
    return Store(settings.store.path)


def burst_alert(store: Store, encoder: Encoder) -> Alert:
    """A topic_burst alert over real sample items: one item an hour for four hours, then a handful in the fifth;
    its topic named and its typical items linked as the daemon does."""
    rows = sample_rows(12, start=40)
    items = [Item(id=make_id("list", r["id"]), source="list", title=r["title"], text=r["text"],
                  url=f"https://lists.example.org/b{i}") for i, r in enumerate(rows)]
    store.add_items("list", "replay", items)
    topics = OnlineTopicModel(threshold=0.01, merge_threshold=0.99)
    vectors = encoder.encode([i.content for i in items])
    engine = AlertEngine([Rule.from_settings(AlertSettings(name="outbreak", kind="topic_burst", factor=2.0,
                                                           min_count=5, warmup_bins=3), "C0ALERTS")])
    hours = [0, 1, 2, 3] + [4] * 8
    for item, vector, hour in zip(items, vectors, hours, strict=False):
        at = 1_700_000_000.0 + hour * 3600 + 60
        tid = topics.update(np.asarray(vector), text=item.content, item_id=item.id, ts=at)
        fired = engine.evaluate(Evaluation(item, [], tid, topics.get(tid).size), at)
        if fired:
            [alert] = fired
            alert.topic_keywords = topics.keywords(tid, 8)
            link_typical(fired, store.links(name_topics(fired, topics)))
            return alert
    raise AssertionError("the burst rule never fired")


def texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def posted(slack: FakeSlack, rule: str) -> list[dict[str, Any]]:
    call = next(c for c in slack.calls["chat.postMessage"] if c["text"].startswith(f"[{rule}]"))
    blocks = call["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def visible(mrkdwn: str) -> str:
    """What a reader sees of escaped mrkdwn text: entities decoded, links shown as their label."""
    shown = re.sub(r"<[^|>]+\|([^>]+)>", r"\1", mrkdwn)
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def test_a_keyword_alert_leads_with_the_rule_and_pattern_then_a_short_snippet(
        tmp_path: Path, tiny_model: str, slack: FakeSlack) -> None:
    settings = sample_settings(tmp_path, tiny_model)
    store = await daemon_alerts(settings, Encoder(tiny_model), slack)
    statuses = {r["status"] for r in store.db.query("select status from alerts")}
    assert statuses == {"sent"}, "the fake Slack took every alert (it refuses blocks over Block Kit's limits)"
    blocks = posted(slack, "security")
    assert blocks[0]["text"]["text"] == r":mag: Keyword rule *security* matched `(?i)\b(virus|security|exploits?)\b`"
    title, snippet = blocks[1]["text"]["text"].split("\n")
    first = sample_rows(1)[0]
    assert title == f"*<https://lists.example.org/0|{first['title']}>*"
    shown = visible(snippet)
    flat = " ".join(first["text"].split())
    assert shown.endswith("…") and len(shown) <= 200 and flat.startswith(shown[:-1])
    assert flat[len(shown) - 1] in " ,.;:-", "cut at a word"
    labels, topic = (e["text"] for e in blocks[2]["elements"])
    assert re.match(r"^Labels: \*spam\*: (spam|ham) \d+%", labels)
    alert = next(Alert(**json.loads(r["payload"])) for r in store.db.query("select payload from alerts order by id")
                 if json.loads(r["payload"])["rule"] == "security")
    assert alert.topic_name and topic.startswith(f"*Topic {alert.topic_name}* (") and "#" not in topic
    assert blocks[-1]["elements"][0]["text"].endswith(f"|{local(alert.created_at, TOKYO)}>")
    assert local(alert.created_at, TOKYO).endswith(" JST")
    assert not re.search(r"\b1 items", texts(blocks))
    store.close()


async def test_a_topic_size_alert_shows_the_topic_and_its_three_typical_items_and_mutes_through_bolt(
        tmp_path: Path, tiny_model: str, slack: FakeSlack) -> None:
    settings = sample_settings(tmp_path, tiny_model)
    store = await daemon_alerts(settings, Encoder(tiny_model), slack)
    blocks = posted(slack, "emerging")
    alert = next(a for a in (Alert(**json.loads(r["payload"])) for r in store.db.query(
        "select payload from alerts order by id")) if a.rule == "emerging")
    assert blocks[0]["text"]["text"] == f":busts_in_silhouette: Topic *{alert.topic_name}* grew to 3 items"
    body = blocks[1]["text"]["text"]
    assert body.startswith(f"Keywords: {', '.join(alert.topic_keywords)}\n")
    typical = body.split("*Most typical items*\n")[1].splitlines()
    links = store.links([i for i, *_ in alert.typical])
    assert len(typical) == 3 and typical == [f"• <{links[i][1]}|{links[i][0]}>" for i, *_ in alert.typical]
    [row] = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in row["elements"]] == ["lookout_mute"], "a topic alert has no one item's labels"
    async with served(settings, store, slack) as bot:
        await bot.action({**row["elements"][0], "block_id": "b", "action_ts": "1"}, blocks)
        await wait_for(lambda: slack.calls["chat.update"])
    assert store.muted() == {Mute(alert.topic_id, "emerging")}, "the button mutes its rule on the topic"
    store.close()


async def test_a_burst_alert_says_how_many_items_came_against_the_usual_and_shows_three_typical_items(
        tmp_path: Path, tiny_model: str, slack: FakeSlack) -> None:
    store = Store(tmp_path / "b.db")
    alert = burst_alert(store, Encoder(tiny_model))
    sender = SlackNotifier("xoxb-test-token", slack.base_url, zone=TOKYO)
    await sender.send(alert)
    await sender.close()
    blocks = posted(slack, "outbreak")
    assert blocks[0]["text"]["text"] == f":zap: Burst: *{alert.topic_name}* 5 items this hour vs ~0.8"
    assert alert.topic_name and alert.baseline == 0.76
    keywords, items = blocks[1]["text"]["text"].split("\n*Most typical items*\n")
    assert keywords.endswith(f" · {alert.topic_size} items in all")
    items = items.splitlines()
    assert len(items) == 3 and all(re.match(r"^• <https://lists\.example\.org/b\d+\|[^>]+>$", i) for i in items)
    assert slack.calls["chat.postMessage"][0]["text"] == \
        f"[outbreak] Burst: {alert.topic_name} 5 items this hour vs ~0.8"
    store.close()


async def test_a_long_label_is_offered_shortened_and_its_option_value_stays_within_slacks_limit(
        slack: FakeSlack) -> None:
    long = "x" * 120
    alert = Alert(rule="r", item_id="0" * 20, topic_id=1, cooldown_key="k", channel="C0ALERTS", created_at=1.0,
                  reason="spam is spam (90% sure)", title="t", url="", source="s", snippet="s", kind="label",
                  labels=[["spam", "spam", 0.9, False]])
    sender = SlackNotifier("xoxb-test-token", slack.base_url, tasks={"spam": ["spam", long]})
    await sender.send(alert)
    await sender.close()
    [menu] = [e for b in posted(slack, "r") if b["type"] == "actions" for e in b["elements"]
              if e["type"] == "static_select"]
    assert [o["text"]["text"] for o in menu["options"]] == ["spam", "x" * 74 + "…"]
    assert all(len(o["value"]) <= 150 for o in menu["options"]), "options carry the label's index, not its name"


async def show(model: str) -> None:
    """Print the Block Kit of the sample's alerts (keyword, topic_size, topic_burst) as posted."""
    slack = await FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = sample_settings(Path(tmp), model, n=80)
        encoder = Encoder(model)
        store = await daemon_alerts(settings, encoder, slack)
        sender = notifier(settings, slack)
        await sender.send(burst_alert(store, encoder))
        await sender.close()
        store.close()
    await slack.stop()
    for call in slack.calls["chat.postMessage"]:
        blocks = json.loads(call["blocks"]) if isinstance(call["blocks"], str) else call["blocks"]
        print(f"--- {call['text']}\n{json.dumps(blocks, indent=1, ensure_ascii=False)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Print the Block Kit JSON of alerts from the committed sample.")
    parser.add_argument("--model", default="bundled", help="sentence-transformers model (default: the bundled one)")
    asyncio.run(show(parser.parse_args().model))
