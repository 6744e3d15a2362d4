"""The classifier ladder on real tasks (run on demand; needs ../shared/datasets).

For TREC with its 50 fine labels, TREC-6, 20 Newsgroups and four TweetEval tasks, at 5 and 10 labels per class and
with all training labels: the labelled sample goes through the product's own split (``learning.data.gather`` on a
SQLite store: 20% held out, 15% validation, by a hash of the text), each rung is trained as a training run trains
it (``learning.candidates``), the ladder picks on that held-out part (``models.ladder.choose``), and every rung and
the pick are scored on the dataset's own test set. Beside the head (anchored at zero-shot, as a run trains it) the
unanchored logistic regression (``models.head.train_head``, the head before ``models.anchored``) is printed as a
reference; it takes no part in the pick. When that held-out part is under ``learning.cv_below`` texts, the
ladder also picks by k-fold cross-validation (``learning.crossval``, as a run does), and both picks are printed.
A costly rung (``--rungs setfit fine-tuned``) trains when its measured estimate fits its budget (as
``training.max_minutes`` decides in a run), and is cross-validated when k runs of it fit; otherwise its estimate is
printed.

Also, in the same run: the pipeline's throughput with three tasks served by heads against the raw encoder.

    .venv/bin/python bench/ladder.py                           # everything (first run encodes about 45k texts)
    .venv/bin/python bench/ladder.py --datasets trec50 --shots 5 10
    .venv/bin/python bench/ladder.py --datasets trec50 --shots 5 --rungs setfit --test-limit 500
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.topics import NEWSGROUPS, embed, post_text, read_jsonl  # noqa: E402
from models.classifier import LabelSpec, TaskSpec  # noqa: E402
from models.evaluation import score  # noqa: E402
from models.head import train_head  # noqa: E402
from models.ladder import ZERO_SHOT, choose  # noqa: E402
from monitor.config.load import load_settings  # noqa: E402
from monitor.learning import candidates, crossval, runs  # noqa: E402
from monitor.learning.data import gather, setfit_args, train_args, train_split  # noqa: E402
from monitor.store.db import Store  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
TWEETEVAL = {"emotion": "macro_f1", "hate": "macro_f1", "offensive": "macro_f1", "irony": "f1:irony"}
PUBLISHED = {"trec6": ("BERT-ITPT-FiT", 96.8), "emotion": ("RoBERTa-Base", 76.1), "hate": ("RoBERTa-Base", 46.6),
             "offensive": ("RoBERTa-Base", 79.5), "irony": ("RoBERTa-Base", 59.7)}
TREC_WORDS = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity", "HUM": "human", "LOC": "location",
              "NUM": "number", "abb": "abbreviation", "exp": "expansion", "def": "definition", "ind": "individual",
              "gr": "group", "desc": "description", "dist": "distance", "perc": "percent", "temp": "temperature",
              "termeq": "equivalent term", "instru": "instrument", "lang": "language", "cremat": "creative work",
              "dismed": "disease medicine", "techmeth": "technique method", "veh": "vehicle", "mount": "mountain",
              "ord": "order", "volsize": "volume size", "letter": "letter", "other": "other"}


class CachedEncoder:
    """The bundled encoder behind the benchmarks' embedding cache (same vectors, encoded once per text)."""

    dim = 384

    def __init__(self, name: str, cache: Path) -> None:
        self.name, self.cache = name, cache

    def encode(self, texts: list[str]) -> np.ndarray:
        return embed(self.name, list(texts), self.cache) if texts else np.zeros((0, self.dim), np.float32)


def describe(label: str) -> str:
    """A readable zero-shot prompt for a TREC label (``NUM:dist`` -> ``number distance``); others as they are."""
    return " ".join(TREC_WORDS.get(part, part) for part in label.replace(":", " ").replace("_", " ").split())


