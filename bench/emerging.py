"""Emerging-story benchmark (issue 15): the ABC News headlines of 2003 replayed through the daemon, and when the
alert rules flag SARS and the Baghdad surge, against the issue's goals.

The 21,294 dated headlines (2003-02-19 .. 2003-06-02) play through the replay source into the daemon
(``bench.common``: in-process, the real bundled model with cached embeddings, the default topic settings and one
``topic_burst`` rule at its defaults). The headlines carry only their day (00:00 UTC), so the rule's window is one
day (``--bin-minutes``; the hourly default would see every day as one hour of news after 23 silent ones).

Read from the alerts the run stored: the day SARS is first flagged, new (an emerging topic) or rising (a surging
one), and its delay after the first ``sars`` headline (2003-03-25; a mystery ``pneumonia`` from mid-March); the
same for Baghdad (``baghdad``; the invasion began 2003-03-20); and the other alerts per day, new and rising. An
alert is on an event when its headline or its topic's keywords (as they were when it fired) name it, or when at
least ``HELD_SHARE`` of the headlines its topic held when it fired do (``bench.common.held_items``: by event time,
up to the alert's own headline), so a topic is judged by what it was about then, not by what it gathered later.
Goals: SARS within 3 days, Baghdad within 1 day, at most 2 false alerts a day. "Other" alerts are those on neither
event nor the war around it (Iraq, Saddam, troops...), judged the same way: an upper bound on false ones, since a
headline stream has other real news. Then the weekly digest's "New" section (``digest_news``): how many of the
new topics it shows are on neither event nor the war, with each smallest size of a new topic in ``NEW_MINIMA``.

    .venv/bin/python bench/emerging.py                  # the whole stream
    .venv/bin/python bench/emerging.py --days 40        # the first 40 days only (while developing)
    .venv/bin/python bench/emerging.py --factor 3       # the rule with another factor (--threshold: fixed topics)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    CachedEncoder,
    Replayed,
    replay,
    replay_arguments,
    rule_description,
    say,
    settings_file,
    write_json,
)
from bench.topics import embed  # noqa: E402
from models.keywords import singular  # noqa: E402
from monitor.reports import trends  # noqa: E402
from monitor.store.db import Store  # noqa: E402

DATA = Path("/work/shared/datasets/abc_headlines/abc_headlines_2003.jsonl")
EVENTS = {"SARS": ({"sars", "pneumonia"}, date(2003, 3, 25), 3),
          "Baghdad": ({"baghdad"}, date(2003, 3, 20), 1)}
WAR = {"iraq", "iraqi", "iraqis", "saddam", "hussein", "war", "troops", "basra", "coalition", "marines", "invasion",
       "baghdad", "umm", "qasr", "tikrit", "kurds", "kurdish", "blix", "weapons", "inspectors", "anti-war", "protest",
       "protesters", "military", "us-led", "allied"}
HELD_SHARE = 0.25
FALSE_PER_DAY_GOAL = 2.0
DIGEST_HOURS, DIGEST_HISTORY, DIGEST_SHOWN = 168, 4, 5
NEW_MINIMA = (3, 5, 8)


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


def tokens(text: str) -> set[str]:
    """The words of ``text`` and their singulars (``baghdads`` names Baghdad)."""
    found = set(text.lower().replace(",", " ").split())
    return found | {singular(w) for w in found}


def about(alert: dict, held: list[str], terms: set[str]) -> bool:
    """Whether the alert is on ``terms``: its headline or its keywords when it fired name one, or at least
    ``HELD_SHARE`` of the headlines its topic held then do."""
    if tokens(" ".join([alert["title"], *alert["topic_keywords"]])) & terms:
        return True
    return sum(bool(tokens(text) & terms) for text in held) >= HELD_SHARE * len(held)


def report(run: Replayed, first_day: date, last_day: date, warmup_days: int) -> dict:
    """The figures: each event's first flag, its delay and goal, and the other alerts per day, new and rising."""
    def day(a: dict) -> date:
        return datetime.fromtimestamp(a["event_time"], UTC).date()

    def how(a: dict) -> str:
        return "new" if "emerging" in a["reason"] else "rising"

    held = [[run.texts[i] for i in ids] for ids in run.held]
    out: dict = {"alerts": len(run.alerts)}
    for name, (terms, start, goal) in EVENTS.items():
        flagged = [a for a, h in zip(run.alerts, held, strict=True) if about(a, h, terms)]
        first = min(flagged, key=lambda a: a["event_time"], default=None)
        out[name] = {"first_flag": day(first).isoformat() if first else None, "goal_days": goal,
                     "delay_days": (day(first) - start).days if first else None,
                     "how": how(first) if first else None, "title": first["title"] if first else None,
                     "topic": first["topic_name"] if first else None, "alerts": len(flagged)}
    news = WAR | set().union(*(terms for terms, _, _ in EVENTS.values()))
    other = [a for a, h in zip(run.alerts, held, strict=True) if not about(a, h, news)]
    judged_days = max(1, (last_day - first_day).days + 1 - warmup_days)
    out["judged_days"] = judged_days
    for kind in ("new", "rising"):
        out[f"other_{kind}"] = sum(how(a) == kind for a in other)
        out[f"other_{kind}_per_day"] = round(out[f"other_{kind}"] / judged_days, 2)
    out["other_alerts"] = len(other)
    out["other_per_day"] = round(len(other) / judged_days, 2)
    out["busiest_other_day"] = max(((d, sum(day(a) == d for a in other)) for d in sorted({day(a) for a in other})),
                                   key=lambda kv: kv[1], default=(None, 0))
    return out


