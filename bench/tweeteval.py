"""TweetEval benchmark of Lookout's fine-tuned classifiers (run on demand; needs ../shared/datasets/tweeteval).

For emotion, hate, offensive and irony: fine-tune the bundled all-MiniLM-L6-v2 (22.7M parameters) on the train
split, keep the epoch that scores best on val, and score test with the task's official metric (macro-F1; F1 of the
`irony` class for irony). Printed next to the published RoBERTa-Base, FastText and SVM rows and, from the same
run, a logistic regression on the bundled model's sentence embeddings. Also measured in the same run:

  * agreement of the int8-quantised model with the fp32 one on test, and inference throughput (texts/s) of both
    next to the raw sentence encoder's;
  * ``--curve``: a correction-budget curve on one task: macro-F1 after 50, 100, 200 and 500 labels chosen at random
    or by active learning (smallest margin between the top two labels, in rounds), same seed and pool.

    .venv/bin/python bench/tweeteval.py                         # all four tasks, each capped at --max-minutes
    .venv/bin/python bench/tweeteval.py --tasks irony emotion --epochs 3   # the run quoted in the README
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.embedding import Encoder  # noqa: E402
from models.evaluation import score  # noqa: E402
from models.finetune import Example, TrainArgs, predict_proba, quantize, train  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "tweeteval"
METRIC = {"emotion": "macro_f1", "hate": "macro_f1", "offensive": "macro_f1", "irony": "f1:irony"}
PUBLISHED = {"RoBERTa-Base": {"emotion": 76.1, "hate": 46.6, "offensive": 79.5, "irony": 59.7},
             "FastText": {"emotion": 65.2, "hate": 50.6, "offensive": 73.4, "irony": 63.1},
             "SVM": {"emotion": 64.7, "hate": 36.7, "offensive": 52.3, "irony": 61.7}}
EPOCHS = {"emotion": 5, "hate": 3, "offensive": 3, "irony": 5}


def load(task: str) -> dict[str, list[dict]]:
    rows = [json.loads(line) for line in (DATA / f"{task}.jsonl").open()]
    return {split: [r for r in rows if r["split"] == split] for split in ("train", "val", "test")}


def examples(rows: list[dict]) -> list[Example]:
    return [Example(r["text"], r["label"]) for r in rows]


def bench_task(task: str, args: argparse.Namespace, encoder: Encoder) -> dict:
    data = load(task)
    labels = sorted({r["label"] for r in data["train"]})
    metric = METRIC[task]
    targs = TrainArgs(freeze_layers=args.freeze, epochs=args.epochs or EPOCHS[task], patience=2,
                      learning_rate=args.lr, batch_size=args.batch, max_length=64, metric=metric,
                      max_minutes=args.max_minutes)
    last = [0.0]

    def progress(p: object) -> None:
        if time.monotonic() - last[0] > 30 or getattr(p, "val_score", None) is not None:
            last[0] = time.monotonic()
            print(f"  {task}: epoch {p.epoch}/{p.epochs} step {p.step}/{p.steps} loss {p.loss:.3f}"
                  + (f" val {p.val_score:.3f}" if p.val_score is not None else ""), flush=True)

    result = train(labels, examples(data["train"]), examples(data["val"]), targs, device="cpu", progress=progress)
    test_texts = [r["text"] for r in data["test"]]
    truth = [r["label"] for r in data["test"]]
    started = time.monotonic()
    fp32 = predict_proba(result.model, result.tokenizer, test_texts, 64, 64)
    fp32_rate = len(test_texts) / (time.monotonic() - started)
    int8_model = quantize(result.model)
    started = time.monotonic()
    int8 = predict_proba(int8_model, result.tokenizer, test_texts, 64, 64)
    int8_rate = len(test_texts) / (time.monotonic() - started)
    started = time.monotonic()
    test_vectors = encoder.encode(test_texts)
    encode_rate = len(test_texts) / (time.monotonic() - started)
    logreg = LogisticRegression(max_iter=2000, C=2.0, class_weight="balanced")
    logreg.fit(encoder.encode([r["text"] for r in data["train"]]), [r["label"] for r in data["train"]])
    return {
        "task": task, "metric": metric, "train_seconds": result.seconds, "best_epoch": result.best_epoch,
        "history": result.history,
        "fine_tuned": 100 * score(metric, truth, [labels[i] for i in fp32.argmax(1)], labels),
        "int8": 100 * score(metric, truth, [labels[i] for i in int8.argmax(1)], labels),
        "int8_agreement": float((fp32.argmax(1) == int8.argmax(1)).mean()),
        "logreg": 100 * score(metric, truth, list(logreg.predict(test_vectors)), labels),
        "fp32_per_s": fp32_rate, "int8_per_s": int8_rate, "encode_per_s": encode_rate,
    }


def curve(task: str, args: argparse.Namespace) -> None:
    data = load(task)
    labels = sorted({r["label"] for r in data["train"]})
    pool = data["train"]
    val = examples(data["val"])
    truth = [r["label"] for r in data["test"]]
    budgets = [50, 100, 200, 500]
    targs = TrainArgs(freeze_layers=args.freeze, epochs=8, patience=3, learning_rate=args.lr,
                      batch_size=args.batch, max_length=64)
    print(f"\nCorrection-budget curve on {task} (macro-F1 on test, %):")
    print(f"{'labels':>7} {'random':>8} {'active':>8}")
    rng = random.Random(0)
    order = list(range(len(pool)))
    rng.shuffle(order)
    chosen = set(order[: budgets[0]])
    for budget in budgets:
        random_set = [pool[i] for i in order[:budget]]
        r = train(labels, examples(random_set), val, targs, device="cpu")
        random_f1 = 100 * score("macro_f1", truth, [labels[i] for i in predict_proba(
            r.model, r.tokenizer, [x["text"] for x in data["test"]], 64, 64).argmax(1)], labels)
        if budget > budgets[0]:
            a = train(labels, examples([pool[i] for i in sorted(chosen)]), val, targs, device="cpu")
            rest = [i for i in range(len(pool)) if i not in chosen]
            probs = predict_proba(a.model, a.tokenizer, [pool[i]["text"] for i in rest], 64, 64)
            top2 = np.sort(probs, axis=1)[:, -2:]
            margin = top2[:, 1] - top2[:, 0]
            chosen |= {rest[j] for j in np.argsort(margin)[: budget - len(chosen)]}
        a = train(labels, examples([pool[i] for i in sorted(chosen)]), val, targs, device="cpu")
        active_f1 = 100 * score("macro_f1", truth, [labels[i] for i in predict_proba(
            a.model, a.tokenizer, [x["text"] for x in data["test"]], 64, 64).argmax(1)], labels)
        print(f"{budget:>7} {random_f1:>8.1f} {active_f1:>8.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="*", default=list(METRIC), choices=list(METRIC))
    parser.add_argument("--epochs", type=int, default=0, help="epochs for every task (default: per task)")
    parser.add_argument("--freeze", type=int, default=0, help="layers frozen (default 0: full fine-tuning)")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-minutes", type=float, default=19.0, help="training time cap per task")
    parser.add_argument("--curve", metavar="TASK", choices=list(METRIC), help="also run the budget curve")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON too")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    encoder = Encoder("bundled", device="cpu")
    results = []
    for task in args.tasks:
        r = bench_task(task, args, encoder)
        results.append(r)
        print(f"{task}: test {r['metric']} fine-tuned {r['fine_tuned']:.1f} (int8 {r['int8']:.1f}, agreement "
              f"{r['int8_agreement']:.3f}), logreg {r['logreg']:.1f}, RoBERTa-Base {PUBLISHED['RoBERTa-Base'][task]}; "
              f"trained {r['train_seconds'] / 60:.1f} min", flush=True)
    tasks = [r["task"] for r in results]
    header = f"{'model':<28}" + "".join(f"{t:>11}" for t in tasks) + f"{'average':>11}"
    print("\nTweetEval test (official metric, %):")
    print(header)

    def row(name: str, values: list[float]) -> None:
        print(f"{name:<28}" + "".join(f"{v:>11.1f}" for v in values) + f"{np.mean(values):>11.1f}")

    row("Lookout fine-tuned (fp32)", [r["fine_tuned"] for r in results])
    row("Lookout fine-tuned (int8)", [r["int8"] for r in results])
    row("logreg on embeddings", [r["logreg"] for r in results])
    for name, scores in PUBLISHED.items():
        row(f"{name} (published)", [scores[t] for t in tasks])
    print("\nper task: training minutes, best epoch, int8 agreement, texts/s fp32 | int8 | encoder (ratio to encoder)")
    for r in results:
        print(f"  {r['task']:<10} {r['train_seconds'] / 60:5.1f} min  epoch {r['best_epoch']}  "
              f"agree {r['int8_agreement']:.3f}  {r['fp32_per_s']:6.0f} | {r['int8_per_s']:6.0f} | "
              f"{r['encode_per_s']:6.0f}  ({r['fp32_per_s'] / r['encode_per_s']:.2f} | "
              f"{r['int8_per_s'] / r['encode_per_s']:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.curve:
        curve(args.curve, args)


if __name__ == "__main__":
    main()
