"""The ``lookout`` command line: run the daemon, play the demo, and look at what Lookout has seen.

The parser is built from the command modules, which import only light modules; each handler imports what it needs
(torch, scikit-learn, matplotlib) when it runs, so ``lookout --help`` and the read-only commands start fast."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from monitor.cli.commands import (
    backtest,
    demo,
    digest,
    items,
    labels,
    mailbox,
    map,
    models,
    run,
    search,
    settings,
    status,
    taxonomy,
    topics,
    train,
    trends,
    watch,
)
from monitor.cli.common import CommandAdder, NotifierFactory, console_notifier
from monitor.config.schema import ConfigError
from monitor.service import ServiceError

COMMANDS = (run, demo, mailbox, status, topics, items, map, settings, labels, watch, trends, train, models, taxonomy,
            digest, search, backtest)


def build_parser(extra: Callable[[CommandAdder], None] | None = None) -> argparse.ArgumentParser:
    """The command line; ``extra`` may add commands (the Slack layer adds ``bot``) with the same helper."""
    parser = argparse.ArgumentParser(
        prog="lookout", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Lookout watches feeds and streams, labels and groups every item, and raises alerts "
                    "(to Slack when SLACK_BOT_TOKEN is set, else to the console).",
        epilog="examples:\n"
               "  lookout demo                          replay the bundled sample stream end to end\n"
               "  lookout run -c lookout.toml           run the daemon (start from lookout.example.toml)\n"
               "  lookout status                        sources, health, counts of items, labels and alerts\n"
               "  lookout topics -n 5                   the five largest topics\n"
               "  lookout items --label spam            the newest items labelled spam\n"
               "  lookout import mbox archive.mbox.gz   backfill a mailbox, with a progress bar\n"
               "  lookout labels import l.jsonl --task spam  add labelled training data\n"
               "  lookout train spam                    fine-tune the spam classifier now\n"
               "  lookout models list                   versions, scores and training runs\n"
               "  lookout settings                      every setting with its default and meaning\n"
               "\nEach command has its own --help.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable, help: str, config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if config:
            p.add_argument("-c", "--config", default=os.environ.get("LOOKOUT_CONFIG"),
                           help="TOML settings file (default: $LOOKOUT_CONFIG, else ./lookout.toml if present)")
            p.add_argument("--db", help="SQLite store to use instead of store.path from the settings")
        return p

    for module in COMMANDS:
        module.add(command)
    if extra:
        extra(command)
    return parser


def main(argv: list[str] | None = None, notifier_factory: NotifierFactory | None = None,
         extra: Callable[[CommandAdder], None] | None = None) -> int:
    args = build_parser(extra).parse_args(argv)
    daemon = args.command in ("run", "bot")
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose + daemon, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    try:
        return args.func(args, notifier_factory or console_notifier)
    except ConfigError as exc:
        print(f"lookout: configuration error: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        return 2
