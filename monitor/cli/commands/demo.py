"""`lookout demo`: the bundled sample stream replayed through the whole pipeline."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from pathlib import Path

from tqdm import tqdm

from monitor.cli.commands.status import print_labels
from monitor.cli.commands.topics import print_topics
from monitor.cli.common import CommandAdder, NotifierFactory, demo_file
from monitor.cli.next_steps import keep_settings, print_next_steps
from monitor.config.load import load_settings
from monitor.config.schema import ReplaySettings
from monitor.store.db import Store

DEMO_DB = "lookout-demo.db"

def add(command: CommandAdder) -> None:
    p = command("demo", cmd_demo, "Replay a real labelled stream (a SpamAssassin sample shipped with Lookout) "
                                  "through the whole pipeline with the bundled model.", config=False)
    p.add_argument("--data", help="JSONL file to replay instead (objects with `text`, optional `title`, `label`)")
    p.add_argument("--limit", type=int, default=0, help="replay at most this many lines (default: all)")
    p.add_argument("--rate", type=float, default=0.0, help="items per second (default 0: as fast as possible)")
    p.add_argument("--db", default=DEMO_DB, help=f"store to (re)create (default: {DEMO_DB})")
    p.add_argument("--topics", type=int, default=10, help="topics to show at the end (default: 10)")


def cmd_demo(args: argparse.Namespace, factory: NotifierFactory) -> int:
    from monitor.daemon.core import Daemon
    from monitor.enrich.build import build_pipeline
    from monitor.ingest.registry import build_sources

    base = load_settings(demo_file("demo.toml"), overrides={"store": {"path": args.db}})
    data = Path(args.data) if args.data else demo_file("spamassassin_sample.jsonl")
    settings = dataclasses.replace(base, replays=(ReplaySettings("demo", str(data), rate=args.rate,
                                                                 limit=args.limit),))
    for suffix in ("", "-wal", "-shm"):
        Path(args.db + suffix).unlink(missing_ok=True)
    print(f"Lookout demo: replaying {data.name} through the whole pipeline (store: {args.db})")
    with Store(settings.store.path) as store:
        started = time.monotonic()
        print("Loading the embedding model...", flush=True)
        pipeline = build_pipeline(settings, store)
        sources = build_sources(settings)
        with tqdm(total=sources[0].total, unit="item", desc="enriched", dynamic_ncols=True) as bar:
            daemon = Daemon(settings, store, pipeline, factory(settings, tqdm.write), sources, on_progress=bar.update)
            asyncio.run(daemon.run(until_idle=True))
        elapsed = time.monotonic() - started
        print(f"\nEnriched {daemon.processed} items in {elapsed:.1f} s.\n")
        print_topics(store, settings, limit=args.topics)
        print_labels(store, settings)
        print_next_steps(store, settings, keep_settings(settings))
    return 0
