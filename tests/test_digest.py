"""Trend digests over a real SQLite store: an empty period, one topic, many topics; the console page and chart,
the Slack message with its chart uploaded through the files API, and `lookout digest`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from bot.notifier import SlackNotifier
from monitor.daemon.notify import ConsoleNotifier
from monitor.reports import digest as digests
from monitor.store.db import Store
from tests.cli import lookout_here
from tests.fake_slack import FakeSlack

DAY = 86400.0
NOW = 1_790_000_000.0
PNG = b"\x89PNG\r\n\x1a\n"


def add(store: Store, topic: int, keywords: list[str], per_day: list[int], label: str, name: str = "",
        url: str = "") -> None:
    """Items of ``topic``: ``per_day[-1]`` in the last day, ``per_day[-2]`` the day before, and so on. With a
    ``name``, the topic has that short name and its newest item (linking to ``url``) is its most typical."""
    rows, labels = [], []
    for back, n in enumerate(reversed(per_day)):
        for k in range(n):
            item = f"{topic:04d}{back:03d}{k:05d}"
            rows.append({"id": item, "source": "s", "title": f"{name} story\n  {item}" if name else item, "text": "x",
                         "url": "" if rows else url, "state": "done", "topic_id": topic,
                         "event_time": NOW - back * DAY - (k + 1) * 60})
            labels.append({"item_id": item, "task": "spam", "label": label, "confidence": 0.9, "unsure": 0,
                           "model": "zero-shot", "scores": "{}"})
    store.db["topics"].insert({"id": topic, "size": sum(per_day), "first_seen": NOW - 8 * DAY, "last_seen": NOW,
                               "keywords": json.dumps(keywords), "name": name or None,
                               "representatives": json.dumps([[0.9, rows[0]["id"], 0]] if name else []),
                               "vector_sum": np.zeros(4).tobytes(), "terms": "{}", "alive": 1}, replace=True)
    store.db["items"].insert_all(rows)
    store.db["labels"].insert_all(labels)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "lookout.db")
    yield s
    s.close()


def test_an_empty_period_renders_a_digest_that_says_so(store: Store, tmp_path: Path) -> None:
    d = digests.build(store, 24, 7, 5, tmp_path / "out", now=NOW)
    assert (d.items, d.rising, d.fading, d.busiest, d.labels) == (0, [], [], [], [])
    text = digests.text(d)
    assert "0 earlier periods of watched history; telling new and rising topics needs 3" in text, "an empty store"
    assert "no items in this period" in text
    assert d.chart is not None and d.chart.read_bytes()[:8] == PNG
    page = digests.write(d, tmp_path / "out").read_text()
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page


def test_one_topic_and_many_topics(store: Store, tmp_path: Path) -> None:
    add(store, 1, ["outage", "api"], [2, 2, 3, 2, 2, 2, 2, 12], "spam", "outage / api", "https://status.test/1")
    d = digests.build(store, 24, 7, 5, None, now=NOW)
    assert [t.topic_id for t in d.rising] == [1] and d.busiest == [(1, 12)] and d.chart is None
    assert (d.items, d.items_before) == (12, 2) and d.labels == [("spam", "spam", 12, 2)]

    add(store, 2, ["release", "<script>"], [6, 7, 6, 6, 7, 6, 6, 0], "ham", "release", "javascript:alert(1)")
    add(store, 3, ["lunch"], [0, 0, 0, 0, 0, 0, 0, 1], "ham")
    for topic in range(4, 12):
        add(store, topic, [f"t{topic}"], [1, 0, 1, 0, 1, 0, 1, 1], "ham")
    d = digests.build(store, 24, 7, 5, tmp_path / "out", now=NOW)
    assert d.rising[0].topic_id == 1 and [t.topic_id for t in d.fading] == [2]
    assert d.busiest[0] == (1, 12) and len(d.busiest) == 5
    assert ("spam", "spam", 12, 2) in d.labels and ("spam", "ham", 9, 14) in d.labels
    text = digests.text(d)
    assert "#1 outage / api (12 items): outage, api, score +" in text
    assert "      e.g. outage / api story 000100000000 <https://status.test/1>" in text, "the most typical item"
    assert "#2 release (0 items): release, <script>, usually 6.3" in text and "#3 (1 items): lunch" in text
    page = digests.write(d, tmp_path / "out").read_text()
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert '<a href="https://status.test/1">outage / api story 000100000000</a>' in page
    assert "e.g. release story 000200100000</small>" in page and 'href="javascript' not in page, \
        "only http(s) links are linked"
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".html", ".png"]


async def test_the_digest_goes_to_slack_with_its_chart_and_to_the_console(store: Store, tmp_path: Path,
                                                                          slack: FakeSlack) -> None:
    add(store, 1, ["outage", "<!channel>"], [2, 2, 3, 2, 2, 2, 2, 12], "spam", "outage", "https://status.test/1")
    d = digests.build(store, 24, 7, 5, tmp_path / "out", now=NOW)
    digests.write(d, tmp_path / "out")
    notifier = SlackNotifier("xoxb-test-token", slack.base_url, per_second=100)
    await notifier.digest(d, "C0DIGEST")
    await notifier.close()
    [message] = slack.calls["chat.postMessage"]
    blocks = json.loads(message["blocks"]) if isinstance(message["blocks"], str) else message["blocks"]
    assert blocks[0]["type"] == "header" and "Rising" in json.dumps(blocks)
    assert "<!channel>" not in json.dumps(blocks) and "&lt;!channel&gt;" in json.dumps(blocks)
    assert blocks[2]["text"]["text"] == "*New*\n_no new topic_", "new topics come first, then the rising"
    assert "*#1 outage* (12 items)" in blocks[3]["text"]["text"]
    assert "e.g. <https://status.test/1|outage story 000100000000>" in blocks[3]["text"]["text"]
    [complete] = slack.calls["files.completeUploadExternal"]
    assert complete["channel_id"] == "C0TEST" and complete["thread_ts"] == "1700000001.000100"
    [upload] = slack.uploads.values()
    assert upload[:8] == PNG

    out: list[str] = []
    await ConsoleNotifier(out.append, "never").digest(d, "#lookout")
    assert out[0].startswith("Lookout digest, ") and str(d.report) in out[0]


def test_lookout_digest_prints_and_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    s = Store(tmp_path / "lookout.db")
    now = time.time()
    s.db["items"].insert_all([{"id": f"i{k}", "source": "s", "title": "t", "text": "x", "state": "done",
                               "topic_id": 1, "event_time": now - k * 60} for k in range(4)])
    s.close()
    result = lookout_here(capsys, monkeypatch, "digest", "--db", str(tmp_path / "lookout.db"), "--hours", "1",
                          "--out", str(tmp_path / "reports"))
    assert result.returncode == 0 and "4 items, against 0 in the 1 hours before" in result.stdout
    assert "#1 (4 items)" in result.stdout and len(list((tmp_path / "reports").glob("digest-*.png"))) == 1
    bad = lookout_here(capsys, monkeypatch, "digest", "--db", str(tmp_path / "lookout.db"), "-c",
                       str(tmp_path / "missing.toml"))
    assert bad.returncode == 2


async def test_the_daemon_sends_the_scheduled_digest(tmp_path: Path, tiny_model: str) -> None:
    from models.embedding import Encoder
    from monitor.config.load import load_settings
    from monitor.daemon.core import Daemon
    from monitor.enrich.build import build_pipeline

    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f'[digest]\ncron = "0 8 * * *"\nhours = 1\nreport_dir = "{tmp_path / "reports"}"\n')
    settings = load_settings(cfg, env={})
    store = Store(settings.store.path)
    add(store, 1, ["outage"], [1], "spam")
    out: list[str] = []
    daemon = Daemon(settings, store, build_pipeline(settings, store, Encoder(tiny_model)),
                    ConsoleNotifier(out.append, "never"), [])
    d = await daemon.send_digest()
    assert d.hours == 1 and d.report is not None and d.report.parent == tmp_path / "reports"
    assert out[0].startswith("Lookout digest") and str(d.chart) in out[0]
    store.close()
    bad = tmp_path / "bad.toml"
    bad.write_text('[digest]\ncron = "every morning"\n')
    with pytest.raises(ValueError, match=r"digest\.cron = 'every morning': not a crontab schedule"):
        load_settings(bad, env={})


def test_lookout_digest_for_a_past_week_lists_the_new_story_apart_from_the_rising_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "lookout.db"
    end = 1_048_809_600.0  # 2003-03-28T00:00:00Z, the end of 2003-03-27
    with Store(db) as s:
        add(s, 1, ["iraq", "war"], [3, 4, 3, 4, 3, 30], "ham", "iraq / war")  # weeks, with history
        add(s, 2, ["sars", "pneumonia"], [0, 0, 0, 0, 0, 9], "ham", "sars / pneumonia")  # born this week
        add(s, 3, ["weather"], [5, 5, 5, 5, 5, 5], "ham")
        s.db.execute("update items set event_time = ? + (event_time - ?) * 7", [end, NOW])  # days to weeks
    args = ["digest", "--db", str(db), "--hours", str(7 * 24), "--history", "4", "--out", str(tmp_path / "r")]
    result = lookout_here(capsys, monkeypatch, *args, "--end", "2003-03-27", "--json")
    assert result.returncode == 0, result.stderr
    d = json.loads(result.stdout)
    assert (d["start"], d["end"]) == ("2003-03-21T00:00:00+00:00", "2003-03-28T00:00:00+00:00")
    assert [t["topic"] for t in d["new"]] == [2] and d["new"][0]["first_seen"].startswith("2003-03-2")
    assert [t["topic"] for t in d["rising"]] == [1] and d["rising"][0]["score"] > 3
    assert (d["items"], d["history_periods"], d["warmup_periods"]) == (44, 4, 3)
    assert set(d) == {"title", "start", "end", "hours", "items", "items_before", "history_periods",
                      "warmup_periods", "new", "rising", "fading", "busiest", "labels", "chart", "report"}
    assert set(d["new"][0]) == {"topic", "name", "keywords", "items", "typical", "first_seen"}
    assert set(d["rising"][0]) == {"topic", "name", "keywords", "items", "typical", "baseline", "score"}
    assert d["labels"] == [{"task": "spam", "label": "ham", "items": 44, "items_before": 8}]
    assert Path(d["chart"]).read_bytes()[:8] == PNG
    earlier = json.loads(lookout_here(capsys, monkeypatch, *args, "--end", "2003-03-20", "--json").stdout)
    assert (earlier["new"], earlier["rising"]) == ([], []), "the week before, nothing had happened yet"
    text = lookout_here(capsys, monkeypatch, *args, "--end", "2003-03-27").stdout
    assert "New:\n  #2 sars / pneumonia (9 items): sars, pneumonia, first seen 2003-03-2" in text
    assert "Rising:\n  #1 iraq / war (30 items): iraq, war, score +" in text
    young = lookout_here(capsys, monkeypatch, *args, "--end", "2003-03-06").stdout
    assert young.count("1 earlier period of watched history; telling new and rising topics needs 3") == 2
    default = json.loads(lookout_here(capsys, monkeypatch, *args, "--json").stdout)
    assert default["end"] == "2003-03-27T23:53:01+00:00", "an archive's digest ends just after its newest item"
