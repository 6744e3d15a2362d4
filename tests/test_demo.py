"""`lookout demo` with the bundled model: the news act on the committed ABC sample shows the Iraq war rising and SARS
emerging (its topic born within 3 days of the first `sars` headline, 2003-03-25, and rising the week after), its
next steps run as printed, and `--data` runs only the tasks the file has labels for."""

from __future__ import annotations

import json
import shlex
import sqlite3
from pathlib import Path

from tests.cli import ROOT, lookout

SAMPLE = ROOT / "monitor" / "demo" / "abc_headlines_sample.jsonl"
HERE = {"PYTHONPATH": str(ROOT)}  # run from a temp folder, with this checkout's code


def section(text: str, title: str) -> str:
    """The lines of a digest's ``title`` section, up to the next blank line."""
    return text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]


def test_the_news_demo_shows_the_war_rising_and_sars_emerging(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = lookout("demo", "--limit", "2100", "--db", str(db), cwd=tmp_path, timeout=1200, **HERE)
    assert result.returncode == 0, result.stderr
    assert "Enriched 2100 items" in result.stdout and "most typical item" in result.stdout
    war, sars = result.stdout.split(f"$ lookout digest --db {db} --hours 168 --history 4 --end ")[1:]
    assert war.startswith("2003-03-27\n") and sars.startswith("2003-04-06\n")
    assert "Lookout digest, 2003-03-21 00:00 to 2003-03-28 00:00 UTC" in war
    assert "iraq" in section(war, "Rising") and "iraq" not in section(war, "New"), "the war had a history"
    assert "sars" in section(sars, "Rising"), "SARS, a week old, rose the week to 6 April"
    charts = sorted((tmp_path / "demo.db.reports").glob("digest-*.png"))
    assert [p.name for p in charts] == ["digest-20030328-0000.png", "digest-20030407-0000.png"]
    assert not sqlite3.connect(db).execute("select count(*) from labels").fetchone()[0], "no task in the news act"

    steps = result.stdout.split("Explore further:\n", 1)[1].splitlines()
    printed = [shlex.split(line.split("#")[0]) for line in steps if "--db" in line]
    commands = [c[c.index("--db") - 1:] for c in printed]
    assert [c[0] for c in commands] == ["trends", "topics"]
    assert all(c[:-len(a)] == printed[0][:-len(commands[0])] for c, a in zip(printed, commands, strict=True)), \
        "each starts with how to run this lookout"
    for command in commands:
        ran = lookout(*command, cwd=tmp_path, **HERE)
        assert ran.returncode == 0, (command, ran.stderr)
    trends = lookout(*commands[0], "--json", cwd=tmp_path, **HERE)
    new = json.loads(trends.stdout)["new"]
    assert any("sars" in t["keywords"] for t in new), "the 30 days to 6 April: SARS is new"
    topics = json.loads(lookout(*commands[1], "-n", "100", cwd=tmp_path, **HERE).stdout)
    assert {"id", "name", "size", "keywords", "first_seen", "last_seen"} <= set(topics[0])
    assert all(t["first_seen"].startswith("2003-") for t in topics), "first seen on event time, not on arrival"
    [born] = [t["first_seen"][:10] for t in topics if t["keywords"][:1] == ["sars"]]
    assert "2003-03-22" <= born <= "2003-03-28", "the SARS topic was born within 3 days of its first headline"


def test_demo_data_runs_only_the_tasks_the_file_has_labels_for(tmp_path: Path) -> None:
    plain = tmp_path / "news.jsonl"
    plain.write_text("".join(line for line in SAMPLE.open(encoding="utf-8").readlines()[:30]))
    result = lookout("demo", "--data", str(plain), "--db", str(tmp_path / "plain.db"), cwd=tmp_path, **HERE)
    assert result.returncode == 0, result.stderr
    assert "No task runs: the file's rows carry no labels" in result.stdout and "agrees" not in result.stdout
    store = sqlite3.connect(tmp_path / "plain.db")
    assert store.execute("select count(*) from labels").fetchone()[0] == 0
    assert store.execute("select count(*) from alerts").fetchone()[0] == 0, "no spam rules on a newswire"
    assert "Lookout digest, 2003-02-12 00:00 to 2003-02-19 00:00 UTC" in result.stdout, "the file's last week"

    spam = ROOT / "monitor" / "demo" / "spamassassin_sample.jsonl"
    labelled = tmp_path / "mail.jsonl"
    labelled.write_text("".join(spam.open(encoding="utf-8").readlines()[:30]))
    result = lookout("demo", "--data", str(labelled), "--db", str(tmp_path / "mail.db"), cwd=tmp_path, **HERE)
    assert result.returncode == 0, result.stderr
    assert "task 'spam' agrees with the stream's own labels on" in result.stdout
    tasks = sqlite3.connect(tmp_path / "mail.db").execute("select distinct task from labels").fetchall()
    assert tasks == [("spam",)], "the subject task has no labels in the file"
