"""Trends: binned counts, an EWMA baseline, burst scores, and `lookout trends` with its chart."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from monitor.reports.trends import binned, climb, climbing, fading, rising, score, trends
from monitor.store.db import Store
from tests.cli import lookout, lookout_here
from tests.servers import sample_rows


def test_counts_fall_into_the_right_bins() -> None:
    counts = binned([0.5, 1.5, 1.7, 3.9, 4.0, -1.0], end=4.0, bin_seconds=1.0, bins=4)
    assert counts.tolist() == [1, 2, 0, 1]


def test_a_planted_burst_is_flagged_and_a_flat_series_is_not() -> None:
    rng = np.random.default_rng(5)
    flat = rng.poisson(3, size=48).tolist()
    burst = [*rng.poisson(3, size=47).tolist(), 15]
    drop = [*rng.poisson(12, size=47).tolist(), 1]
    found = trends({1: flat, 2: burst, 3: drop, 4: [0, 9]})
    assert [t.topic_id for t in rising(found)] == [2]
    assert [t.topic_id for t in fading(found)] == [3]
    assert score([0, 9]) == (0.0, 0.0), "no score before the warm-up"
    baseline, z = score(burst)
    assert 2 < baseline < 4.5 and z > 3


def test_lookout_trends_lists_the_rising_topic_and_draws_a_chart(tmp_path: Path, tiny_model: str) -> None:
    data = tmp_path / "s.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(60)))
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f'[[replays]]\nname = "s"\npath = "{data}"\n'
                   '[topics]\nadaptive = false\nthreshold = 0.9999\nmerge_threshold = 1.0\n')
    assert lookout("run", "--config", str(cfg), "--until-idle").returncode == 0
    db = sqlite3.connect(tmp_path / "l.db")
    ids = [r[0] for r in db.execute("select id from items order by rowid")]
    hot, calm = db.execute("select id from topics order by id limit 2").fetchall()
    now = time.time()
    history = [(ids[i], hot[0], now - 3600 * (10 - i // 2) - 60) for i in range(20)]
    history += [(ids[20 + i], hot[0], now - 120) for i in range(12)]
    history += [(ids[32 + i], calm[0], now - 3600 * (13 - i // 2) - 60) for i in range(28)]
    db.executemany("update items set topic_id = ?, event_time = ? where id = ?", [(t, at, i) for i, t, at in history])
    db.commit()
    chart = tmp_path / "trends.png"
    result = lookout("trends", "--config", str(cfg), "--hours", "12", "--chart", str(chart))
    assert result.returncode == 0, result.stderr
    rising_part = result.stdout.split("Fading:")[0]
    assert f"#{hot[0]} " in rising_part and f"#{calm[0]} " not in rising_part
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    quiet = lookout("trends", "--config", str(cfg), "--hours", "1")
    assert "1 bin of watched history in this window; new and rising topics need 6 (--warmup)" in quiet.stdout
    assert "nothing is climbing steadily" in quiet.stdout


def test_a_slow_steady_climb_is_caught_by_the_line_not_by_the_burst_score() -> None:
    rng = np.random.default_rng(7)
    steady = [int(c) for c in rng.poisson(np.linspace(2, 12, 24))]
    flat = rng.poisson(6, size=24).tolist()
    falling = [int(c) for c in rng.poisson(np.linspace(12, 2, 24))]
    found = trends({1: steady, 2: flat, 3: falling})
    assert [t.topic_id for t in rising(found)] == [], "an EWMA follows a slow climb"
    assert [t.topic_id for t in climbing(found)] == [1]
    slope, t = climb(steady)
    assert 0.3 < slope < 0.6 and t > 3
    assert climb([0] * 10) == (0.0, 0.0) and climb([1, 2, 3]) == (0.0, 0.0)


HOUR = 3600.0
END = 1_046_131_200.0  # 2003-02-25T00:00:00Z


def plant(db: Path, topics: dict[int, list[float]]) -> None:
    """A real store holding, for each topic, done items at the given event times (and the topic's row)."""
    with Store(db) as store:
        for tid, times in topics.items():
            store.db["items"].insert_all({"id": f"{tid:03d}-{k:05d}", "source": "s", "title": f"t{tid}", "text": "x",
                                          "state": "done", "topic_id": tid, "event_time": at, "stored_at": END + 60}
                                         for k, at in enumerate(times))
            store.db["topics"].insert({"id": tid, "size": len(times), "first_seen": END, "last_seen": END,
                                       "keywords": json.dumps([f"word{tid}"]), "name": f"topic {tid}",
                                       "representatives": "[]", "vector_sum": np.zeros(4).tobytes(), "terms": "{}",
                                       "alive": 1})


def per_hour(counts: list[int], end: float = END) -> list[float]:
    """Event times: ``counts[-1]`` items in the hour before ``end``, ``counts[-2]`` in the hour before that..."""
    return [end - (len(counts) - i) * HOUR + 60 * (k + 1) for i, n in enumerate(counts) for k in range(n)]


def trends_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Path, *args: str) -> dict:
    result = lookout_here(capsys, monkeypatch, "trends", "--db", str(db), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_topic_born_in_the_window_is_new_and_one_with_history_that_grows_is_rising(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "l.db"
    plant(db, {1: per_hour([2] * 71 + [15]), 2: per_hour([0] * 69 + [5, 6, 7]), 3: per_hour([3] * 72)})
    report = trends_json(capsys, monkeypatch, db, "--hours", "24", "--end", "2003-02-24T20:00")
    assert report["end"] == "2003-02-24T20:00:00+00:00"
    assert (report["new"], report["rising"]) == ([], []), "topic 2 is born and topic 1 bursts after this window"
    report = trends_json(capsys, monkeypatch, db, "--hours", "24", "--end", "2003-02-24")
    assert report["end"] == "2003-02-25T00:00:00+00:00", "a date is the end of that day"
    assert [t["topic"] for t in report["new"]] == [2] and report["new"][0]["items"] == 18
    assert report["new"][0]["first_seen"] == "2003-02-24T21:01:00+00:00"
    assert [t["topic"] for t in report["rising"]] == [1], "new is not rising, steady is not rising"
    assert report["rising"][0]["history"] == 23 and report["rising"][0]["score"] > 3
    assert set(report) == {"start", "end", "bin_minutes", "history_bins", "warmup_bins", "first_event", "new",
                           "rising", "fading", "climbing", "labels"}
    assert set(report["new"][0]) == {"topic", "name", "keywords", "first_seen", "items", "latest"}
    assert set(report["rising"][0]) == {"topic", "name", "keywords", "latest", "baseline", "score", "history"}
    text = lookout_here(capsys, monkeypatch, "trends", "--db", str(db), "--end", "2003-02-24").stdout
    new_part, rising_part = text.split("Rising")[0].split("New (born in this window):")[1], text.split("Rising")[1]
    assert "#2 " in new_part and "#1 " not in new_part
    assert "#1 " in rising_part.split("Fading")[0] and "#2 " not in rising_part.split("Fading")[0]


def test_a_young_store_calls_nothing_new_or_rising(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "l.db"
    plant(db, {1: per_hour([1, 1, 12]), 2: per_hour([0, 2, 9]), 3: per_hour([4, 0, 6])})
    report = trends_json(capsys, monkeypatch, db, "--hours", "24")
    assert report["end"] == "2003-02-24T23:12:01+00:00", "an archive ends just after its newest item"
    assert (report["new"], report["rising"], report["history_bins"]) == ([], [], 1)
    text = lookout_here(capsys, monkeypatch, "trends", "--db", str(db)).stdout
    assert text.count("1 bin of watched history in this window; new and rising topics need 6 (--warmup)") == 2
    bad = lookout("trends", "--db", str(db), "--end", "last week")
    assert bad.returncode == 2 and "is not a date (2003-03-27)" in bad.stderr