def digest_news(db: Path, first_day: date, last_day: date) -> dict:
    """The "New" section of the weekly digest the demo shows (``DIGEST_HOURS``, against ``DIGEST_HISTORY`` weeks),
    built as ``lookout digest --end DAY`` builds it for every day of the stream, with each smallest size of a new
    topic in ``NEW_MINIMA`` (the digest's is 3): the new topics shown (the ``DIGEST_SHOWN`` largest), those on
    neither event nor the war (judged by their headlines of the week, as ``about`` judges a topic), and the first
    day SARS is among them."""
    store = Store(db)
    rows = list(store.db.query("select topic_id, event_time, text from items where topic_id is not null"))
    final, span, period = store._final_topic(), store.event_span(), DIGEST_HOURS * 3600.0
    births = {tid: first for tid, (first, _) in store.topic_spans().items()}
    news = WAR | set().union(*(terms for terms, _, _ in EVENTS.values()))
    out = {m: {"shown": 0, "other": 0, "sars": None} for m in NEW_MINIMA}
    days = (last_day - first_day).days + 1
    for d in range(days):
        end = datetime.combine(first_day, datetime.min.time(), UTC).timestamp() + (d + 1) * 86400
        series = {tid: trends.binned(ts, end, period, DIGEST_HISTORY + 1)
                  for tid, ts in store.topic_times(end - (DIGEST_HISTORY + 1) * period, end).items()}
        week: dict[int, list[str]] = {}
        for r in rows:
            if end - period <= r["event_time"] < end:
                week.setdefault(final(r["topic_id"]), []).append(r["text"])
        earliest = span[0] + min(3, DIGEST_HISTORY) * period if span else end
        for m, counts in out.items():
            for topic in trends.emerging(series, births, end - period, earliest, m)[:DIGEST_SHOWN]:
                held, alert = week.get(topic.topic_id, []), {"title": "", "topic_keywords": []}
                counts["shown"] += 1
                counts["other"] += not about(alert, held, news)
                if counts["sars"] is None and about(alert, held, EVENTS["SARS"][0]):
                    counts["sars"] = (first_day + timedelta(days=d)).isoformat()
    store.close()
    return {str(m): {**c, "shown_per_digest": round(c["shown"] / days, 2),
                     "other_per_digest": round(c["other"] / days, 2)} for m, c in out.items()}


def show(figures: dict, args: argparse.Namespace) -> None:
    say(f"{figures['items']} headlines {figures['first_day']}..{figures['last_day']} replayed through the daemon in "
        f"{figures['seconds']:.0f} s (embeddings cached); topic_burst rule: {rule_description(args)}; topics "
        f"{'fixed, threshold ' + format(args.threshold, 'g') if args.threshold else 'adaptive (default)'}: "
        f"{figures['alerts']} alerts")
    say(f"{'event':10} {'first flagged':14} {'how':7} {'delay':>6} {'goal':>6}  topic: headline")
    for name in EVENTS:
        e = figures[name]
        delay = "-" if e["delay_days"] is None else f"{e['delay_days']:+d} d"
        say(f"{name:10} {e['first_flag'] or 'never':14} {e['how'] or '-':7} {delay:>6} {'<= ' + str(e['goal_days']):>6}"
            f"  {e['topic'] or ''}: {e['title'] or ''}")
    say(f"other alerts (neither event nor the war): {figures['other_alerts']} over {figures['judged_days']} days "
        f"after the warm-up = {figures['other_per_day']:.2f}/day (goal <= {FALSE_PER_DAY_GOAL:g}): new "
        f"{figures['other_new_per_day']:.2f}/day, rising {figures['other_rising_per_day']:.2f}/day; busiest day "
        f"{figures['busiest_other_day'][0]} with {figures['busiest_other_day'][1]}")
    say(f"the weekly digest's New section, built for each of the {figures['days']} days (the {DIGEST_SHOWN} largest "
        f"new topics of the week):")
    for m, c in figures["digest_new"].items():
        say(f"  new topics of {m}+ items: {c['shown_per_digest']:.2f} shown a digest, {c['other_per_digest']:.2f} on "
            f"neither event nor the war; SARS first shown {c['sars'] or 'never'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="dated JSONL headlines (default: ABC 2003)")
    parser.add_argument("--days", type=float, default=0.0, help="replay only the first DAYS days (0: all)")
    parser.add_argument("--threshold", type=float, help="fixed topics (topics.adaptive = false) at this threshold")
    replay_arguments(parser, bin_minutes=1440.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) if args.keep is None else args.keep
        folder.mkdir(parents=True, exist_ok=args.keep is None)
        stream = write_stream(args.data, args.days, folder)
        rows = [json.loads(line) for line in stream.open(encoding="utf-8")]
        texts = [r["text"] for r in rows]
        vectors = dict(zip(texts, embed("emerging-abc", texts, args.cache), strict=True))
        topics = f"adaptive = false\nthreshold = {args.threshold:g}\n" if args.threshold else ""
        run = replay(settings_file(folder, stream, args, topics), CachedEncoder(vectors))
        first_day, last_day = (datetime.fromisoformat(rows[i]["timestamp"]).date() for i in (0, -1))
        news = digest_news(folder / "lookout.db", first_day, last_day)
    figures = report(run, first_day, last_day, int(6 * args.bin_minutes // 1440))
    figures["digest_new"] = news
    figures.update(items=run.items, seconds=round(run.seconds, 1), first_day=first_day, last_day=last_day,
                   days=(last_day - first_day).days + 1, bin_minutes=args.bin_minutes, factor=args.factor,
                   min_count=args.min_count, threshold=args.threshold)
    show(figures, args)
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
