"""`lookout trends`: rising, fading and climbing topics and how each label's rate moves."""

from __future__ import annotations

import argparse

from monitor import service
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table
from monitor.reports import trends
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("trends", cmd_trends, "Which topics rise above (or fall below) their own baseline or climb "
                                      "steadily, and how each label's rate moves, with a chart.")
    p.add_argument("--hours", type=float, default=24.0, help="how far back to look (default: 24)")
    p.add_argument("--bin-minutes", type=float, default=60.0, help="width of a time bin (default: 60)")
    p.add_argument("--warmup", type=int, default=6, help="bins of history a topic or label needs before it is "
                                                                   "scored")
    p.add_argument("--threshold", type=float, default=3.0, help="burst score that counts as rising or fading "
                                                                            "(default: 3); labels are all listed")
    p.add_argument("-n", "--limit", type=int, default=10, help="topics, climbs and labels listed; topics charted "
                                                                      "(default: 10)")
    p.add_argument("--chart", metavar="PNG", help="also draw the busiest topics' counts over time into PNG")


def cmd_trends(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        report = service.trend_report(store, args.hours, args.bin_minutes, args.warmup, args.threshold)

    def rows(picked: list[trends.Trend]) -> list[list[object]]:
        return [[f"#{t.topic_id}", t.latest, f"{t.baseline:.1f}", f"{t.score:+.1f}",
                 ", ".join(report.keywords.get(t.topic_id, [])[:6])] for t in picked[: args.limit]]

    headers = ["topic", f"last {args.bin_minutes:g} min", "baseline", "score", "keywords"]
    print(f"Rising (score >= {args.threshold:g}):")
    print(table(rows(report.rising), headers=headers) if report.rising else "  nothing is rising above its baseline")
    print("\nFading:")
    print(table(rows(report.fading), headers=headers) if report.fading else "  nothing is fading")
    print("\nClimbing steadily (a line through the window at least doubles, slope t >= 3):")
    print(table([[f"#{t.topic_id}", t.latest, f"{t.slope:+.2f}/bin", f"{t.climb_t:.1f}",
                  ", ".join(report.keywords.get(t.topic_id, [])[:6])] for t in report.climbing[: args.limit]],
                headers=["topic", f"last {args.bin_minutes:g} min", "slope", "t", "keywords"])
          if report.climbing else "  nothing is climbing steadily")
    if report.labels:
        print("\nLabels:")
        print(table([[f"{t.task} = {t.label}", t.latest, f"{t.baseline:.1f}", f"{t.score:+.1f}"]
                     for t in report.labels[: args.limit]],
                    headers=["label", f"last {args.bin_minutes:g} min", "baseline", "score"]))
    if args.chart:
        from monitor.reports import charts

        busiest = sorted(report.series, key=lambda tid: -int(report.series[tid].sum()))[: args.limit]
        charts.trend_chart(args.chart, {f"#{tid} {', '.join(report.keywords.get(tid, [])[:3])}": report.series[tid]
                                        for tid in busiest}, report.end, report.bin_seconds)
        print(f"\nchart: {args.chart}")
    return 0
