"""`lookout trends`: new, rising, fading and climbing topics and how each label's rate moves."""

from __future__ import annotations

import argparse
import json

from monitor import service
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table, when
from monitor.reports import export, periods, trends
from monitor.store.db import Store

END_HELP = ("end of the period, on event time: a date (2003-03-27: the end of that day, UTC) or an ISO 8601 date "
            "and time (default: now; for a store whose newest item is older than the period, such as a replayed "
            "archive, just after that item)")


def end_argument(text: str) -> float:
    """``--end`` as epoch seconds (``periods.parse_end``), with argparse's error on a bad one."""
    try:
        return periods.parse_end(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add(command: CommandAdder) -> None:
    p = command("trends", cmd_trends, "Which topics are new, which rise above (or fall below) their own baseline or "
                                      "climb steadily, and how each label's rate moves, with a chart.")
    p.add_argument("--hours", type=float, default=24.0, help="how far back to look (default: 24)")
    p.add_argument("--bin-minutes", type=float, default=60.0, help="width of a time bin (default: 60)")
    p.add_argument("--end", type=end_argument, help=END_HELP)
    p.add_argument("--warmup", type=int, default=6, help="bins of history the store needs before a topic or label "
                                                         "is scored, or a topic born after them is new (default: 6)")
    p.add_argument("--threshold", type=float, default=3.0, help="burst score that counts as rising or fading "
                                                                "(default: 3); labels are all listed")
    p.add_argument("-n", "--limit", type=int, default=10, help="topics, climbs and labels listed; topics charted "
                                                               "(default: 10)")
    p.add_argument("--chart", metavar="PNG", help="also draw the busiest topics' counts over time into PNG")
    p.add_argument("--json", action="store_true", help="print the report as JSON (keys in docs/trends.md)")


def cmd_trends(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        report = service.trend_report(store, args.hours, args.bin_minutes, args.warmup, args.threshold, args.end)
    if args.chart:
        from monitor.reports import charts

        busiest = sorted(report.series, key=lambda tid: -int(report.series[tid].sum()))[: args.limit]
        charts.trend_chart(args.chart, {f"#{tid} {', '.join(report.keywords.get(tid, [])[:3])}": report.series[tid]
                                        for tid in busiest}, report.end, report.bin_seconds)
    if args.json:
        print(json.dumps(export.trend_report(report), indent=2, ensure_ascii=False))
        return 0
    _print(report, args)
    if args.chart:
        print(f"\nchart: {args.chart}")
    return 0


def _print(report: service.TrendReport, args: argparse.Namespace) -> None:
    def words(tid: int) -> str:
        return ", ".join(report.keywords.get(tid, [])[:6])

    def rows(picked: list[trends.Trend]) -> list[list[object]]:
        return [[f"#{t.topic_id}", t.latest, f"{t.baseline:.1f}", f"{t.score:+.1f}", words(t.topic_id)]
                for t in picked[: args.limit]]

    last = f"last {args.bin_minutes:g} min"
    print(f"Topics from {when(report.start)} to {when(report.end)} UTC, on event time, in {args.bin_minutes:g}-minute "
          f"bins; {report.history} bins of history (the store's first item: {when(report.first_event)}).")
    young = (f"  {report.history} bin{'s' if report.history != 1 else ''} of watched history in this window; new and "
             f"rising topics need {report.warmup} (--warmup)")
    print("\nNew (born in this window):")
    print(table([[f"#{t.topic_id}", t.items, t.latest, when(t.born), words(t.topic_id)]
                 for t in report.new[: args.limit]],
                headers=["topic", "items", last, "first seen", "keywords"]) if report.new
          else young if report.young else "  no new topic")
    print(f"\nRising (score >= {args.threshold:g}):")
    print(table(rows(report.rising), headers=["topic", last, "baseline", "score", "keywords"]) if report.rising
          else young if report.young else "  nothing is rising above its baseline")
    print("\nFading:")
    print(table(rows(report.fading), headers=["topic", last, "baseline", "score", "keywords"]) if report.fading
          else "  nothing is fading")
    print("\nClimbing steadily (a line through the window at least doubles, slope t >= 3):")
    print(table([[f"#{t.topic_id}", t.latest, f"{t.slope:+.2f}/bin", f"{t.climb_t:.1f}", words(t.topic_id)]
                 for t in report.climbing[: args.limit]], headers=["topic", last, "slope", "t", "keywords"])
          if report.climbing else "  nothing is climbing steadily")
    if report.labels:
        print("\nLabels:")
        print(table([[f"{t.task} = {t.label}", t.latest, f"{t.baseline:.1f}", f"{t.score:+.1f}"]
                     for t in report.labels[: args.limit]], headers=["label", last, "baseline", "score"]))
