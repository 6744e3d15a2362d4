"""The daemon in-process: feeds polled by APScheduler, failures backed off, restarts that neither repeat nor skip."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier
from monitor.enrich.build import build_pipeline
from monitor.store.db import Store
from tests.cli import lookout, start
from tests.daemon_helpers import run, settings_for
from tests.fake_slack import FakeSlack
from tests.feed_server import FeedServer, Route, rss
from tests.servers import sample_rows, wait_for


@pytest.fixture(scope="module")
def encoder(tiny_model: str) -> Encoder:
    return Encoder(tiny_model)


async def test_a_failing_feed_backs_off_logs_once_and_never_stops_the_others(
        tmp_path: Path, tiny_model: str, encoder: Encoder, feed_server: FeedServer,
        caplog: pytest.LogCaptureFixture) -> None:
    feed_server.routes["/good"] = Route(body=rss(sample_rows(4)), etag='"g1"')
    feed_server.routes["/bad"] = Route(status=500, body=b"down")
    settings = settings_for(tmp_path, tiny_model, f"""
[[feeds]]
name = "good"
url = "{feed_server.url('/good')}"
interval_seconds = 0.1
[[feeds]]
name = "bad"
url = "{feed_server.url('/bad')}"
interval_seconds = 0.1
max_backoff_seconds = 0.4
""")
    out: list[str] = []
    caplog.set_level(logging.WARNING, "monitor")
    good, bad = feed_server.routes["/good"], feed_server.routes["/bad"]

    def bad_failed_a_while() -> bool:
        return bad.hits >= 4

    daemon = await run(settings, encoder, out, until_idle=False, stop_when=bad_failed_a_while)
    assert daemon.processed == 4 and len(out) == 4
    assert good.hits > bad.hits, "the failing feed is polled less often than the healthy one"
    failing = [r for r in caplog.records if "source bad failing" in r.getMessage()]
    assert len(failing) == 1 and "HTTP 500" in failing[0].getMessage()
    store = Store(settings.store.path)
    health = {s["name"]: s for s in store.status()["sources"]}
    assert health["bad"]["failures"] >= 4 and health["bad"]["last_error"] == "HTTP 500 Internal Server Error"
    assert health["good"]["failures"] == 0 and health["good"]["items_total"] == 4
    store.close()

    bad.status, bad.body = 200, rss(sample_rows(2, start=20))
    good.body, good.etag = rss(sample_rows(5)), '"g2"'
    caplog.clear()
    out.clear()
    daemon = await run(settings, encoder, out)
    assert daemon.processed == 3, "one new item on the good feed, two on the recovered one"
    assert len(out) == 3
    recovered = [r.getMessage() for r in caplog.records if "source bad recovered" in r.getMessage()]
    assert len(recovered) == 1, "a restart remembers that the feed was failing"
    store = Store(settings.store.path)
    assert store.status()["items"] == 7
    assert {s["name"]: s["failures"] for s in store.status()["sources"]} == {"bad": 0, "good": 0}
    store.close()

    out.clear()
    conditional_before = good.conditional_hits
    daemon = await run(settings, encoder, out)
    assert daemon.processed == 0 and out == []
    assert good.conditional_hits == conditional_before + 1, "the restart reused the stored ETag"


async def test_recovery_is_logged_once(tmp_path: Path, tiny_model: str, encoder: Encoder,
                                       feed_server: FeedServer, caplog: pytest.LogCaptureFixture) -> None:
    route = feed_server.routes["/flaky"] = Route(status=503, body=b"busy")
    settings = settings_for(tmp_path, tiny_model, f"""
