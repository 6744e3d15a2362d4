"""Burst-detection benchmark (issue 6, through the user's path since issue 15): detection delay and false alarms of
the default ``topic_burst`` rule.

The background is real text: AG News test items arriving as a Poisson stream (``--rate`` items an hour, drawn
with replacement, so a text recurs; each repeat's embedding gets noise of sigma 0.01 per dimension) for ``--days``
days from 2024-03-01. Planted into it at known start times are bursts of real posts of one 20 Newsgroups class each
(a story the background never mentions): ``--burst-rate`` items an hour for ``--burst-hours`` hours. The stream
is written as a dated JSONL file and played by the replay source, at event time, into the daemon (``bench.common``:
in-process, the bundled model with cached embeddings, the default topic settings and one ``topic_burst`` rule at
its defaults), as a user would replay it.

An alert counts as a detection when most of the items its topic held when it fired (``bench.common.held_items``)
are planted ones of one burst and that burst is running (or ended less than an hour ago); its delay is the time
from the burst's start. Any other alert is a false alarm.

    .venv/bin/python bench/bursts.py                      # 14 days at 100 items/h, 12 planted bursts
    .venv/bin/python bench/bursts.py --factor 3 --min-count 8
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

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
from bench.topics import AG_NEWS, NEWSGROUPS, embed, post_text, read_jsonl  # noqa: E402
from monitor.ingest.item import make_id  # noqa: E402

HOUR = 3600.0
START = datetime(2024, 3, 1, tzinfo=UTC).timestamp()


def planted_posts(args: argparse.Namespace, rng: np.random.Generator) -> tuple[list[float], list[list[str]]]:
    """The bursts' start times (seconds into the stream) and posts: real 20 Newsgroups posts of one class each."""
    groups = read_jsonl(NEWSGROUPS)
    classes = sorted({r["label"] for r in groups})
    random.Random(0).shuffle(classes)
    end = args.days * 24 * HOUR
    starts = sorted(rng.uniform(8 * HOUR, end - args.burst_hours * HOUR, size=args.bursts).tolist())
    posts = []
    for b in range(len(starts)):
        rows = [r for r in groups if r["label"] == classes[b % len(classes)] and r["split"] == "train"]
        n = int(rng.poisson(args.burst_rate * args.burst_hours))
        posts.append([post_text(r) for r in random.Random(b).sample(rows, min(n, len(rows)))])
    return starts, posts


def write_stream(args: argparse.Namespace, path: Path) -> tuple[list[float], dict[str, int], dict[str, np.ndarray]]:
    """Write the stream as dated JSONL rows in time order; the bursts' starts, each item's burst (-1: none) and the
    texts' embeddings (cached as bench/topics.py and the earlier bench/bursts.py cached them), by the text as the
    replay reads it (stripped)."""
    rng = np.random.default_rng(0)
    background = [r["text"] for r in read_jsonl(AG_NEWS)]
    end = args.days * 24 * HOUR
    rows: list[tuple[float, str, int]] = []
    for t in np.cumsum(rng.exponential(HOUR / args.rate, size=int(args.rate * end / HOUR * 1.1))):
        if t >= end:
            break
        rows.append((float(t), background[int(rng.integers(len(background)))], -1))
    starts, posts = planted_posts(args, rng)
    for b, (start, texts) in enumerate(zip(starts, posts, strict=True)):
        times = np.sort(rng.uniform(start, start + args.burst_hours * HOUR, size=len(texts)))
        rows += [(float(t), text, b) for t, text in zip(times, texts, strict=True)]
    rows.sort(key=lambda r: r[0])
    planted = [text for texts in posts for text in texts]
    vectors = {t.strip(): v for t, v in zip(background, embed("ag-news", background, args.cache), strict=True)}
    vectors.update((t.strip(), v) for t, v in zip(planted, embed("20ng-train-bursts", planted, args.cache),
                                                   strict=True))
    burst_of = {}
    with path.open("w", encoding="utf-8") as f:
        for n, (t, text, b) in enumerate(rows):
            f.write(json.dumps({"id": str(n), "text": text.strip(),
                                "timestamp": datetime.fromtimestamp(START + t, UTC).isoformat()}) + "\n")
            burst_of[make_id("stream", str(n))] = b
    return starts, burst_of, vectors


def score(run: Replayed, starts: list[float], burst_of: dict[str, int], args: argparse.Namespace) -> dict:
    """Detections (first per burst, with its delay) and false alarms, from what each alert's topic held."""
    detected: dict[int, float] = {}
    false_alarms = 0
    for alert, held in zip(run.alerts, run.held, strict=True):
        t = alert["event_time"] - START
        origin, count = Counter(burst_of[i] for i in held).most_common(1)[0]
        running = origin >= 0 and starts[origin] <= t <= starts[origin] + (args.burst_hours + 1) * HOUR
        if running and count * 2 > len(held):
            detected.setdefault(origin, t - starts[origin])
        else:
            false_alarms += 1
    delays = sorted(d / 60 for d in detected.values())
    return {"bursts": args.bursts, "detected": len(detected), "alerts": len(run.alerts),
            "median_delay_minutes": float(np.median(delays)) if delays else None,
            "max_delay_minutes": max(delays) if delays else None, "false_alarms": false_alarms,
            "false_alarms_per_day": false_alarms / args.days, "items": run.items, "seconds": round(run.seconds, 1),
            "factor": args.factor, "min_count": args.min_count, "bin_minutes": args.bin_minutes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--rate", type=float, default=100.0, help="background items an hour (default 100)")
    parser.add_argument("--bursts", type=int, default=12, help="planted bursts (default 12)")
    parser.add_argument("--burst-rate", type=float, default=15.0, help="items an hour of a burst (default 15)")
    parser.add_argument("--burst-hours", type=float, default=3.0, help="length of a burst (default 3)")
    replay_arguments(parser, bin_minutes=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) if args.keep is None else args.keep
        folder.mkdir(parents=True, exist_ok=args.keep is None)
        stream = folder / "stream.jsonl"
        starts, burst_of, vectors = write_stream(args, stream)
        run = replay(settings_file(folder, stream, args), CachedEncoder(vectors, noise=0.01))
    result = score(run, starts, burst_of, args)
    say(f"{run.items} items over {args.days:g} days ({args.rate:g}/h of AG News, {args.bursts} planted bursts of "
        f"{args.burst_rate:g}/h for {args.burst_hours:g} h from 20 Newsgroups classes) replayed through the daemon in "
        f"{run.seconds:.0f} s (embeddings cached); topic_burst rule: {rule_description(args)}")
    say(f"detected {result['detected']} of {args.bursts} bursts; delay after the burst starts: median "
        f"{result['median_delay_minutes'] or 0:.0f} min, worst {result['max_delay_minutes'] or 0:.0f} min")
    say(f"false alarms: {result['false_alarms']} of {result['alerts']} alerts in {args.days:g} days = "
        f"{result['false_alarms_per_day']:.2f} a day")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
