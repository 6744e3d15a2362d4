"""The ``lookout`` command, run as a user runs it: help, settings, run, status, topics, items, crash recovery."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.cli import ROOT, lookout, lookout_here, start
from tests.fake_slack import FakeSlack
from tests.feed_server import FeedServer, Route, rss
from tests.servers import sample_rows

COMMANDS = ["run", "demo", "status", "topics", "items", "settings"]


def config(tmp_path: Path, tiny_model: str, body: str) -> Path:
    path = tmp_path / "lookout.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                    f"[pipeline]\nbatch_size = 8\n{body}")
    return path


TASK = """
[[tasks]]
name = "spam"
  [[tasks.labels]]
  name = "spam"
  description = "unsolicited advertising"
  [[tasks.labels]]
  name = "ham"
  description = "a discussion on a mailing list"
"""
EVERY_ITEM = '[[alerts]]\nname = "every"\nkind = "keyword"\npattern = "."\ncooldown_minutes = 0\n'


def test_help_explains_every_command() -> None:
    top = lookout("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        sub = lookout(command, "--help")
        assert sub.returncode == 0 and "usage: lookout " + command in sub.stdout
    assert "--until-idle" in lookout("run", "--help").stdout


def test_settings_lists_every_setting_and_check_reports_a_bad_file(tmp_path: Path) -> None:
    listing = lookout("settings")
    assert "[topics] threshold" in listing.stdout and "SLACK_BOT_TOKEN" in listing.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[topics]\nthreshold = 'high'\n")
    result = lookout("settings", "--check", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == f"lookout: configuration error: {bad}: topics.threshold = 'high': expected a number"
    assert lookout("settings", "--check", str(Path("lookout.example.toml").resolve())).returncode == 0


def test_run_with_a_bad_setting_stops_before_starting(tmp_path: Path) -> None:
    cfg = tmp_path / "lookout.toml"
    cfg.write_text('[[feeds]]\nname = "x"\nurl = "http://127.0.0.1:9/"\ninterval_seconds = -5\n')
    result = lookout("run", "--config", str(cfg))
    assert result.returncode == 2
    assert 'feeds "x".interval_seconds = -5.0: expected a number at least 0.05' in result.stderr
    missing = lookout("run", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "no such configuration file" in missing.stderr


async def test_run_posts_escaped_alerts_to_slack_through_429s_and_status_shows_it(
        tmp_path: Path, tiny_model: str, feed_server: FeedServer, slack: FakeSlack) -> None:
    rows = sample_rows(2)
    rows[0] = {**rows[0], "title": "URGENT &lt;!channel&gt; read this",
               "text": "ping @here and <http://evil.example|your bank>"}
    feed_server.routes["/feed"] = Route(body=rss(rows))
    cfg = config(tmp_path, tiny_model, f'[[feeds]]\nname = "list"\nurl = "{feed_server.url("/feed")}"\n'
                                       f'[slack]\nchannel = "#alerts"\nmessages_per_second = 20\n{TASK}{EVERY_ITEM}')
    slack.rate_limit_next = 1
    proc = await start("-vv", "run", "--config", str(cfg), "--until-idle", SLACK_BOT_TOKEN="xoxb-test-token",
                       LOOKOUT_SLACK_BASE_URL=slack.base_url)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert "chat.postMessage" in err.decode(), "debug logging reached the Slack client"
    assert "xoxb-test-token" not in (out + err).decode(), "the token never appears in logs"
    posts = slack.calls["chat.postMessage"]
    assert slack.ratelimited == 1 and len(posts) == 2
    assert {p["channel"] for p in posts} == {"#alerts"}
    urgent = next(p for p in posts if "URGENT" in p["text"])
    raw = json.dumps(urgent["blocks"])
    assert "<!channel>" not in raw and "<http://evil" not in raw and "@here" not in raw
    assert "URGENT &lt;!channel&gt; read this" in raw and "&lt;http://evil.example|your bank&gt;" in raw
    status = lookout("status", "--config", str(cfg))
    assert status.returncode == 0
    assert "2 items" in status.stdout and "2 sent" in status.stdout
    assert re.search(r"list\s+feed\s+ok\s+2\s+2", status.stdout)
    assert re.search(r"spam\s+(spam|ham)\s+\d", status.stdout)


def test_topics_and_items_read_the_store(tmp_path: Path, tiny_model: str) -> None:
    data = tmp_path / "s.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(12)))
    cfg = config(tmp_path, tiny_model, f'[[replays]]\nname = "s"\npath = "{data}"\n{TASK}'
                                       "[topics]\nadaptive = false\nthreshold = 0.9999\nmerge_threshold = 1.0\n")
    assert lookout("run", "--config", str(cfg), "--until-idle").returncode == 0
    topics = lookout("topics", "--config", str(cfg), "--min-size", "1", "-n", "3")
    assert topics.returncode == 0 and "keywords" in topics.stdout
    assert len(re.findall(r"^#\d+", topics.stdout, re.M)) == 3
    items = lookout("items", "--config", str(cfg), "--task", "spam", "--label", "ham", "-n", "50")
    store = sqlite3.connect(tmp_path / "lookout.db")
    hams = store.execute("select count(*) from labels where task = 'spam' and label = 'ham'").fetchone()[0]
    assert len([line for line in items.stdout.splitlines() if "spam=ham" in line]) == hams
    assert lookout("items", "--config", str(cfg), "--label", "no-such-label").stdout.strip() == \
        "no items labelled no-such-label"

    item = store.execute("select id from items order by rowid limit 1").fetchone()[0]
    fixed = lookout("label", item[:8], "spam", "--config", str(cfg), "--user", "ada")
    assert fixed.returncode == 0 and fixed.stdout.startswith(f"{item[:10]} ") and "spam = spam" in fixed.stdout
    assert store.execute("select new_label, user, via from corrections").fetchall() == [("spam", "ada", "cli")]
    wrong = lookout("label", item[:8], "eggs", "--config", str(cfg))
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "lookout: `eggs` is not a label; labels are spam: spam, ham"
    found = lookout("search", "cheap", "mortgage", "-n", "3", "--config", str(cfg))
    assert found.returncode == 0 and len(re.findall(r"^\s*\d\.\d\d\s+[0-9a-f]{10}", found.stdout, re.M)) == 3
    assert lookout("watch", "add", "https://example.org/feed", "--config", str(cfg)).stdout.strip() == \
        "now watching feed example-org-feed: https://example.org/feed"
    listed = lookout("watch", "list", "--config", str(cfg)).stdout
    assert re.search(r"^s\s+replay\s+config", listed, re.M) and re.search(r"^example-org-feed\s+feed", listed, re.M)
    bad = lookout("watch", "add", "--keyword", "(unclosed", "--config", str(cfg))
    assert bad.returncode == 2 and "is not a valid regular expression" in bad.stderr
    assert lookout("watch", "remove", "example-org-feed", "--config", str(cfg)).returncode == 0
    no_secret = lookout("bot", "--config", str(cfg), SLACK_BOT_TOKEN="xoxb-1")
    assert no_secret.returncode == 2 and "SLACK_SIGNING_SECRET" in no_secret.stderr


async def test_a_daemon_killed_mid_stream_resumes_without_losing_or_repeating(tmp_path: Path,
                                                                              tiny_model: str) -> None:
    rows = sample_rows(120)
    data = tmp_path / "stream.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config(tmp_path, tiny_model, f'[[replays]]\nname = "s"\npath = "{data}"\nrate = 40\n{TASK}{EVERY_ITEM}')
    db = tmp_path / "lookout.db"
    proc = await start("run", "--config", str(cfg))

    def done() -> int:
        if not db.exists():
            return 0
        try:
            return sqlite3.connect(db).execute("select count(*) from items where state = 'done'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    for _ in range(600):
        if done() >= 30:
            break
        await asyncio.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    first_out, _ = await proc.communicate()
    killed_at = done()
    assert 30 <= killed_at < 120, "the kill landed mid-stream"

    second = await start("run", "--config", str(cfg), "--until-idle")
    second_out, err = await asyncio.wait_for(second.communicate(), 180)
    assert second.returncode == 0, err.decode()

    store = sqlite3.connect(db)
    assert store.execute("select count(*), count(distinct id) from items").fetchone() == (120, 120)
    assert store.execute("select count(*) from items where state = 'done'").fetchone()[0] == 120
    alerts = store.execute("select item_id, status from alerts").fetchall()
    assert len(alerts) == len({a for a, _ in alerts}) == 120
    printed = re.findall(r"item ([0-9a-f]{20})", first_out.decode() + second_out.decode())
    assert len(printed) == len(set(printed)), "no alert was printed twice"
    sent = {a for a, s in alerts if s == "sent"}
    assert sent <= set(printed)
    assert {s for _, s in alerts} <= {"sent", "unknown"}
    assert len(printed) >= 120 - sum(s == "unknown" for _, s in alerts)


def test_the_demo_runs_the_real_bundled_model_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "demo.db"
    result = lookout("demo", "spam", "--limit", "80", "--db", str(db), cwd=tmp_path, PYTHONPATH=str(ROOT))
    assert result.returncode == 0, result.stderr
    assert "Enriched 80 items" in result.stdout
    assert "most typical item" in result.stdout
    assert re.search(r"task 'spam' agrees with the stream's own labels on \d+/80 items", result.stdout)
    store = sqlite3.connect(db)
    assert store.execute("select count(*), min(length(embedding)) from items where state = 'done'").fetchone() == \
        (80, 384 * 4)
    assert store.execute("select count(distinct task) from labels").fetchone()[0] == 2
    assert store.execute("select count(*) from topics where alive = 1").fetchone()[0] >= 5

    out = tmp_path / "taxonomy.toml"
    proposed = lookout_here(capsys, monkeypatch, "taxonomy", "propose", "--size", "3", "--db", str(db), "--out",
                            str(out))
    assert proposed.returncode == 0, proposed.stderr
    assert out.read_text().count("\n[[labels]]\n") >= 2
    accepted = lookout_here(capsys, monkeypatch, "taxonomy", "accept", str(out), "--task", "theme", "--db", str(db))
    assert accepted.returncode == 0, accepted.stderr
    kept = int(re.search(r"(\d+) of the 80 newest items labelled automatically", accepted.stdout).group(1))
    assert kept > 0
    assert store.execute("select count(*) from training_examples where task = 'theme'").fetchone()[0] == kept
