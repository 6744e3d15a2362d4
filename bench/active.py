"""Active learning's correction-budget curve on real tasks (run on demand; needs ../shared/datasets).

For TweetEval emotion (4 classes, train + val as the pool, macro-F1), TREC-6 (6 classes, accuracy) and AG News
(4 classes, accuracy; only its 7,600-item test set is here: a fixed 1,600 of it is the test set, the rest the pool),
over ``--seeds`` seeds: a validation split of ``--val`` random pool items is set aside, the rest is the pool (at most
``--pool`` items of it), and the seed set is 2 random labelled items per class. Each strategy of
``models.active.select`` then asks for ``--round`` labels at a time, the head (``--head anchored``, the default:
``models.anchored.train_anchored`` from the label names' zero-shot embeddings, as a training run trains it;
``--head plain``: ``models.head.train_head``; its strength picked on the validation split) retrained on every label
so far after each round, until the budgets of 50, 100, 200 and 500 labels (seed set included); there the head is
scored on the test set. Every strategy starts from the same seed set and validation split in a seed (the comparison
is paired). The strategies:

  * ``random``: a random sample of the pool;
  * ``margin``: the smallest margin between the head's top two labels;
  * ``spread``: the smallest margin, at most one item per topic in a round, the topics being the online topic
    model's at the daemon's default settings (``OnlineTopicModel`` with ``topic_model_settings(TopicSettings())``),
    fed the pool in the seed's order, each item in the topic it joined at arrival, merges followed;
  * ``cluster``: cluster-margin, the least-sure item of each k-means group of the 10 x round least-sure items;
  * ``typical``: TypiClust's cold start, the item nearest the centre of each of the largest k-means groups of the
    pool that hold no labelled item (never reads the head);
  * ``adaptive``: ``typical`` until 15 labels per class (``models.active.COLD_START``), ``cluster`` after.

Printed per task: labels x strategy, mean ± std (sample std, n - 1) over the seeds of the test metric; then, per
active strategy and budget, the mean of the per-seed differences to random and the two readings of "beyond the
spread": *unpaired*, the mean difference exceeds the sum of both strategies' stds; *paired*, the mean of the
per-seed differences exceeds their std (for 5 seeds about a one-sided paired t-test at 5%). The goal is 3 of the
4 budgets; both counts are printed with PASS/MISS.

The daemon asks ``learning.ask_budget`` items per ``learning.ask_cron`` but retrains only after
``learning.min_new_corrections`` (20) corrections (or on ``learning.cron``), so the default round of 20 is the
product's: about 20 answers between two models. Embeddings come from the bundled all-MiniLM-L6-v2, cached by
``bench.topics.embed`` (``--cache``). BLAS and OpenMP run on one thread (on the shared cores more threads made each
fit 30x slower).

Also printed: the score of a head on every pool label, the ceiling no budget can pass by much. ``--first-seed 5``
runs the seeds set apart for choosing ``adaptive``'s cold start (``--cold-start``), away from the reported ones.
With the cache, the first command took 203 s on 2 shared cores (2026-12-01); ``typical`` alone is slower (a
k-means of the whole pool into labelled + round groups each round: about a minute a seed on TREC-6).

    .venv/bin/python bench/active.py --strategies random margin spread cluster adaptive   # docs/benchmarks.md
    .venv/bin/python bench/active.py --tasks emotion --first-seed 5 --strategies random typical cluster adaptive
    .venv/bin/python bench/active.py --tasks emotion --seeds 2 --strategies random cluster
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ladder import dataset, describe  # noqa: E402
from bench.topics import AG_NEWS, embed, read_jsonl, resolve  # noqa: E402
from models.active import COLD_START, EMBEDDED, STRATEGIES, margins, select  # noqa: E402
from models.anchored import train_anchored  # noqa: E402
from models.classifier import LabelSpec, TaskSpec  # noqa: E402
from models.evaluation import score  # noqa: E402
from models.head import EmbeddingHead, train_head  # noqa: E402
from models.topics import OnlineTopicModel  # noqa: E402
from monitor.config.schema import TopicSettings  # noqa: E402
from monitor.enrich.build import topic_model_settings  # noqa: E402

TASKS = {"emotion": "ladder-emotion", "trec6": "ladder-trec50", "ag": "ag-news"}
BUDGETS = (50, 100, 200, 500)
GOAL = 3
AG_TEST = 1600


def rows_of(name: str) -> tuple[list[dict], list[dict], str]:
    """(pool rows, test rows, metric) of a task."""
    if name != "ag":
        return dataset(name)
    rows = read_jsonl(AG_NEWS)
    random.Random(0).shuffle(rows)
    return rows[AG_TEST:], rows[:AG_TEST], "accuracy"


class Task:
    """A task's pool and test set as embeddings and labels."""

    def __init__(self, name: str, cache: Path, anchored: bool = True) -> None:
        train_rows, test_rows, self.metric = rows_of(name)
        self.name = name
        self.labels = sorted({r["label"] for r in train_rows})
        vectors = embed(TASKS[name], [r["text"] for r in train_rows + test_rows], cache)
        self.texts = [r["text"] for r in train_rows]
        self.x, self.x_test = vectors[: len(train_rows)], vectors[len(train_rows):]
        self.y = [r["label"] for r in train_rows]
        self.y_test = [r["label"] for r in test_rows]
        self.spec = TaskSpec(name, tuple(LabelSpec(x, describe(x)) for x in self.labels))
        self.label_x = embed(f"{TASKS[name]}-labels", [label.prompt for label in self.spec.labels], cache)
        self.anchored = anchored

    def fit(self, rows: list[int], x_val: np.ndarray, y_val: list[str], seed: int) -> EmbeddingHead:
        """The head on the labelled ``rows``, its strength picked on the validation split."""
        x, y, w = self.x[rows], [self.y[i] for i in rows], [1.0] * len(rows)
        if self.anchored:
            return train_anchored(self.labels, self.label_x, self.spec.temperature, x, y, w, x_val, y_val,
                                  self.metric).head
        return train_head(self.labels, x, y, w, x_val, y_val, self.metric, seed=seed).head


