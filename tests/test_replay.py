"""The replay source through `lookout run`: a dated CSV plays in event-time order, bursts fire on the day they
happened, a restart primes the burst rules from stored event times, and nothing is played twice."""

from __future__ import annotations

import csv
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tests.cli import lookout
from tests.servers import sample_rows

STORY = "Volcano erupts near the coast, villages evacuated"


def write_days(path: Path, days: range, burst_day: int | None = None) -> None:
    """Append three distinct headlines a day, newest day first, and eight of one story on ``burst_day`` (last)."""
    titles = [r["title"] for r in sample_rows(40)]
    rows = [(titles[(day * 3 + k) % len(titles)], f"2003-03-{day:02d}") for day in reversed(days) for k in range(3)]
    if burst_day is not None:
        rows += [(STORY, f"2003-03-{burst_day:02d}")] * 8
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["headline", "date"])
        writer.writerows(rows)


def config(tmp_path: Path, tiny_model: str, data: Path) -> Path:
    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f"""[store]
path = "{tmp_path / 'lookout.db'}"
[model]
embedding = "{tiny_model}"
[topics]
adaptive = false
threshold = 0.9999
merge_threshold = 1.0
[[replays]]
name = "wire"
path = "{data}"
time_column = "date"
text_column = "headline"
[[alerts]]
name = "emerging"
kind = "topic_burst"
bin_minutes = 1440
min_count = 5
cooldown_minutes = 1440
""")
    return cfg


def test_a_replayed_csv_bursts_on_its_day_primes_after_a_restart_and_plays_nothing_twice(
        tmp_path: Path, tiny_model: str) -> None:
    data = tmp_path / "wire.csv"
    write_days(data, range(1, 9))
    cfg = config(tmp_path, tiny_model, data)
    first = lookout("run", "--config", str(cfg), "--until-idle")
    assert first.returncode == 0, first.stderr
    assert "emerging topic" not in first.stdout
    db = sqlite3.connect(tmp_path / "lookout.db")
    days = [datetime.fromtimestamp(t, UTC).day for (t,) in db.execute("select event_time from items order by rowid")]
    assert days == sorted(days) == [d for d in range(1, 9) for _ in range(3)], "stored in event-time order"

    write_days(data, range(9, 11), burst_day=9)
    second = lookout("run", "--config", str(cfg), "--until-idle")
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("emerging topic") == 1, second.stdout
    assert "5 items in this 1440 min window" in second.stdout
    [(at, title)] = db.execute("select event_time, json_extract(payload, '$.title') from alerts").fetchall()
    assert datetime.fromtimestamp(at, UTC).date().isoformat() == "2003-03-09", "the planted day, not now"
    assert title == STORY

    third = lookout("run", "--config", str(cfg), "--until-idle")
    assert third.returncode == 0 and "emerging topic" not in third.stdout
    assert db.execute("select count(*) from items").fetchone()[0] == 10 * 3 + 8
    assert db.execute("select count(*) from alerts").fetchone()[0] == 1


def test_a_daemon_started_with_a_threshold_the_adaptive_topics_ignore_says_so(tmp_path: Path, tiny_model: str) -> None:
    data = tmp_path / "wire.csv"
    write_days(data, range(1, 3))
    cfg = config(tmp_path, tiny_model, data)
    cfg.write_text(cfg.read_text().replace("adaptive = false\nthreshold = 0.9999\n", "threshold = 0.6\n"))
    run = lookout("run", "--config", str(cfg), "--until-idle")
    assert run.returncode == 0, run.stderr
    assert "WARNING monitor.daemon.core: topics.threshold = 0.6 is not used: topics.adaptive is on" in run.stderr
    assert run.stderr.count("is not used") == 1
