"""Keyword patterns written by users: a pattern that backtracks for ever is cut off per item with one warning, and
the run goes on; patterns see a bounded prefix of an item."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from models.classifier import Prediction
from monitor.config.load import load_settings
from monitor.config.schema import PATTERN_CHARS, AlertSettings, ConfigError
from monitor.enrich.alerts import AlertEngine, Evaluation, Rule
from monitor.ingest.item import Item
from tests.cli import lookout_here
from tests.servers import sample_rows

SLOW = "(x|xx)+y"  # exponential in a run of x's, even for the regex package
ISSUE = "(x+x+)+y"  # froze Python's re for minutes on 42 x's (issue 13)


def ev(text: str, title: str = "t") -> Evaluation:
    item = Item(id=f"i-{len(text)}-{text[:8]}", source="s", title=title, text=text)
    return Evaluation(item, [Prediction("spam", "ham", 0.9, False, "zero-shot")], 1, 1)


def keyword(pattern: str, name: str = "kw") -> Rule:
    return Rule.from_settings(AlertSettings(name=name, kind="keyword", pattern=pattern, cooldown_minutes=0.0), "#c")


def test_a_pattern_that_runs_out_of_time_is_skipped_for_the_item_with_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "monitor")
    engine = AlertEngine([keyword(SLOW, "slow"), keyword(ISSUE, "issue")])
    assert engine.evaluate(ev("x" * 60), now=0) == []
    assert engine.evaluate(ev("x" * 61), now=1) == []
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"alert rule slow: pattern {SLOW!r} took over 0.2s on item i-60-")
    fired = engine.evaluate(ev("an xxy here"), now=2)
    assert sorted(a.rule for a in fired) == ["issue", "slow"]


def test_a_pattern_sees_the_first_pattern_chars_of_title_and_text() -> None:
    engine = AlertEngine([keyword(r"needle")])
    assert engine.evaluate(ev("." * PATTERN_CHARS + "needle"), now=0) == []
    assert len(engine.evaluate(ev("." * (PATTERN_CHARS - 20) + "needle"), now=0)) == 1
    assert len(engine.evaluate(ev("nothing", title="a needle"), now=0)) == 1


def test_python_syntax_is_kept_and_the_regex_syntax_is_checked(tmp_path: Path) -> None:
    engine = AlertEngine([keyword(r"(?<!no )\b(out)age\b.*\1")])
    assert engine.evaluate(ev("no outage, out"), now=0) == []
    assert len(engine.evaluate(ev("big outage, out"), now=0)) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[[alerts]]\nname = "broken"\nkind = "keyword"\npattern = "(unclosed"\n')
    with pytest.raises(ConfigError, match=r"alerts \"broken\"\.pattern = '\(unclosed': not a valid regular expression"):
        load_settings(bad, env={})


def test_lookout_run_goes_on_past_an_item_that_a_watch_and_a_rule_cannot_match_in_time(
        tmp_path: Path, tiny_model: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    good = [{**r, "title": f"xxy xxz {r['title']}"} for r in sample_rows(3)]
    rows = [{"id": "x60", "title": "x" * 60, "text": "x" * 60}, *good[:1],
            {"id": "x61", "title": "x" * 61, "text": "x" * 61}, *good[1:]]
    data = tmp_path / "stream.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "lookout.db"
    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n[model]\nembedding = "{tiny_model}"\n'
                   f'[[replays]]\nname = "r"\npath = "{data}"\n'
                   "[topics]\nadaptive = false\nthreshold = 0.9999\nmerge_threshold = 1.0\n"
                   '[[tasks]]\nname = "spam"\n  [[tasks.labels]]\n  name = "spam"\n  description = "advertising"\n'
                   '  [[tasks.labels]]\n  name = "ham"\n  description = "discussion"\n'
                   '[[alerts]]\nname = "slow-rule"\nkind = "keyword"\npattern = "(x|xx)+z"\ncooldown_minutes = 0\n')
    for pattern, name in ((ISSUE, "issue-13"), (SLOW, "slow-watch")):
        added = lookout_here(capsys, monkeypatch, "watch", "add", "--keyword", pattern, "--name", name,
                             "--config", str(cfg))
        assert (added.returncode, added.stdout.strip()) == (0, f"now watching keyword {name}: {pattern}")
    caplog.set_level(logging.WARNING, "monitor")
    ran = lookout_here(capsys, monkeypatch, "run", "--config", str(cfg), "--until-idle")
    assert ran.returncode == 0
    slow = [r.getMessage() for r in caplog.records if "took over" in r.getMessage()]
    assert len(slow) == 2
    assert any(m.startswith("watch slow-watch: pattern '(x|xx)+y' took over 0.2s on item ") for m in slow)
    assert any(m.startswith("alert rule slow-rule: pattern '(x|xx)+z' took over 0.2s on item ") for m in slow)
    store = sqlite3.connect(db)
    assert store.execute("select state, count(*) from items group by state").fetchall() == [("done", 5)]
    assert store.execute("select count(*) from labels").fetchone()[0] == 5
    titles = {r["title"] for r in good}
    fired = store.execute("select rule, json_extract(payload, '$.title') from alerts").fetchall()
    assert sorted(fired) == sorted((rule, t) for rule in ("issue-13", "slow-rule", "slow-watch") for t in titles)
    assert ran.stdout.count("xxy xxz") == 9, "every alert was delivered to the console"
