"""Derive the small samples committed to the repository from ../shared/datasets (run once, by hand).

The news sample (the demo's first act) is a seeded random fifth of the ABC News headlines of 2003-02-19 ..
2003-06-02 (CC0): each headline kept with probability ``--news-fraction``, in date order, with its publication day.
The spam sample is SpamAssassin's public corpus (PDDL-1.0 database, CC0 contents, so it may be redistributed): a
seeded, stratified sample of ham and spam, subject as title, body cut to a few hundred words.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
BODY_CHARS = 1200


def demo_sample(n_ham: int, n_spam: int, seed: int) -> list[dict]:
    rows = [json.loads(line) for line in (SHARED / "spamassassin" / "spamassassin.jsonl").open()]
    rng = random.Random(seed)
    ham = [r for r in rows if r["label"] == "ham" and r["split"] in ("easy_ham", "hard_ham")]
    spam = [r for r in rows if r["label"] == "spam"]
    picked = rng.sample(ham, n_ham) + rng.sample(spam, n_spam)
    rng.shuffle(picked)
    out = []
    for r in picked:
        body = r["text"]
        if r.get("subject") and body.startswith(r["subject"]):
            body = body[len(r["subject"]):].lstrip()
        out.append({"id": r["id"], "title": r.get("subject") or "", "text": body[:BODY_CHARS],
                    "label": r["label"], "split": r["split"], "timestamp": r.get("timestamp")})
    return out


def news_sample(fraction: float, seed: int) -> list[dict]:
    """Each ABC headline kept with probability ``fraction`` (one seeded draw per line, in file order)."""
    rng = random.Random(seed)
    rows = [json.loads(line) for line in (SHARED / "abc_headlines" / "abc_headlines_2003.jsonl").open()]
    return [{"id": r["id"], "text": r["text"], "timestamp": r["timestamp"]} for r in rows if rng.random() < fraction]


def write_jsonl(target: Path, rows: list[dict]) -> None:
    with target.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {target.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ham", type=int, default=160)
    parser.add_argument("--spam", type=int, default=80)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--news-fraction", type=float, default=0.2)
    parser.add_argument("--news-seed", type=int, default=2003)
    args = parser.parse_args()
    write_jsonl(ROOT / "monitor" / "demo" / "spamassassin_sample.jsonl", demo_sample(args.ham, args.spam, args.seed))
    write_jsonl(ROOT / "monitor" / "demo" / "abc_headlines_sample.jsonl",
                news_sample(args.news_fraction, args.news_seed))


if __name__ == "__main__":
    main()
