"""`lookout watch`: feeds and keyword rules added and removed at run time."""

from __future__ import annotations

import argparse
import os

from monitor import opml, service
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table
from monitor.service import ServiceError
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("watch", cmd_watch, "List, add or remove feeds and keyword rules at run time, or import the feeds of "
                                    "an OPML file (a running daemon picks changes up within seconds).")
    p.add_argument("action", choices=["list", "add", "remove", "import"])
    p.add_argument("target", nargs="?", help="add: the feed URL; remove: the name; import: the OPML file")
    p.add_argument("--keyword", metavar="REGEX", help="add: a keyword alert rule with this regular expression "
                                                      "(matched like an [[alerts]] pattern; see `lookout settings`)")
    p.add_argument("--name", help="add: the name (default: made from the URL or regex)")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who adds it (default: $USER)")


def cmd_watch(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args, creates_store=args.action != "list")
    with Store(settings.store.path) as store:
        if args.action == "list":
            rows = service.watches(store, settings)
            print(table([[r["name"], r["kind"], r["origin"], r["target"]] for r in rows],
                        headers=["name", "kind", "added", "target"]) if rows else "nothing is watched yet")
        elif args.action == "remove" and args.target:
            service.remove_watch(store, settings, args.target)
            print(f"stopped watching {args.target}")
        elif args.action == "add" and bool(args.target) != bool(args.keyword):
            kind, target = ("keyword", args.keyword) if args.keyword else ("feed", args.target)
            name = service.add_watch(store, settings, kind, target, args.name, args.user)
            print(f"now watching {kind} {name}: {target}")
        elif args.action == "import" and args.target:
            _print_import(opml.import_opml(store, settings, args.target, args.user))
        else:
            raise ServiceError("expected `watch add URL`, `watch add --keyword REGEX`, `watch remove NAME` or "
                               "`watch import FILE.opml`")
    return 0


def _print_import(report: opml.ImportReport) -> None:
    for name, url in report.added:
        print(f"now watching feed {name}: {url}")
    for url in report.known:
        print(f"already watched: {url}")
    for reason in report.bad:
        print(f"skipped {reason}")
    added = len(report.added)
    print(f"{added} feed{'' if added == 1 else 's'} added, {len(report.known)} already watched, "
          f"{len(report.bad)} skipped")
