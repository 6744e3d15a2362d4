"""`lookout subscriptions`: what each Slack channel is subscribed to, as `/lookout subscribe` does from Slack."""

from __future__ import annotations

import argparse
import os

from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table, when
from monitor.service import ServiceError
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("subscriptions", cmd_subscriptions, "List, add or remove the Slack channels' subscriptions: a feed, "
                                                    "a keyword, a topic or a label whose alerts go to a channel too "
                                                    "(a running daemon picks changes up within seconds).")
    p.add_argument("action", choices=["list", "add", "remove"])
    p.add_argument("target", nargs="*", help="add: a feed URL, `keyword REGEX`, `topic N` or `label TASK=LABEL`; "
                                             "remove: the subscription's number")
    p.add_argument("--channel", help="the Slack channel id (needed by add; list and remove: only this channel's)")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who adds it (default: $USER)")


def cmd_subscriptions(args: argparse.Namespace, _: NotifierFactory) -> int:
    from monitor import subscriptions

    settings = load_cli_settings(args, creates_store=args.action == "add")
    with Store(settings.store.path) as store:
        if args.action == "list" and not args.target:
            rows = [[s.id, s.channel, s.kind, s.target, s.source, s.created_by, when(s.created_at)]
                    for s in store.subscriptions(args.channel)]
            print(table(rows, headers=["id", "channel", "kind", "target", "feed", "by", "added"]) if rows
                  else "no subscriptions yet")
        elif args.action == "add" and args.target:
            kind, target = subscriptions.parse_spec(args.target)
            sub = subscriptions.subscribe(store, settings, args.channel or "", kind, target, args.user)
            print(f"subscription #{sub.id}: {sub.kind} {sub.target} -> {sub.channel}"
                  + (f" (feed {sub.source}, now watched)" if sub.owns_watch else ""))
        elif args.action == "remove" and len(args.target) == 1:
            sub, stopped = subscriptions.unsubscribe(store, args.channel, args.target[0])
            print(f"removed subscription #{sub.id} ({sub.kind} {sub.target} -> {sub.channel})"
                  + (f"; feed {sub.source} is no longer watched" if stopped else ""))
        else:
            raise ServiceError("expected `subscriptions list`, `subscriptions add --channel C WHAT` or "
                               "`subscriptions remove ID`")
    return 0