def dataset(name: str) -> tuple[list[dict], list[dict], str]:
    """(train rows, test rows, metric); rows have ``text`` and ``label``."""
    if name in ("trec50", "trec6"):
        field = "label_fine" if name == "trec50" else "label"
        rows = [{"text": r["text"], "label": r[field], "split": r["split"]} for r in read_jsonl(DATA / "trec" /
                                                                                                  "trec.jsonl")]
        metric = "accuracy"
    elif name == "20ng":
        rows = [{"text": post_text(r)[:2000], "label": r["label"], "split": r["split"]} for r in read_jsonl(NEWSGROUPS)]
        metric = "macro_f1"
    else:
        rows = [{"text": r["text"], "label": r["label"], "split": r["split"]} for r in read_jsonl(
            DATA / "tweeteval" / f"{name}.jsonl")]
        rows = [{**r, "split": "train" if r["split"] == "val" else r["split"]} for r in rows]
        metric = TWEETEVAL[name]
    return [r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "test"], metric


def sample(rows: list[dict], shots: int | None, seed: int) -> list[dict]:
    """``shots`` rows of each label (all of a rarer label), or every row."""
    if shots is None:
        return rows
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_label[r["label"]].append(r)
    rng = random.Random(seed)
    return [r for label in sorted(by_label) for r in rng.sample(by_label[label], min(shots, len(by_label[label])))]


def one(name: str, shots: int | None, args: argparse.Namespace) -> dict:
    train_rows, test_rows, metric = dataset(name)
    labels = sorted({r["label"] for r in train_rows})
    picked = sample(train_rows, shots, args.seed)
    if args.test_limit and len(test_rows) > args.test_limit:
        test_rows = random.Random(args.seed).sample(test_rows, args.test_limit)
    with tempfile.TemporaryDirectory() as tmp:
        task_toml = f'[[tasks]]\nname = "bench"\nmetric = "{metric}"\n' + "".join(
            f'  [[tasks.labels]]\n  name = "{x}"\n  description = "{describe(x)}"\n' for x in labels)
        cfg = Path(tmp) / "lookout.toml"
        cfg.write_text(f'[store]\npath = "{Path(tmp) / "b.db"}"\n[learning]\nmin_examples = 4\nmin_per_label = 1\n'
                       f'[training]\nmax_minutes = {args.finetune_minutes}\nepochs = {args.epochs}\n{task_toml}')
        settings = load_settings(cfg)
        store = Store(settings.store.path)
        store.import_examples("bench", [(r["text"], r["label"], "") for r in picked], name)
        spec = TaskSpec("bench", tuple(LabelSpec(x, describe(x)) for x in labels))
        data = gather(store, settings, spec, since=0.0)
        store.close()
    targs = train_args(settings, "bench")
    train_set = train_split(data, settings)
    vectors = candidates.Vectors(CachedEncoder(f"ladder-{name}", args.cache))
    test_texts, test_labels = [r["text"] for r in test_rows], [r["label"] for r in test_rows]
    vectors(test_texts + [e.text for e in train_set + data.val + data.holdout])
    fits = candidates.Fits(spec, vectors, targs, setfit_args(settings), "bundled", "cpu")
    scored = [e.text for e in data.holdout] + test_texts
    budgets = {"setfit": args.setfit_minutes * 60, "fine-tuned": args.finetune_minutes * 60}
    rungs: dict[str, dict] = {}
    trained = [fits.fit(ZERO_SHOT, [], [], []), fits.fit("head", train_set, data.val, [])]
    for rung in [r for r in ("setfit", "fine-tuned") if r in args.rungs]:
        estimate = fits.estimate(rung, train_set, len(data.val), len(scored))
        rungs[rung] = {"estimate": estimate}
        if estimate <= budgets[rung]:
            trained.append(fits.fit(rung, train_set, data.val, scored))
    plain = train_head(labels, vectors([e.text for e in train_set]), [e.label for e in train_set],
                       [e.weight for e in train_set], vectors([e.text for e in data.val]),
                       [e.label for e in data.val], targs.metric, targs.class_weighting, targs.seed).head
    plain_test = score(metric, test_labels, [labels[i] for i in plain.probabilities(vectors(test_texts)).argmax(1)],
                       labels)
    for cand in trained:
        held = score(metric, [e.label for e in data.holdout], cand.predict([e.text for e in data.holdout]), labels)
        test = score(metric, test_labels, cand.predict(test_texts), labels)
        rungs[cand.rung] = {**rungs.get(cand.rung, {}), "holdout": held, "test": test, "seconds": cand.seconds}
    cv = len(data.holdout) < settings.learning.cv_below
    if cv:
        examples, always = crossval.pool(data)
        for cand in trained:
            runs_take = settings.learning.cv_folds * rungs[cand.rung].get("estimate", 0.0)
            if cand.rung in budgets and runs_take > budgets[cand.rung]:
                continue
            found = crossval.cross_validate(fits, cand.rung, examples, always, settings.learning.cv_folds)
            rungs[cand.rung].update(cv=found.score, cv_strength=found.strength)
    pick = choose({r: v["holdout"] for r, v in rungs.items() if "test" in v}, 0.01)
    pick_cv = choose({r: v.get("cv", v["holdout"]) for r, v in rungs.items() if "test" in v}, 0.01)
    test_pick_cv = rungs[pick_cv]["test"]
    if rungs[pick_cv].get("cv_strength") is not None:  # as a run does: the head refit on training + validation
        refit = fits.refit_head(train_set + data.val, rungs[pick_cv]["cv_strength"])
        test_pick_cv = rungs[pick_cv]["refit_test"] = score(metric, test_labels, refit.predict(test_texts), labels)
    return {"dataset": name, "shots": shots, "n": len(picked), "classes": len(labels), "metric": metric,
            "rungs": rungs, "pick": pick, "test_pick": rungs[pick]["test"], "holdout_n": len(data.holdout),
            "cv": cv, "pick_cv": pick_cv, "plain_head": plain_test, "test_pick_cv": test_pick_cv,
            "best": max(v["test"] for v in rungs.values() if "test" in v)}


