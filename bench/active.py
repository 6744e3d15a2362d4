"""Active learning's correction-budget curve on real tasks (run on demand; needs ../shared/datasets).

For TweetEval emotion (4 classes, train + val as the pool, macro-F1) and TREC-6 (6 classes, accuracy), over
``--seeds`` seeds: a validation split of ``--val`` random pool items is set aside, the rest is the pool, and the
seed set is 2 random labelled items per class. Each strategy of ``models.active.select`` then asks for
``--round`` labels at a time, the head (``models.head.train_head``, its strength picked on the validation split)
retrained on every label so far after each round, until the budgets of 50, 100, 200 and 500 labels (seed set
included); there the head is scored on the dataset's own test set. The strategies:

  * ``random``: a random sample of the pool (same seed set);
  * ``margin``: the smallest margin between the head's top two labels;
  * ``spread``: the smallest margin, at most one item per topic in a round, the topics being the online topic
    model's at the daemon's default settings (``OnlineTopicModel`` with ``topic_model_settings(TopicSettings())``),
    fed the pool in the seed's order, each item in the topic it joined at arrival, merges followed.

Printed per task: labels x strategy, mean ± std over the seeds of the test metric, and whether each active
strategy beats random beyond the spread (mean - std above random's mean + std) at 3 of the 4 budgets (the goal).
Embeddings come from the bundled all-MiniLM-L6-v2, cached by ``bench.topics.embed`` (``--cache``; the first run
encodes the pools, about 9,000 short texts: 3 minutes here). The strength grid is ``models.head.STRENGTHS``.
With the cache, the default run took 703 s on 2 shared cores (2026-12-01).

    .venv/bin/python bench/active.py                          # both tasks, 5 seeds (the run quoted in the README)
    .venv/bin/python bench/active.py --tasks emotion --seeds 2
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ladder import dataset  # noqa: E402
from bench.topics import embed, resolve  # noqa: E402
from models.active import STRATEGIES, margins, select  # noqa: E402
from models.evaluation import score  # noqa: E402
from models.head import EmbeddingHead, train_head  # noqa: E402
from models.topics import OnlineTopicModel  # noqa: E402
from monitor.config.schema import TopicSettings  # noqa: E402
from monitor.enrich.build import topic_model_settings  # noqa: E402

TASKS = {"emotion": "ladder-emotion", "trec6": "ladder-trec50"}
BUDGETS = (50, 100, 200, 500)
GOAL = 3


class Task:
    """A task's pool and test set as embeddings and label indices."""

    def __init__(self, name: str, cache: Path) -> None:
        train_rows, test_rows, self.metric = dataset(name)
        self.name = name
        self.labels = sorted({r["label"] for r in train_rows})
        vectors = embed(TASKS[name], [r["text"] for r in train_rows + test_rows], cache)
        self.texts = [r["text"] for r in train_rows]
        self.x, self.x_test = vectors[: len(train_rows)], vectors[len(train_rows):]
        self.y = [r["label"] for r in train_rows]
        self.y_test = [r["label"] for r in test_rows]


def topics_of(task: Task, order: list[int]) -> np.ndarray:
    """Each pool item's topic: the one it joined when the pool streamed in ``order``, merges followed."""
    model = OnlineTopicModel(**topic_model_settings(TopicSettings()))  # type: ignore[arg-type]
    joined = {i: model.update(task.x[i], text=task.texts[i], item_id=str(i), ts=float(n))
              for n, i in enumerate(order)}
    removed = model.drain_changes().removed
    return np.array([resolve(joined[i], removed) for i in range(len(task.x))])


def run(task: Task, strategy: str, seed: int, val: list[int], pool: list[int], start: list[int],
        topics: np.ndarray, step: int) -> dict[int, float]:
    """The test score at each budget of one strategy from one seed set."""
    labelled, rest = list(start), sorted(set(pool) - set(start))
    scores: dict[int, float] = {}
    x_val, y_val = task.x[val], [task.y[i] for i in val]

    def fit() -> EmbeddingHead:
        return train_head(task.labels, task.x[labelled], [task.y[i] for i in labelled], [1.0] * len(labelled),
                          x_val, y_val, task.metric, seed=seed).head

    rounds = 0
    for budget in BUDGETS:
        while len(labelled) < budget:
            item_margins = np.zeros(len(rest)) if strategy == "random" else margins(fit().probabilities(task.x[rest]))
            picked = {rest[j] for j in select(item_margins, topics[rest], min(step, budget - len(labelled)), strategy,
                                              seed=seed * 1000 + rounds)}
            labelled += sorted(picked)
            rest = [i for i in rest if i not in picked]
            rounds += 1
        chosen = fit().probabilities(task.x_test).argmax(1)
        scores[budget] = 100 * score(task.metric, task.y_test, [task.labels[i] for i in chosen], task.labels)
    return scores


def bench_task(task: Task, args: argparse.Namespace) -> dict[str, dict[int, list[float]]]:
    results: dict[str, dict[int, list[float]]] = {s: defaultdict(list) for s in STRATEGIES}
    topic_counts = []
    for seed in range(args.seeds):
        rng = random.Random(seed)
        order = list(range(len(task.x)))
        rng.shuffle(order)
        val, pool = order[: args.val], order[args.val:]
        by_label: dict[str, list[int]] = defaultdict(list)
        for i in pool:
            by_label[task.y[i]].append(i)
        start = [i for label in task.labels for i in by_label[label][:2]]
        topics = topics_of(task, order)
        topic_counts.append(len(set(topics[pool].tolist())))
        for strategy in STRATEGIES:
            started = time.monotonic()
            for budget, value in run(task, strategy, seed, val, pool, start, topics, args.round).items():
                results[strategy][budget].append(value)
            print(f"  {task.name} seed {seed} {strategy}: " + ", ".join(
                f"{b} {results[strategy][b][-1]:.1f}" for b in BUDGETS) + f" ({time.monotonic() - started:.0f} s)",
                  flush=True)
    print(f"\n{task.name}: test {task.metric} (%), mean ± std over {args.seeds} seeds; pool {len(task.x) - args.val}, "
          f"validation {args.val}, test {len(task.y_test)}, {np.mean(topic_counts):.0f} topics in the pool on average")
    print(f"{'labels':>7}" + "".join(f"{s:>15}" for s in STRATEGIES))
    for budget in BUDGETS:
        print(f"{budget:>7}" + "".join(f"{np.mean(results[s][budget]):>9.1f} ± {np.std(results[s][budget]):>3.1f}"
                                        for s in STRATEGIES))
    for strategy in STRATEGIES[1:]:
        wins = [b for b in BUDGETS if np.mean(results[strategy][b]) - np.std(results[strategy][b])
                > np.mean(results["random"][b]) + np.std(results["random"][b])]
        print(f"  {strategy} above random beyond the spread at {len(wins)} of {len(BUDGETS)} budgets "
              f"({', '.join(map(str, wins)) or 'none'}): {'PASS' if len(wins) >= GOAL else 'MISS'}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--round", type=int, default=50, help="labels asked for per round (default 50)")
    parser.add_argument("--val", type=int, default=200, help="validation split, random pool items (default 200)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lookout-bench-cache"))
    args = parser.parse_args()
    started = time.monotonic()
    for name in args.tasks:
        bench_task(Task(name, args.cache), args)
    print(f"\n{time.monotonic() - started:.0f} s in all")


if __name__ == "__main__":
    main()