def topics_of(task: Task, order: list[int]) -> np.ndarray:
    """Each pool item's topic: the one it joined when the pool streamed in ``order``, merges followed."""
    model = OnlineTopicModel(**topic_model_settings(TopicSettings()))  # type: ignore[arg-type]
    joined = {i: model.update(task.x[i], text=task.texts[i], item_id=str(i), ts=float(n))
              for n, i in enumerate(order)}
    removed = model.drain_changes().removed
    return np.array([resolve(joined[i], removed) for i in range(len(task.x))])


def run(task: Task, strategy: str, seed: int, split: tuple[list[int], list[int], list[int]], topics: np.ndarray,
        step: int, cold_start: int) -> dict[int, float]:
    """The test score at each budget of one strategy from one seed's (validation, pool, seed set)."""
    val, pool, start = split
    labelled, rest = list(start), sorted(set(pool) - set(start))
    scores: dict[int, float] = {}
    x_val, y_val = task.x[val], [task.y[i] for i in val]

    def fit() -> EmbeddingHead:
        return task.fit(labelled, x_val, y_val, seed)

    rounds = 0
    for budget in BUDGETS:
        while len(labelled) < budget:
            reads_head = strategy not in ("random", "typical") and not (
                strategy == "adaptive" and len(labelled) < cold_start * len(task.labels))
            item_margins = margins(fit().probabilities(task.x[rest])) if reads_head else np.zeros(len(rest))
            embedded = strategy in EMBEDDED
            picked = {rest[j] for j in select(
                item_margins, topics[rest], min(step, budget - len(labelled)), strategy, seed=seed * 1000 + rounds,
                embeddings=task.x[rest] if embedded else None, labelled=task.x[labelled] if embedded else None,
                classes=len(task.labels), cold_start=cold_start)}
            labelled += sorted(picked)
            rest = [i for i in rest if i not in picked]
            rounds += 1
        chosen = fit().probabilities(task.x_test).argmax(1)
        scores[budget] = 100 * score(task.metric, task.y_test, [task.labels[i] for i in chosen], task.labels)
    return scores


def full_pool(task: Task, seed: int, val: list[int], pool: list[int]) -> float:
    """The test score of the head trained on every pool label: what no budget can beat by much."""
    head = task.fit(pool, task.x[val], [task.y[i] for i in val], seed)
    chosen = head.probabilities(task.x_test).argmax(1)
    return 100 * score(task.metric, task.y_test, [task.labels[i] for i in chosen], task.labels)


def split_of(task: Task, seed: int, args: argparse.Namespace) -> tuple[list[int], list[int], list[int], list[int]]:
    """A seed's (stream order, validation split, pool, seed set)."""
    order = list(range(len(task.x)))
    random.Random(seed).shuffle(order)
    val, pool = order[: args.val], order[args.val:][: args.pool]
    by_label: dict[str, list[int]] = defaultdict(list)
    for i in pool:
        by_label[task.y[i]].append(i)
    return order, val, pool, [i for label in task.labels for i in by_label[label][:2]]


