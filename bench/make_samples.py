"""Derive the small samples committed to the repository from ../shared/datasets (run once, by hand).

The demo sample is SpamAssassin's public corpus (PDDL-1.0 database, CC0 contents, so it may be redistributed):
a seeded, stratified sample of ham and spam, subject as title, body cut to a few hundred words.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ham", type=int, default=160)
    parser.add_argument("--spam", type=int, default=80)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    target = ROOT / "monitor" / "demo" / "spamassassin_sample.jsonl"
    with target.open("w", encoding="utf-8") as f:
        for row in demo_sample(args.ham, args.spam, args.seed):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
