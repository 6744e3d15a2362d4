"""`lookout digest`: a period summarised as text, a chart and an HTML page."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from monitor.cli.commands.trends import END_HELP, end_argument
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings
from monitor.daemon.notify import Notifier
from monitor.reports import digest as digests
from monitor.reports import export, periods
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("digest", cmd_digest, "Summarise a period: new, rising, fading and busiest topics and how the "
                                      "labels moved, as text plus a PNG chart and an HTML page.")
    p.add_argument("--hours", type=float, default=0, help="the period (default: digest.hours)")
    p.add_argument("--history", type=int, default=0, help="earlier periods compared with (default: digest.history)")
    p.add_argument("--end", type=end_argument, help=END_HELP)
    p.add_argument("--out", help="folder for the chart and page (default: digest.report_dir)")
    p.add_argument("--send", action="store_true",
                   help="deliver it like the scheduled digest (Slack when SLACK_BOT_TOKEN is set)")
    p.add_argument("--json", action="store_true", help="print the digest as JSON (keys in docs/trends.md)")


def cmd_digest(args: argparse.Namespace, factory: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    d = settings.digest
    folder = Path(args.out) if args.out else digests.report_dir(settings.store.path, d.report_dir)
    hours = args.hours or d.hours
    with Store(settings.store.path) as store:
        end = periods.resolve_end(store, args.end, hours * 3600)
        digest = digests.build(store, hours, args.history or d.history, d.limit, folder, now=end)
    digests.write(digest, folder)
    if args.send:
        notifier = factory(settings, print)
        asyncio.run(_deliver_digest(notifier, digest, d.channel or settings.slack.channel))
        print(f"digest sent; chart {digest.chart}, page {digest.report}")
    elif args.json:
        print(json.dumps(export.digest(digest), indent=2, ensure_ascii=False))
    else:
        print(digests.text(digest))
        print(f"\nchart: {digest.chart}\npage:  {digest.report}")
    return 0


async def _deliver_digest(notifier: Notifier, digest: digests.Digest, channel: str) -> None:
    try:
        await notifier.digest(digest, channel)
    finally:
        await notifier.close()
