"""Taxonomy benchmark (issue 7), without a language model: from a stream whose labels are hidden, how well does the
proposed taxonomy match the true classes, and how good is the classifier distilled from its automatic labels?

For 20 Newsgroups (test split) and AG News (test), in a fixed shuffled order (seed 0):
  1. stream the items through the online topic model at the daemon's default settings;
  2. propose a taxonomy of the true size (20 and 4 labels) from the topics, exactly as ``lookout taxonomy
     propose`` does, and label every item by the nearest label centre (as ``lookout taxonomy accept`` does);
  3. score that induced labelling against the hidden labels: purity, NMI, and the accuracy after mapping each
     proposed label to its majority true label;
  4. distil: fine-tune the bundled MiniLM (Lookout's default training settings) on the confident automatic labels
     of 70% of the items, predict the other 30%, map labels as above, and report accuracy against the true labels,
     next to the automatic labels' own accuracy on those 30% (the teacher).

    .venv/bin/python bench/taxonomy.py                 # both datasets (~15 min on 2 cores; embeddings cached)
    .venv/bin/python bench/taxonomy.py --limit 1000    # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.topics import Stream, ag_news, newsgroups_test, online, settings  # noqa: E402
from models import taxonomy as tx  # noqa: E402
from models.finetune import Example, TrainArgs, predict_proba, train  # noqa: E402
from monitor.config.schema import TaxonomySettings, TopicSettings, TrainingSettings  # noqa: E402


def mapping(truth: list[str], found: list[str]) -> dict[str, str]:
    """Each proposed label's majority true label."""
    groups: dict[str, Counter[str]] = {}
    for t, f in zip(truth, found, strict=True):
        groups.setdefault(f, Counter())[t] += 1
    return {f: c.most_common(1)[0][0] for f, c in groups.items()}


def accuracy(truth: list[str], found: list[str], mapped: dict[str, str]) -> float:
    return sum(mapped.get(f) == t for t, f in zip(truth, found, strict=True)) / len(truth)


def purity(truth: list[str], found: list[str]) -> float:
    """The share of items whose label's majority true label is their own (accuracy under the fitted mapping)."""
    return accuracy(truth, found, mapping(truth, found))


def bench(stream: Stream, size: int, epochs: int) -> dict:
    t = TopicSettings()
    started = time.monotonic()
    _, model = online(stream, settings())
    summaries = [tx.TopicSummary(topic.id, topic.size, topic.centroid, topic.terms) for topic in model.topics()]
    labels = tx.propose(summaries, size, min_topic_size=t.min_size)
    centres = np.stack([x.centroid for x in labels]).astype(np.float32)
    picked, confidence = tx.assign(stream.vectors, centres, TaxonomySettings().temperature)
    found = [labels[i].name for i in picked]
    induced = {"purity": purity(stream.labels, found), "nmi": normalized_mutual_info_score(stream.labels, found),
               "topics": len(model), "labels": len(labels), "seconds": time.monotonic() - started}
    print(f"{stream.name}: {len(stream)} items, {len(model)} topics -> {len(labels)} labels: "
          + ", ".join(x.name for x in labels), flush=True)

    order = list(range(len(stream)))
    random.Random(0).shuffle(order)
    cut = int(0.7 * len(order))
    train_ids, test_ids = order[:cut], order[cut:]
    keep = TaxonomySettings().min_confidence
    confident = [i for i in train_ids if confidence[i] >= keep]
    mapped = mapping([stream.labels[i] for i in confident], [found[i] for i in confident])
    names = [x.name for x in labels]
    val = confident[: max(1, len(confident) // 10)]
    fit = confident[len(val):]
    s = TrainingSettings()
    args = TrainArgs(freeze_layers=s.freeze_layers, epochs=epochs, patience=s.patience, learning_rate=s.learning_rate,
                     batch_size=s.batch_size, max_length=s.max_length, metric="macro_f1")
    result = train(names, [Example(stream.texts[i], found[i]) for i in fit],
                   [Example(stream.texts[i], found[i]) for i in val], args, device="cpu")
    probs = predict_proba(result.model, result.tokenizer, [stream.texts[i] for i in test_ids], 64, s.max_length)
    student = [names[j] for j in probs.argmax(1)]
    truth = [stream.labels[i] for i in test_ids]
    distilled = {"confident": len(confident), "train_share": len(confident) / len(train_ids),
                 "teacher": accuracy(truth, [found[i] for i in test_ids], mapped),
                 "student": accuracy(truth, student, mapped), "train_minutes": result.seconds / 60}
    print(f"  induced labelling: purity {induced['purity']:.3f}, NMI {induced['nmi']:.3f}", flush=True)
    print(f"  distilled on {len(confident)} confident automatic labels ({distilled['train_share']:.0%} of the "
          f"training part): accuracy on the other 30% {distilled['student']:.3f} against the true labels "
          f"(automatic labels themselves: {distilled['teacher']:.3f}); trained {distilled['train_minutes']:.1f} min",
          flush=True)
    return {"dataset": stream.name, "induced": induced, "distilled": distilled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="use the first N items of each shuffled dataset")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs of the distilled classifier")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lookout-bench-cache"), help="embedding cache")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    results = [bench(newsgroups_test(args.limit, args.cache), 20, args.epochs),
               bench(ag_news(args.limit, args.cache), 4, args.epochs)]
    print("\ndataset                purity    NMI   teacher acc.   distilled acc.")
    for r in results:
        i, d = r["induced"], r["distilled"]
        print(f"{r['dataset']:<20} {i['purity']:>8.3f} {i['nmi']:>6.3f} {d['teacher']:>14.3f} {d['student']:>16.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
