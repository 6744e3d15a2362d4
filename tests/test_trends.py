"""Trends: binned counts, an EWMA baseline, burst scores, and `lookout trends` with its chart."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np

from monitor.reports.trends import binned, climb, climbing, fading, rising, score, trends
from tests.cli import lookout
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
                   f'[[replays]]\nname = "s"\npath = "{data}"\n[topics]\nthreshold = 0.9999\nmerge_threshold = 1.0\n')
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
    assert "nothing is rising above its baseline" in quiet.stdout
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