def throughput(args: argparse.Namespace) -> dict:
    """Items per second: the raw encoder, against the pipeline with three tasks served by heads (same texts)."""
    from models.embedding import Encoder
    from models.head import EmbeddingHead, HeadClassifier
    from models.topics import OnlineTopicModel
    from monitor.enrich.alerts import AlertEngine
    from monitor.enrich.pipeline import Pipeline
    from monitor.ingest.item import Item

    rows = read_jsonl(DATA / "tweeteval" / "emotion.jsonl")[: args.throughput_items]
    texts = [r["text"] for r in rows]
    encoder = Encoder("bundled", device="cpu")
    encoder.encode(texts[:64])
    rng = np.random.default_rng(0)
    names = tuple(f"l{j}" for j in range(20))
    heads = [HeadClassifier(TaskSpec(f"t{i}", tuple(LabelSpec(x) for x in names)),
                            EmbeddingHead(names, rng.normal(size=(20, 384)).astype(np.float32),
                                          np.zeros(20, np.float32)), "v1") for i in range(3)]
    pipeline = Pipeline(encoder.encode, heads, OnlineTopicModel(), AlertEngine([]))
    items = [Item(id=f"{i:012d}", source="bench", title="", text=t) for i, t in enumerate(texts)]
    raw, piped = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        for start in range(0, len(texts), 32):
            encoder.encode(texts[start:start + 32])
        raw.append(len(texts) / (time.perf_counter() - started))
        started = time.perf_counter()
        for start in range(0, len(items), 32):
            pipeline.enrich(items[start:start + 32])
        piped.append(len(texts) / (time.perf_counter() - started))
    return {"raw": max(raw), "pipeline": max(piped), "items": len(texts)}


