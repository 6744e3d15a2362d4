"""Burst-detection benchmark (issue 6): detection delay and false alarms of the default ``topic_burst`` rule.

The background is real text: AG News test items arriving as a Poisson stream (``--rate`` items an hour, cycled with
small noise on the embeddings when the stream outlasts the file) for ``--days`` days. Planted into it at known
start times are bursts of real posts of one 20 Newsgroups class each (a story the background never mentions):
``--burst-rate`` items an hour for ``--burst-hours`` hours. Every item goes through the online topic model and the
alert engine with a ``topic_burst`` rule at its default settings, exactly as in the daemon.

An alert counts as a detection when most items of its topic so far are planted ones and a burst is running (or
ended less than an hour ago); its delay is the time from the burst's start. Any other alert is a false alarm.

    .venv/bin/python bench/bursts.py                      # 14 days at 100 items/h, 12 planted bursts
    .venv/bin/python bench/bursts.py --rate 400 --burst-rate 10
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.topics import NEWSGROUPS, ag_news, embed, post_text, read_jsonl, settings  # noqa: E402
from models.classifier import Prediction  # noqa: E402
from models.topics import OnlineTopicModel  # noqa: E402
from monitor.config.schema import AlertSettings  # noqa: E402
from monitor.enrich.alerts import AlertEngine, Evaluation, Rule  # noqa: E402
from monitor.ingest.item import Item  # noqa: E402

HOUR = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--rate", type=float, default=100.0, help="background items an hour (default 100)")
    parser.add_argument("--bursts", type=int, default=12, help="planted bursts (default 12)")
    parser.add_argument("--burst-rate", type=float, default=15.0, help="items an hour of a burst (default 15)")
    parser.add_argument("--burst-hours", type=float, default=3.0, help="length of a burst (default 3)")
    parser.add_argument("--factor", type=float, help="the rule's factor (default: the setting's default)")
    parser.add_argument("--min-count", type=int, help="the rule's min_count (default: the setting's default)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lookout-bench-cache"), help="embedding cache")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    background = ag_news(None, args.cache)
    groups = read_jsonl(NEWSGROUPS)
    classes = sorted({r["label"] for r in groups})
    random.Random(0).shuffle(classes)
    end = args.days * 24 * HOUR
    starts = sorted(rng.uniform(8 * HOUR, end - args.burst_hours * HOUR, size=args.bursts).tolist())
    events: list[tuple[float, np.ndarray, str, int]] = []
    for t in np.cumsum(rng.exponential(HOUR / args.rate, size=int(args.rate * end / HOUR * 1.1))):
        if t >= end:
            break
        i = int(rng.integers(len(background)))
        v = background.vectors[i] + rng.normal(scale=0.01, size=background.vectors.shape[1])
        events.append((float(t), (v / np.linalg.norm(v)).astype(np.float32), background.texts[i], -1))
    planted = []
    for b in range(len(starts)):
        rows = [r for r in groups if r["label"] == classes[b % len(classes)] and r["split"] == "train"]
        n = int(rng.poisson(args.burst_rate * args.burst_hours))
        planted.append([post_text(r) for r in random.Random(b).sample(rows, min(n, len(rows)))])
    vectors = embed("20ng-train-bursts", [t for texts in planted for t in texts], args.cache)
    offset = 0
    for b, (start, texts) in enumerate(zip(starts, planted, strict=True)):
        times = np.sort(rng.uniform(start, start + args.burst_hours * HOUR, size=len(texts)))
        events += [(float(t), v, text, b) for t, v, text in
                   zip(times, vectors[offset:offset + len(texts)], texts, strict=True)]
        offset += len(texts)
    events.sort(key=lambda e: e[0])

    model = OnlineTopicModel(**settings())
    overrides = {k: v for k, v in (("factor", args.factor), ("min_count", args.min_count)) if v is not None}
    rule = Rule.from_settings(AlertSettings(name="emerging", kind="topic_burst", **overrides), "#c")
    engine = AlertEngine([rule])
    members: dict[int, Counter[int]] = {}
    detected: dict[int, float] = {}
    false_alarms = 0
    for n, (t, v, text, burst) in enumerate(tqdm(events, desc="streaming", unit="item")):
        tid = model.update(v, text=text, item_id=str(n), ts=t)
        members.setdefault(tid, Counter())[burst] += 1
        for _ in engine.evaluate(Evaluation(Item(id=str(n), source="bench", title="", text=""),
                                            [Prediction("t", "x", 1.0, False, "bench")], tid, 0), t):
            origin, count = members[tid].most_common(1)[0]
            running = origin >= 0 and starts[origin] <= t <= starts[origin] + (args.burst_hours + 1) * HOUR
            if running and count * 2 > sum(members[tid].values()):
                detected.setdefault(origin, t - starts[origin])
            else:
                false_alarms += 1
    delays = sorted(d / 60 for d in detected.values())
    days = args.days
    result = {"bursts": args.bursts, "detected": len(detected), "median_delay_minutes": float(np.median(delays))
              if delays else None, "max_delay_minutes": max(delays) if delays else None,
              "false_alarms": false_alarms, "false_alarms_per_day": false_alarms / days, "items": len(events),
              "topics": len(model), "rule": {"factor": rule.factor, "min_count": rule.min_count,
                                             "bin_minutes": rule.bin_minutes, "warmup_bins": rule.warmup_bins}}
    print(f"\n{len(events)} items over {days:g} days ({args.rate:g}/h of AG News, {args.bursts} planted bursts of "
          f"{args.burst_rate:g}/h for {args.burst_hours:g} h from 20 Newsgroups classes); topic_burst with "
          f"(factor {rule.factor:g}, min_count {rule.min_count}, {rule.bin_minutes:g}-minute windows, warm-up "
          f"{rule.warmup_bins})")
    print(f"detected {len(detected)} of {args.bursts} bursts; delay after the burst starts: median "
          f"{result['median_delay_minutes'] or 0:.0f} min, worst {result['max_delay_minutes'] or 0:.0f} min")
    print(f"false alarms: {false_alarms} in {days:g} days = {false_alarms / days:.2f} a day")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
