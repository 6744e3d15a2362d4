"""Does `training.augment` help a rare label? Measured on TweetEval emotion (run on demand; needs
../shared/datasets/tweeteval).

`optimism` is made rare by keeping only 40 of its training examples (seed 0); the other labels keep all theirs. The
bundled all-MiniLM-L6-v2 is fine-tuned twice in one run with the learning loop's defaults except freeze_layers 4,
3 epochs and max length 64: without augmentation, and with `training.augment = 3` (up to 3 variants of each example
of a label under `augment_below`, 50, made by `monitor.learning.train.train_split` as a training run makes them). Both
keep the epoch that scores best on val and are scored on the whole test split.

    .venv/bin/python bench/augment.py            # the run quoted in the README
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import tweeteval  # noqa: E402
from models.evaluation import score  # noqa: E402
from models.finetune import Example, TrainArgs, predict_proba, train  # noqa: E402
from monitor.config.load import load_settings  # noqa: E402
from monitor.learning.data import TrainingData, train_split  # noqa: E402

RARE = "optimism"


def load(keep: int, seed: int) -> dict[str, list[Example]]:
    """TweetEval emotion with only ``keep`` of the rare label's training examples (a seeded sample)."""
    split = {name: tweeteval.examples(rows) for name, rows in tweeteval.load("emotion").items()}
    rare = [e for e in split["train"] if e.label == RARE]
    kept = set(random.Random(seed).sample(range(len(rare)), keep))
    rare_kept = [e for i, e in enumerate(rare) if i in kept]
    split["train"] = [e for e in split["train"] if e.label != RARE] + rare_kept
    random.Random(seed).shuffle(split["train"])
    return split


def run(name: str, labels: list[str], train_set: list[Example], data: dict[str, list[Example]],
        args: TrainArgs) -> dict:
    def progress(p: object) -> None:
        if getattr(p, "val_score", None) is not None:
            print(f"  {name}: epoch {p.epoch}/{p.epochs} val macro_f1 {p.val_score:.3f}", flush=True)

    result = train(labels, train_set, data["val"], args, device="cpu", progress=progress)
    truth = [e.label for e in data["test"]]
    probs = predict_proba(result.model, result.tokenizer, [e.text for e in data["test"]], 64, args.max_length)
    predicted = [labels[i] for i in probs.argmax(axis=1)]
    return {"run": name, "train_examples": len(train_set), "rare_examples": sum(e.label == RARE for e in train_set),
            "macro_f1": 100 * score("macro_f1", truth, predicted, labels),
            "rare_f1": 100 * score(f"f1:{RARE}", truth, predicted, labels), "best_epoch": result.best_epoch,
            "minutes": result.seconds / 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=int, default=40, help=f"training examples of {RARE} kept (default: 40)")
    parser.add_argument("--augment", type=int, default=3, help="training.augment of the second run (default: 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON too")
    args = parser.parse_args()
    data = load(args.keep, args.seed)
    labels = sorted({e.label for e in data["train"]})
    targs = TrainArgs(base="bundled", freeze_layers=4, epochs=3, max_length=64, seed=args.seed)
    settings = load_settings(None, env={"LOOKOUT_TRAINING_AUGMENT": str(args.augment),
                                        "LOOKOUT_TRAINING_SEED": str(args.seed)})
    started = time.monotonic()
    augmented = train_split(TrainingData(train=data["train"], val=data["val"], holdout=data["test"]), settings)
    made = augmented[len(data["train"]):]
    print(f"training examples per label: {dict(sorted(Counter(e.label for e in data['train']).items()))}; "
          f"{len(made)} variants of {RARE} made in {time.monotonic() - started:.0f} s (augment {args.augment}, "
          f"augment_below {settings.training.augment_below}), e.g.:", flush=True)
    for variant in made[:args.augment]:
        print(f"  {variant.text}")
    results = [run("no augmentation", labels, data["train"], data, targs),
               run(f"augment {args.augment}", labels, augmented, data, targs)]
    print(f"\nTweetEval emotion test ({len(data['test'])} tweets), {RARE} cut to {args.keep} training examples; "
          "bundled MiniLM, freeze_layers 4, 3 epochs, max length 64, seed "
          f"{args.seed}\n{'run':<18}{'train ex.':>10}{RARE + ' ex.':>14}{'macro-F1':>10}{RARE + ' F1':>13}"
          f"{'best epoch':>12}{'minutes':>9}")
    for r in results:
        print(f"{r['run']:<18}{r['train_examples']:>10}{r['rare_examples']:>14}{r['macro_f1']:>10.1f}"
              f"{r['rare_f1']:>13.1f}{r['best_epoch']:>12}{r['minutes']:>9.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
