"""`lookout import`: backfill an mbox file or a Maildir folder."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from pathlib import Path

from tqdm import tqdm

from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings
from monitor.ingest.sources.mailbox_file import MailboxSource
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("import", cmd_import, "Import an mbox file (.gz too) or a Maildir folder: every message is stored, "
                                      "labelled and put in a topic; a re-run resumes and skips what is stored.")
    p.add_argument("format", choices=["mbox", "maildir"], help="mailbox format")
    p.add_argument("path", help="the mbox file or Maildir folder")
    p.add_argument("--name", help="source name in the store (default: the file or folder name)")
    p.add_argument("--limit", type=int, default=0, help="import at most this many messages (default: all)")
    p.add_argument("--no-alerts", action="store_true", help="apply no alert rules (a quiet backfill)")


def cmd_import(args: argparse.Namespace, factory: NotifierFactory) -> int:
    from monitor.daemon.core import Daemon
    from monitor.enrich.build import build_pipeline

    settings = load_cli_settings(args, creates_store=True)
    if args.no_alerts:
        settings = dataclasses.replace(settings, alerts=())
    source = MailboxSource(args.name or Path(args.path).name.split(".")[0], args.path, fmt=args.format,
                           limit=args.limit)
    with Store(settings.store.path) as store:
        print(f"Importing {source.total} messages from {args.path} into {settings.store.path}", flush=True)
        pipeline = build_pipeline(settings, store)
        with tqdm(total=source.total, unit="msg", desc="imported", dynamic_ncols=True) as bar:
            daemon = Daemon(settings, store, pipeline, factory(settings, tqdm.write), [source], on_progress=bar.update)
            asyncio.run(daemon.run(until_idle=True))
        status = store.status()
    print(f"Enriched {daemon.processed} new messages; the store now holds {status['items']} items "
          f"({status['failed']} failed).")
    return 0