def bench_task(task: Task, args: argparse.Namespace) -> dict[str, dict[int, list[float]]]:
    results: dict[str, dict[int, list[float]]] = {s: defaultdict(list) for s in args.strategies}
    topic_counts = []
    ceiling = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        order, val, pool, start = split_of(task, seed, args)
        topics = topics_of(task, order) if "spread" in args.strategies else np.zeros(len(task.x), dtype=np.int64)
        topic_counts.append(len(set(topics[pool].tolist())))
        ceiling.append(full_pool(task, seed, val, pool))
        for strategy in args.strategies:
            started = time.monotonic()
            for budget, value in run(task, strategy, seed, (val, pool, start), topics, args.round,
                                     args.cold_start).items():
                results[strategy][budget].append(value)
            print(f"  {task.name} seed {seed} {strategy}: " + ", ".join(
                f"{b} {results[strategy][b][-1]:.1f}" for b in BUDGETS) + f" ({time.monotonic() - started:.0f} s)",
                  flush=True)
    print(f"\n{task.name}: test {task.metric} (%), mean ± std over {args.seeds} seeds; pool {len(pool)}, "
          f"validation {args.val}, test {len(task.y_test)}, round {args.round}"
          + (f", {np.mean(topic_counts):.0f} topics in the pool on average" if "spread" in args.strategies else "")
          + f"; every pool label ({len(pool)}): {np.mean(ceiling):.1f} ± {np.std(ceiling, ddof=1):.1f}")
    report(results, args.strategies)
    return results


def report(results: dict[str, dict[int, list[float]]], strategies: list[str]) -> None:
    """The table, then each active strategy against random under both readings of "beyond the spread"."""
    print(f"{'labels':>7}" + "".join(f"{s:>15}" for s in strategies))
    for budget in BUDGETS:
        cells = [(np.mean(results[s][budget]), np.std(results[s][budget], ddof=1)) for s in strategies]
        print(f"{budget:>7}" + "".join(f"{mean:>9.1f} ± {std:>3.1f}" for mean, std in cells))
    if "random" not in strategies:
        return
    for strategy in (s for s in strategies if s != "random"):
        unpaired, paired = beyond(results, strategy)
        cells = [f"{b} {d.mean():+.1f} ± {d.std(ddof=1):.1f}" for b, d in differences(results, strategy).items()]
        print(f"  {strategy} - random per seed: {', '.join(cells)}")
        for reading, wins in (("unpaired", unpaired), ("paired", paired)):
            print(f"    above random beyond the spread ({reading}) at {len(wins)} of {len(BUDGETS)} budgets "
                  f"({', '.join(map(str, wins)) or 'none'}): {'PASS' if len(wins) >= GOAL else 'MISS'}")


def differences(results: dict[str, dict[int, list[float]]], strategy: str) -> dict[int, np.ndarray]:
    """Per budget, the strategy's per-seed score minus random's."""
    return {b: np.array(results[strategy][b]) - np.array(results["random"][b]) for b in BUDGETS}


def beyond(results: dict[str, dict[int, list[float]]], strategy: str) -> tuple[list[int], list[int]]:
    """The budgets where the strategy beats random beyond the spread: unpaired, then paired."""
    unpaired, paired = [], []
    for b, d in differences(results, strategy).items():
        if d.mean() > np.std(results[strategy][b], ddof=1) + np.std(results["random"][b], ddof=1):
            unpaired.append(b)
        if d.mean() > d.std(ddof=1):
            paired.append(b)
    return unpaired, paired


def summary(by_task: dict[str, dict[str, dict[int, list[float]]]], strategies: list[str]) -> None:
    """Each active strategy over every task: the sum of its mean gains over random, and the tasks where it meets
    the goal in the paired reading."""
    print("\nover all tasks:")
    for strategy in (s for s in strategies if s != "random"):
        gain = sum(float(d.mean()) for r in by_task.values() for d in differences(r, strategy).values())
        met = [name for name, r in by_task.items() if len(beyond(r, strategy)[1]) >= GOAL]
        print(f"  {strategy}: sum of mean gains over random {gain:+.1f} points; goal met (paired) on "
              f"{len(met)} of {len(by_task)} tasks ({', '.join(met) or 'none'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds from this one on (default 0)")
    parser.add_argument("--cold-start", type=int, default=COLD_START,
                        help=f"adaptive: typical items until this many labels per class (default {COLD_START})")
    parser.add_argument("--head", choices=("anchored", "plain"), default="anchored",
                        help="the head retrained each round: anchored at zero-shot, as a training run trains it "
                             "(default), or the plain logistic regression")
    parser.add_argument("--round", type=int, default=20, help="labels asked for per round (default 20)")
    parser.add_argument("--val", type=int, default=200, help="validation split, random pool items (default 200)")
    parser.add_argument("--pool", type=int, default=None, help="at most this many pool items (default: all)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lookout-bench-cache"))
    args = parser.parse_args()
    started = time.monotonic()
    with threadpool_limits(1):
        by_task = {name: bench_task(Task(name, args.cache, args.head == "anchored"), args) for name in args.tasks}
    if "random" in args.strategies:
        summary(by_task, args.strategies)
    print(f"\n{time.monotonic() - started:.0f} s in all")


if __name__ == "__main__":
    main()
