"""`lookout demo`: a bundled real stream replayed through the whole pipeline.

Two acts. ``news`` (the default) replays 4,219 ABC News headlines of 2003 in event-time order and prints the
digests of two weeks: the one the Iraq war began (a topic with history rising) and the week after SARS appeared
(its topic, born on 27 March, rising). ``spam`` replays a labelled SpamAssassin sample through two zero-shot
tasks and four alert rules and says how often the classifier agrees with the corpus's labels. ``--data FILE``
replays any file with topics and digests only, plus the spam act's tasks whose labels the file's rows carry in
`label`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import json
import time
from pathlib import Path

from tqdm import tqdm

from monitor.cli.commands.status import print_labels
from monitor.cli.commands.topics import print_topics
from monitor.cli.common import CommandAdder, NotifierFactory, demo_file
from monitor.cli.next_steps import keep_settings, lookout_command, print_next_steps
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.ingest.sources.replay import ReplaySettings
from monitor.reports import digest as digests
from monitor.reports import periods
from monitor.store.db import Store

DEMO_DB = "lookout-demo.db"
ACTS = {"news": ("abc_headlines_sample.jsonl", "news.toml"), "spam": ("spamassassin_sample.jsonl", "demo.toml")}
# The news act's two weeks: the Iraq war began on 2003-03-20; SARS is in the headlines from 2003-03-25.
WAR_WEEK, SARS_WEEK = "2003-03-27", "2003-04-06"


def add(command: CommandAdder) -> None:
    p = command("demo", cmd_demo, "Replay a real stream shipped with Lookout through the whole pipeline with the "
                                  "bundled model: news headlines with their trends (default), or a labelled spam "
                                  "sample with classifiers and alert rules.", config=False)
    p.add_argument("act", nargs="?", choices=list(ACTS), default="news",
                   help="news: 2003 ABC headlines, new and rising topics in weekly digests (default); spam: "
                        "SpamAssassin messages, zero-shot tasks and alert rules checked against their labels")
    p.add_argument("--data", help="JSONL or CSV file to replay instead (`text`, optional `title`, `timestamp`, "
                                  "`label`): topics and a digest of its last week, plus the spam act's tasks whose "
                                  "labels its rows carry")
    p.add_argument("--limit", type=int, default=0, help="replay at most this many rows (default: all)")
    p.add_argument("--rate", type=float, default=0.0, help="items per second (default 0: as fast as possible)")
    p.add_argument("--db", default=DEMO_DB, help=f"store to (re)create (default: {DEMO_DB})")
    p.add_argument("--topics", type=int, default=10, help="topics to show at the end (default: 10)")


def file_labels(path: Path) -> set[str]:
    """The values of the rows' ``label`` field (JSONL) or column (CSV, TSV)."""
    with path.open(encoding="utf-8", errors="replace") as f:
        if path.suffix.lower() in (".csv", ".tsv"):
            rows = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            return {str(r["label"]) for r in rows if r.get("label")}
        found = set()
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("label") not in (None, ""):
                found.add(str(row["label"]))
        return found


def demo_settings(args: argparse.Namespace) -> tuple[Settings, Path]:
    """The settings and file an act (or ``--data``) replays: for ``--data``, the news act's settings with the spam
    act's tasks whose labels include every label the file carries, and only the alert rules of those tasks."""
    data_name, config = ACTS[args.act]
    overrides = {"store": {"path": args.db}}
    if not args.data:
        base = load_settings(demo_file(config), overrides=overrides)
        data = demo_file(data_name)
    else:
        data = Path(args.data)
        labels = file_labels(data)
        spam = load_settings(demo_file("demo.toml"))
        tasks = tuple(t for t in spam.tasks if labels and labels <= {x.name for x in t.labels})
        names = {t.name for t in tasks}
        base = dataclasses.replace(load_settings(demo_file("news.toml"), overrides=overrides), tasks=tasks,
                                   alerts=tuple(a for a in spam.alerts if a.kind == "label" and a.task in names))
    replay = ReplaySettings("demo", str(data), rate=args.rate, limit=args.limit)
    return dataclasses.replace(base, sources={**base.sources, "replays": (replay,)}), data


def cmd_demo(args: argparse.Namespace, factory: NotifierFactory) -> int:
    settings, data = demo_settings(args)
    for suffix in ("", "-wal", "-shm"):
        Path(args.db + suffix).unlink(missing_ok=True)
    print(f"Lookout demo: replaying {data.name} in event-time order through the whole pipeline (store: {args.db})")
    if not settings.tasks and args.data:
        print("No task runs: the file's rows carry no labels of the demo's tasks; topics and digests only.")
    with Store(settings.store.path) as store:
        processed, elapsed = _replay(settings, store, factory)
        print(f"\nEnriched {processed} items in {elapsed:.1f} s.\n")
        print_topics(store, settings, limit=args.topics)
        if settings.tasks:
            print_labels(store, settings)
        if args.act == "news" or args.data:
            _digests(store, settings, args)
        config = keep_settings(settings)
        if args.act == "news" and not args.data:
            _news_next_steps(args)
        else:
            print_next_steps(store, settings, config)
    return 0


def _replay(settings: Settings, store: Store, factory: NotifierFactory) -> tuple[int, float]:
    from monitor.daemon.core import Daemon
    from monitor.enrich.build import build_pipeline
    from monitor.ingest.registry import build_sources

    started = time.monotonic()
    print("Loading the embedding model...", flush=True)
    pipeline = build_pipeline(settings, store)
    sources = build_sources(settings)
    with tqdm(total=sources[0].total, unit="item", desc="enriched", dynamic_ncols=True) as bar:
        daemon = Daemon(settings, store, pipeline, factory(settings, tqdm.write), sources, on_progress=bar.update)
        asyncio.run(daemon.run(until_idle=True))
    return daemon.processed, time.monotonic() - started


def _digests(store: Store, settings: Settings, args: argparse.Namespace) -> None:
    """The news act: the week the war began in full, then what was new and rising two weeks later; ``--data``:
    the file's last week."""
    d = settings.digest
    folder = digests.report_dir(args.db, d.report_dir)
    weeks = [WAR_WEEK, SARS_WEEK] if not args.data else [None]
    for n, week in enumerate(weeks):
        end = periods.resolve_end(store, periods.parse_end(week) if week else None, d.hours * 3600)
        digest = digests.build(store, d.hours, d.history, d.limit, folder, now=end)
        digests.write(digest, folder)
        print(f"\n{_command('digest', args, week)}\n")
        text = digests.text(digest)
        print(text if n == 0 else text.split("\nFading:")[0])
        print(f"\nchart: {digest.chart}\npage:  {digest.report}")


def _command(name: str, args: argparse.Namespace, week: str | None) -> str:
    period = "--hours 168 --history 4" if name == "digest" else "--hours 720 --bin-minutes 1440 --warmup 7"
    return f"$ lookout {name} --db {args.db} {period}" + (f" --end {week}" if week else "")


def _news_next_steps(args: argparse.Namespace) -> None:
    """What to try after the news act, each runnable as printed."""
    lookout = lookout_command()
    print("\nExplore further:")
    print(f"  {lookout} {_command('trends', args, SARS_WEEK)[10:]}    # the 30 days to 6 April, day by day")
    print(f"  {lookout} topics --db {args.db} --json")
    print(f"  {lookout} demo spam    # the second act: classifiers and alert rules on labelled email")
