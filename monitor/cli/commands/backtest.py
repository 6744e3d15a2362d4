"""`lookout backtest`: what the configured alert rules would have said over a stored period; nothing is sent."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime

from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table, when
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("backtest", cmd_backtest, "Replay the stored items of a period in event-time order through the "
                                          "configured alert rules and burst detection, and print each alert they "
                                          "would have raised; nothing is sent.")
    p.add_argument("--start", type=_day, help="first day or time replayed, ISO 8601 in UTC (default: the first "
                                              "stored item)")
    p.add_argument("--end", type=_day, help="replay items before this day or time, ISO 8601 in UTC (default: up "
                                            "to the last stored item)")
    p.add_argument("--json", action="store_true", help="print the alerts and the summary as JSON")


def _day(value: str) -> float:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 day or time: {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def cmd_backtest(args: argparse.Namespace, _: NotifierFactory) -> int:
    from monitor.enrich.backtest import backtest

    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        result = backtest(store, settings, args.start, args.end)
    summary = result.per_rule_day()
    if args.json:
        print(json.dumps({"start": result.start, "end": result.end, "items": result.items,
                          "alerts": [asdict(a) for a in result.alerts], "per_rule_day": summary}, indent=2))
        return 0
    print(f"Backtest of {result.items} items from {when(result.start)} to {when(result.end)} UTC "
          f"({len(settings.alerts)} rules; nothing is sent):")
    if not result.alerts:
        print("  no rule would have fired")
        return 0
    print(table([[when(a.event_time), a.rule, f"#{a.topic_id}", (a.title or "")[:60],
                  ", ".join(a.topic_keywords[:4])] for a in result.alerts],
                headers=["when", "rule", "topic", "title", "keywords"]))
    rules = sorted(summary)
    days = sorted({day for per_day in summary.values() for day in per_day})
    print("\nAlerts per day and rule:")
    print(table([[day, *(summary[r].get(day, 0) for r in rules), sum(summary[r].get(day, 0) for r in rules)]
                 for day in days] + [["total", *(sum(summary[r].values()) for r in rules), len(result.alerts)]],
                headers=["day", *rules, "all"]))
    return 0