def fmt(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def row_line(name: str, shots: str, r: dict) -> str:
    """One dataset and label count: every rung's test score (and cross-validated score), and the ladder's picks."""
    parts = []
    for k, v in r["rungs"].items():
        if "test" in v:
            parts.append(f"{k} {fmt(v['test'])}" + (f" [cv {fmt(v['cv'])}]" if "cv" in v else "")
                         + (f" [refit {fmt(v['refit_test'])}]" if "refit_test" in v else "")
                         + (f" [unanchored {fmt(r['plain_head'])}]" if k == "head" else "")
                         + (f" ({v['seconds']:.0f} s)" if v.get("seconds") else ""))
        else:
            parts.append(f"{k} skipped (estimate {runs.minutes(v['estimate'])})")
    picks = f"  -> picks on the {r['holdout_n']} held out: {r['pick']} {fmt(r['test_pick'])}"
    if r["cv"]:
        picks += f"; by cross-validation: {r['pick_cv']} {fmt(r['test_pick_cv'])}"
    return (f"{name:9} {shots:>4}/class n={r['n']:5} ({r['classes']} classes, {r['metric']}): " + "  ".join(parts)
            + picks + (f"  [published {PUBLISHED[name][0]} {PUBLISHED[name][1]}]" if name in PUBLISHED and
                       shots == "all" else ""))


def goals(results: list[dict], pick: str, how: str) -> None:
    """The issue's goals for the picks in ``results[i][pick]`` (``test_pick`` or ``test_pick_cv``)."""
    below = [r for r in results if r[pick] < r["rungs"][ZERO_SHOT]["test"] - 1e-9]
    which = ", ".join(f"{r['dataset']} {r['shots']}/class" for r in below)
    print(f"  {how}: ladder never below zero-shot: {'PASS' if not below else 'MISS'} ({len(below)} of "
          f"{len(results)} below{': ' + which if below else ''})")
    ten = [r for r in results if r["shots"] == 10]
    far = [r for r in ten if r[pick] < r["best"] - 0.03]
    print(f"  {how}: at 10/class within 3 points of the best rung: {'PASS' if not far else 'MISS'} "
          f"({', '.join(r['dataset'] for r in far) or 'all within'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["trec50", "trec6", "20ng", *TWEETEVAL])
    parser.add_argument("--shots", nargs="+", default=["5", "10", "all"], help="labels per class, or all")
    parser.add_argument("--rungs", nargs="*", default=["fine-tuned"], choices=["setfit", "fine-tuned"],
                        help="costly rungs to try beside zero-shot and the head")
    parser.add_argument("--finetune-minutes", type=float, default=3.0, help="budget of the fine-tuned rung")
    parser.add_argument("--setfit-minutes", type=float, default=5.0, help="budget of the setfit rung")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-limit", type=int, default=0, help="score on this many test texts (seeded; 0: all)")
    parser.add_argument("--throughput-items", type=int, default=1024, help="tweets timed for serving (0: skip)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lookout-bench-cache"), help="embedding cache dir")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs {DATA} (the shared datasets)")
    results = []
    for name in args.datasets:
        for shots in args.shots:
            r = one(name, None if shots == "all" else int(shots), args)
            results.append(r)
            print(row_line(name, shots, r), flush=True)
    print("\ngoals:")
    goals(results, "test_pick", "picked on the held-out part")
    goals(results, "test_pick_cv", "by cross-validation below learning.cv_below")
    tweet = [r for r in results if r["dataset"] in TWEETEVAL and r["shots"] is None]
    if len(tweet) == len(TWEETEVAL):
        avg = 100 * float(np.mean([r["test_pick_cv"] for r in tweet]))
        published = float(np.mean([PUBLISHED[t][1] for t in TWEETEVAL]))
        print(f"  TweetEval average (all labels) {avg:.1f} against the goal 70 (RoBERTa-Base {published:.1f}): "
              f"{'PASS' if avg >= 70 else 'MISS'}")
    counts = Counter(r["pick_cv"] for r in results)
    print("ladder picks: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if not args.throughput_items:
        return
    t = throughput(args)
    ratio = t["pipeline"] / t["raw"]
    print(f"\nserving, {t['items']} tweets: raw encode {t['raw']:.0f} items/s, pipeline with 3 head tasks "
          f"{t['pipeline']:.0f} items/s: {ratio:.2f} of raw ({'PASS' if ratio >= 0.9 else 'MISS'} against 0.9)")


if __name__ == "__main__":
    main()