[[feeds]]
name = "flaky"
url = "{feed_server.url('/flaky')}"
interval_seconds = 0.05
max_backoff_seconds = 0.1
""")
    caplog.set_level(logging.WARNING, "monitor")
    out: list[str] = []

    def heal_then_settle() -> bool:
        if route.hits >= 3 and route.status != 200:
            route.status, route.body = 200, rss(sample_rows(1))
        return route.status == 200 and route.hits >= 6

    await run(settings, encoder, out, until_idle=False, stop_when=heal_then_settle)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("source flaky failing" in m for m in messages) == 1
    assert sum("source flaky recovered" in m for m in messages) == 1
    assert len(out) == 1


async def test_a_replay_skips_bad_lines_with_a_warning_and_resumes_from_its_position(
        tmp_path: Path, tiny_model: str, encoder: Encoder, caplog: pytest.LogCaptureFixture) -> None:
    rows = [{**r, "timestamp": f"2002-09-0{i + 1}T12:00:00+00:00"} for i, r in enumerate(sample_rows(6))]
    textless = {"title": "", "timestamp": "2002-09-02T18:00:00+00:00"}
    lines = [json.dumps(r) for r in rows[:3]] + ["{not json", json.dumps(textless)] + \
        [json.dumps(r) for r in rows[3:]]
    data = tmp_path / "stream.jsonl"
    data.write_text("\n".join(lines) + "\n")
    settings = settings_for(tmp_path, tiny_model, f'[[replays]]\nname = "r"\npath = "{data}"\nlimit = 5\n')
    caplog.set_level(logging.WARNING, "monitor")
    out: list[str] = []
    assert (await run(settings, encoder, out)).processed == 4, "5 rows in event-time order, one of them textless"
    warnings = [r.getMessage() for r in caplog.records if "skipped line" in r.getMessage()]
    assert len(warnings) == 2 and "line 4" in warnings[0] and "line 5" in warnings[1]
    unlimited = settings_for(tmp_path, tiny_model, f'[[replays]]\nname = "r"\npath = "{data}"\n')
    assert (await run(unlimited, encoder, out)).processed == 2
    store = Store(settings.store.path)
    assert store.source_position("r") == {"line": 7}
    assert store.status()["items"] == 6
    store.close()


async def test_an_item_that_breaks_a_model_is_kept_as_failed_and_the_rest_go_through(
        tmp_path: Path, tiny_model: str, encoder: Encoder) -> None:
    rows = [*sample_rows(3), {"id": "poison", "title": "POISON", "text": "POISON pill"}, *sample_rows(3, start=3)]
    data = tmp_path / "stream.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    settings = settings_for(tmp_path, tiny_model, f'[[replays]]\nname = "r"\npath = "{data}"\n')

    class Fragile:
        def __init__(self) -> None:
            self.encode_calls = 0

        def encode(self, texts: list[str]):
            self.encode_calls += 1
            if any("POISON" in t for t in texts):
                raise RuntimeError("tensor exploded")
            return encoder.encode(texts)

    out: list[str] = []
    daemon = await run(settings, Fragile(), out)  # type: ignore[arg-type]
    assert daemon.processed == 7 and len(out) == 6
    store = Store(settings.store.path)
    status = store.status()
    assert (status["items"], status["failed"], status["pending"]) == (7, 1, 0)
    assert store.db.execute("select error from items where state = 'failed'").fetchone()[0] == \
        "RuntimeError: tensor exploded"
    _, meta = store.load_topics()
    assert meta["updates"] == 6
    store.close()


async def test_an_oversized_item_is_stored_cut_with_a_marker_not_dropped(tmp_path: Path, tiny_model: str,
                                                                         encoder: Encoder) -> None:
    data = tmp_path / "big.jsonl"
    data.write_text(json.dumps({"id": "big", "title": "Huge", "text": "x" * 1500}) + "\n")
    settings = settings_for(tmp_path, tiny_model, f'[[replays]]\nname = "r"\npath = "{data}"\n')
    settings = dataclasses.replace(settings, model=dataclasses.replace(settings.model, max_item_chars=1000))
    assert (await run(settings, encoder, [])).processed == 1
    store = Store(settings.store.path)
    [row] = store.db.query("select text from items")
    assert row["text"] == "x" * 1000 + "\n[… 500 more characters not kept]"
    store.close()


async def test_watches_added_and_removed_at_run_time_are_followed(
        tmp_path: Path, tiny_model: str, encoder: Encoder, feed_server: FeedServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.daemon.ingest

    monkeypatch.setattr(monitor.daemon.ingest, "WATCH_SYNC_SECONDS", 0.1)
    route = feed_server.routes["/late"] = Route(body=rss(sample_rows(3)))
    settings = load_settings(None, env={})
    settings = dataclasses.replace(settings, store=dataclasses.replace(settings.store, path=str(tmp_path / "w.db")),
                                   model=dataclasses.replace(settings.model, embedding=tiny_model))
    store = Store(settings.store.path)
    out: list[str] = []
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), ConsoleNotifier(out.append, "never"),
                    [])
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(0.3)
    from monitor import service

    await store.call(service.add_watch, store, settings, "feed", feed_server.url("/late"), "late", "ada")
    await store.call(service.add_watch, store, settings, "keyword", "(?i)spam|money|free", "money", "ada")
    await wait_for(lambda: daemon.processed == 3)
    assert daemon.processed == 3 and route.hits >= 1 and out, "the new feed was polled and the rule fired"
    await store.call(service.remove_watch, store, settings, "late")
    await asyncio.sleep(0.5)
    hits = route.hits
    await asyncio.sleep(0.5)
    assert route.hits == hits and [s.name for s in daemon.polled] == []
    daemon.stop()
    await asyncio.wait_for(task, 30)
    store.close()


async def test_a_daemon_killed_mid_delivery_leaves_at_most_one_unknown_alert_per_channel_and_says_which(
        tmp_path: Path, tiny_model: str, slack: FakeSlack) -> None:
    data = tmp_path / "stream.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(30)))
    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f'[pipeline]\nbatch_size = 8\n[slack]\nbase_url = "{slack.base_url}"\nmessages_per_second = 1000\n'
                   f'[[replays]]\nname = "s"\npath = "{data}"\n'
                   + "".join(f'[[alerts]]\nname = "every-{c}"\nkind = "keyword"\npattern = "."\n'
                             f'cooldown_minutes = 0\nchannel = "#{c}"\n' for c in "ab"))
    token = {"SLACK_BOT_TOKEN": "xoxb-test-token"}
    slack.stall_after = 6
    first = await start("run", "--config", str(cfg), **token)
    await wait_for(lambda: slack.stalled == 2, 120)
    first.send_signal(signal.SIGKILL)
    await first.communicate()
    assert slack.stalled == 2, "one send in flight per channel"
    db = sqlite3.connect(tmp_path / "lookout.db")
    by_status = dict(db.execute("select status, count(*) from alerts group by status").fetchall())
    assert by_status["sending"] == 2 and by_status["pending"] > 0, "the kill landed mid-delivery"
    in_flight = [(p["channel"], _posted_item(p)) for p in slack.calls["chat.postMessage"][-2:]]

    slack.stall_after = -1
    slack.unstall.set()
    second = await start("run", "--config", str(cfg), "--until-idle", **token)
    _, err = await asyncio.wait_for(second.communicate(), 180)
    assert second.returncode == 0, err.decode()
    assert "2 alerts were being sent when Lookout stopped" in err.decode()

    alerts = db.execute("select channel, item_id, status, rule from alerts").fetchall()
    assert len(alerts) == 60 and {s for *_, s, _ in alerts} == {"sent", "unknown"}
    unknown = sorted((c, i) for c, i, s, _ in alerts if s == "unknown")
    assert unknown == sorted(in_flight) and [c for c, _ in unknown] == ["#a", "#b"]
    posted = Counter((p["channel"], _posted_item(p)) for p in slack.calls["chat.postMessage"])
    assert posted == Counter((c, i) for c, i, *_ in alerts), "every alert reached Slack exactly once"

    status = lookout("status", "--config", str(cfg))
    assert status.returncode == 0, status.stderr
    assert "2 alert(s) may or may not have reached Slack" in status.stdout
    titles = dict(db.execute("select id, title from items").fetchall())
    for channel, item_id in unknown:
        [line] = [x for x in status.stdout.splitlines() if item_id[:10] in x and f"every-{channel[1]}  {channel}" in x]
        assert titles[item_id][:20] in line
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", line)


async def test_an_alert_whose_post_gets_no_answer_is_not_sent_again_and_is_listed_as_unknown(
        tmp_path: Path, tiny_model: str, slack: FakeSlack) -> None:
    data = tmp_path / "stream.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(8)))
    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f'[slack]\nbase_url = "{slack.base_url}"\nmessages_per_second = 1000\ntimeout_seconds = 1\n'
                   f'[[replays]]\nname = "s"\npath = "{data}"\n'
                   '[[alerts]]\nname = "every"\nkind = "keyword"\npattern = "."\ncooldown_minutes = 0\n')
    slack.stall_after = 3
    proc = await start("run", "--config", str(cfg), "--until-idle", SLACK_BOT_TOKEN="xoxb-test-token")
    await wait_for(lambda: slack.stalled == 1, 120)
    slack.stall_after = -1
    _, err = await asyncio.wait_for(proc.communicate(), 180)
    slack.unstall.set()
    assert proc.returncode == 0, err.decode()
    assert "may or may not have reached #lookout, and is not sent again" in err.decode()
    db = sqlite3.connect(tmp_path / "lookout.db")
    alerts = db.execute("select item_id, status from alerts order by id").fetchall()
    assert [s for _, s in alerts] == ["sent"] * 3 + ["unknown"] + ["sent"] * 4
    posted = Counter(_posted_item(p) for p in slack.calls["chat.postMessage"])
    assert posted == Counter(i for i, _ in alerts), "the unanswered post was not retried"
    status = lookout("status", "--config", str(cfg))
    assert "1 alert(s) may or may not have reached Slack" in status.stdout and alerts[3][0][:10] in status.stdout


async def test_stopping_while_a_feed_is_polled_ends_the_poll_quietly(
        tmp_path: Path, tiny_model: str, encoder: Encoder, feed_server: FeedServer,
        caplog: pytest.LogCaptureFixture) -> None:
    route = feed_server.routes["/slow.xml"] = Route(body=rss(sample_rows(3)), delay=5)
    settings = settings_for(tmp_path, tiny_model, f'[[feeds]]\nname = "slow"\nurl = "{feed_server.url("/slow.xml")}"\n')
    caplog.set_level(logging.INFO)
    await run(settings, encoder, [], until_idle=False, stop_when=lambda: route.hits == 1)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def _posted_item(post: dict) -> str:
    """The item id an alert posted to the fake Slack is about (from its blocks)."""
    return re.search(r"item ([0-9a-f]{20})", json.dumps(post["blocks"])).group(1)  # type: ignore[union-attr]
