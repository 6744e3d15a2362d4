"""Serving cost of N fine-tuned tasks, each running its whole transformer against sharing the frozen lower layers
(run on demand; needs ../shared/datasets/tweeteval).

Three tiny fine-tuning runs on the bundled all-MiniLM-L6-v2 (TweetEval emotion, hate, irony; the default
``freeze_layers`` of 4, so the embeddings and the lowest 4 of 6 layers are the base's) give three registered
versions; only their serving cost is measured. For N = 1, 2, 3 of them: items/s of the pipeline's classification
step (``monitor.enrich.pipeline.classify``: the encoder pass, then every task) on real tweets, with each task's full
pass (``share=False``) and with the shared body, next to the raw encoder alone. The timings are interleaved batch
by batch (every configuration on one batch, then the next batch), and each batch counts its best of ``--repeat``,
so a burst of other work on the machine slows one timing, not one configuration.
The shared path is checked against the full pass on the same texts (largest probability difference printed).

    .venv/bin/python bench/shared_body.py                      # 512 tweets in batches of 64, fp32, best of 3
    .venv/bin/python bench/shared_body.py --int8               # the int8-quantised models the CPU serves
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import say, write_json  # noqa: E402
from models import registry  # noqa: E402
from models.classifier import Classifier, LabelSpec, TaskSpec  # noqa: E402
from models.embedding import Encoder  # noqa: E402
from models.finetune import Example, TrainArgs, train  # noqa: E402
from models.finetuned import FineTunedClassifier  # noqa: E402
from monitor.enrich.pipeline import classify  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "tweeteval"
TASKS = ("emotion", "hate", "irony")


def rows(task: str, split: str) -> list[dict]:
    return [r for r in map(json.loads, (DATA / f"{task}.jsonl").open()) if r["split"] == split]


def fine_tune(task: str, root: Path, n_train: int) -> tuple[TaskSpec, Path]:
    """A one-epoch run on ``n_train`` training tweets of ``task`` with the default training arguments."""
    train_rows, val_rows = rows(task, "train")[:n_train], rows(task, "val")[:32]
    labels = sorted({r["label"] for r in train_rows + val_rows})
    args = TrainArgs(epochs=1)
    result = train(labels, [Example(r["text"], r["label"]) for r in train_rows],
                   [Example(r["text"], r["label"]) for r in val_rows], args, device="cpu")
    folder = registry.save(root / task / "v1", result.model, result.tokenizer, {"labels": labels, "args": asdict(args)})
    return TaskSpec(task, tuple(LabelSpec(x) for x in labels)), folder


def seconds(step: Callable[[Sequence[str]], object], batch: list[str]) -> float:
    started = time.perf_counter()
    step(list(batch))
    return time.perf_counter() - started


def measure(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    texts = [r["text"] for r in rows("emotion", "test")][: args.items]
    encoder = Encoder("bundled", device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        versions = [fine_tune(task, Path(tmp), args.train) for task in TASKS]
        served = {share: [FineTunedClassifier(t, f, "v1", device="cpu", int8=args.int8, share=share)
                          for t, f in versions] for share in (False, True)}
    assert all(c.body is not None for c in served[True]), "the shared path did not apply"
    differences = [float(np.abs(s.probabilities(texts) - f.probabilities(texts)).max())
                   for s, f in zip(served[True], served[False], strict=True)]
    configs: dict[str, Callable[[Sequence[str]], object]] = {"encode": encoder.encode}
    for n in range(1, len(TASKS) + 1):
        for share, name in ((False, "full"), (True, "shared")):
            chosen: list[Classifier] = list(served[share][:n])
            configs[f"{name}{n}"] = lambda b, chosen=chosen: classify(encoder.encode, chosen, b)
    batches = [texts[start:start + args.batch] for start in range(0, len(texts), args.batch)]
    for step in configs.values():
        step(batches[0])
    best = {name: [float("inf")] * len(batches) for name in configs}
    for _ in range(args.repeat):
        for b, batch in enumerate(batches):
            for name, step in configs.items():
                best[name][b] = min(best[name][b], seconds(step, batch))
    return {"items": len(texts), "batch": args.batch, "int8": args.int8, "threads": args.threads,
            "max_difference": max(differences),
            "items_per_s": {name: len(texts) / sum(times) for name, times in best.items()}}


def report(figures: dict) -> None:
    ips = figures["items_per_s"]
    say(f"\n{figures['items']} TweetEval tweets, batches of {figures['batch']}, "
        f"{'int8' if figures['int8'] else 'fp32'}, {figures['threads']} threads, each batch "
        "its best of the interleaved repeats")
    say(f"raw encoder alone: {ips['encode']:.0f} items/s")
    say("| fine-tuned tasks | full pass per task (items/s) | shared body (items/s) | shared / full |")
    say("|---|---|---|---|")
    for n in range(1, len(TASKS) + 1):
        full, shared = ips[f"full{n}"], ips[f"shared{n}"]
        say(f"| {n} | {full:.0f} | {shared:.0f} | {shared / full:.2f}x |")
    say(f"largest probability difference, shared vs full pass: {figures['max_difference']:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=512, help="tweets classified per timing")
    parser.add_argument("--batch", type=int, default=64, help="items per pipeline batch")
    parser.add_argument("--train", type=int, default=64, help="training tweets per task (serving cost only)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved timings; the best is printed")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--int8", action="store_true", help="serve the int8-quantised models")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    figures = measure(args)
    report(figures)
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
