"""Benchmark of the online topic model's granularity across unlike streams (run on demand).

Streams, each ``--limit`` items (default 3,000): 20 Newsgroups test and AG News test (the first items of the order
bench/topics.py shuffles them in, seed 0), SpamAssassin (subject and body, shuffled, seed 0), TweetEval offensive
(short same-domain posts, all splits, shuffled, seed 0; the cache bench/ladder.py fills) and the ABC headlines
(evenly spaced through the file, in time order, with their real publication days as timestamps). The shuffled
streams get timestamps 1 s apart.

Each stream goes through the old model (the defaults before adaptive granularity: a fixed cosine threshold to the
topic centre) and the new one (the daemon's defaults now), in the same run on the same embeddings. For each it
prints the number of live topics, the largest topic's share of the stream, the share of items in topics of fewer
than 3 items (live topics and forgotten ones, at their size when forgotten), and on the labelled 20 Newsgroups and
AG News the NMI of the topics and of the topics grouped (``group_topics``) into as many groups as there are
classes, read through each item's topic and by nearest group centre, next to batch KMeans on the same embeddings
told the number of classes (n_init=3, seed 0). Goals: largest topic under 25%, under 30% of items in topics of
fewer than 3, grouped NMI no more than 0.02 below KMeans. Also id stability: the share of items whose topic (joined at
arrival, merges followed) is still the one ``predict_one`` gives them at the end, and merge/split/forget events per
1,000 items. Then the typical items: for the 10 largest topics of
each stream, the cosine of the topic's first representative to its final centre against the best a member gets.

Embeddings come from the bundled all-MiniLM-L6-v2 on cpu, cached under ``--cache`` (shared with bench/topics.py).

    .venv/bin/python bench/granularity.py                # every stream, 3,000 items each
    .venv/bin/python bench/granularity.py --limit 1000 --streams tweets ag
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import say, shuffled, write_json  # noqa: E402
from bench.topics import DATASETS, ag_news, embed, grouped, newsgroups_test, read_jsonl, resolve  # noqa: E402
from bench.topics import settings as daemon_settings  # noqa: E402
from models.topics import OnlineTopicModel  # noqa: E402

SPAMASSASSIN = DATASETS / "spamassassin" / "spamassassin.jsonl"
TWEETS = DATASETS / "tweeteval" / "offensive.jsonl"
ABC = DATASETS / "abc_headlines" / "abc_headlines_2003.jsonl"
OLD = {"adaptive": False, "threshold": 0.35}
GOALS = {"largest": 0.25, "small": 0.30, "nmi_gap": 0.02}
STREAMS = ("20ng", "ag", "spam", "abc", "tweets")



class Stream:
    """Texts, timestamps, labels (empty when the dataset has none) and unit embeddings, in stream order."""

    def __init__(self, name: str, texts: list[str], ts: list[float], labels: list[str], vectors: np.ndarray) -> None:
        self.name, self.texts, self.ts, self.labels, self.vectors = name, texts, ts, labels, vectors

    def __len__(self) -> int:
        return len(self.texts)



def labelled(load: Callable[[int, Path], object], limit: int, cache: Path) -> Stream:
    s = load(limit, cache)
    return Stream(s.name, s.texts, [float(i) for i in range(len(s))], s.labels, s.vectors)  # type: ignore[attr-defined]


def unlabelled(name: str, key: str, rows: list[dict], cache: Path, ts: list[float] | None = None) -> Stream:
    texts = [r["text"] for r in rows]
    return Stream(name, texts, ts or [float(i) for i in range(len(rows))], [], embed(key, texts, cache))


def load_streams(names: Sequence[str], limit: int, cache: Path) -> list[Stream]:
    loaders: dict[str, Callable[[], Stream]] = {
        "20ng": lambda: labelled(newsgroups_test, limit, cache),
        "ag": lambda: labelled(ag_news, limit, cache),
        "spam": lambda: unlabelled("SpamAssassin", "spamassassin", shuffled(read_jsonl(SPAMASSASSIN), limit), cache),
        "tweets": lambda: unlabelled("TweetEval offensive", "ladder-offensive", shuffled(read_jsonl(TWEETS), limit),
                                     cache),
        "abc": lambda: abc_stream(limit, cache),
    }
    return [loaders[n]() for n in names]


def abc_stream(limit: int, cache: Path) -> Stream:
    rows = read_jsonl(ABC)
    step = max(1, len(rows) // limit)
    rows = rows[::step][:limit]
    ts = [datetime.fromisoformat(r["timestamp"]).timestamp() for r in rows]
    return unlabelled("ABC headlines (time order)", "abc", rows, cache, ts)


# measuring ------------------------------------------------------------------------------------------------------
def run(stream: Stream, params: dict) -> tuple[OnlineTopicModel, list[int], list]:
    """The model after the stream, each item's topic (joined at arrival, merges followed) and the events."""
    model = OnlineTopicModel(**params)
    joined = [model.update(v, text=t, item_id=str(i), ts=ts)
              for i, (v, t, ts) in enumerate(zip(stream.vectors, stream.texts, stream.ts, strict=True))]
    events = model.drain_changes().events
    removed = {e.topic: e.other for e in events if e.kind != "split"}
    return model, [resolve(t, removed) for t in joined], events


def figures(stream: Stream, model: OnlineTopicModel, found: list[int], events: list) -> dict:
    """Topic count, largest share, share of items in topics under 3, id stability and (with labels) NMI."""
    sizes = np.array([t.size for t in model.topics()] + [e.size for e in events if e.kind == "forget"])
    now = [model.predict_one(v) for v in stream.vectors]
    out = {"topics": len(model), "largest": float(sizes.max() / len(stream)),
           "small": float(sizes[sizes < 3].sum() / len(stream)),
           "kept_id": float(np.mean([a == b for a, b in zip(found, now, strict=True)])),
           "events_per_1k": 1000 * len(events) / len(stream), "bar": model.bar()}
    if stream.labels:
        k = len(set(stream.labels))
        via_topic, nearest = grouped(stream, model, found, k)
        out |= {"nmi_topics": normalized_mutual_info_score(stream.labels, found),
                "nmi_grouped_via_topic": normalized_mutual_info_score(stream.labels, via_topic),
                "nmi_grouped_nearest": normalized_mutual_info_score(stream.labels, nearest)}
    return out


def typical(stream: Stream, model: OnlineTopicModel, found: list[int]) -> dict[str, float]:
    """Over the 10 largest topics, the mean cosine to the topic's final centre of: its first member (which the
    model used to show as its most typical item for good), its first representative now, and the best member (of
    the items whose topic it is)."""
    members: dict[int, list[int]] = {}
    for i, t in enumerate(found):
        members.setdefault(t, []).append(i)
    cosines: dict[str, list[float]] = {"first_member": [], "representative": [], "best_member": []}
    for topic in model.topics()[:10]:
        centre = topic.centroid.astype(np.float32)
        if topic.representatives and topic.id in members:
            sims = stream.vectors[members[topic.id]] @ centre
            cosines["first_member"].append(float(sims[0]))
            cosines["representative"].append(float(stream.vectors[int(topic.representatives[0][1])] @ centre))
            cosines["best_member"].append(float(sims.max()))
    return {k: float(np.mean(v)) for k, v in cosines.items()}


def table(stream: Stream, old: dict, new: dict, kmeans: float | None) -> None:
    say(f"  {'':6s} {'topics':>6s} {'largest':>8s} {'in <3':>6s} {'bar':>5s} {'id kept':>8s} {'events/1k':>9s}"
        + ("  NMI topics  grouped: via topic  nearest" if kmeans is not None else ""))
    for name, f in (("old", old), ("new", new)):
        line = (f"  {name:6s} {f['topics']:6d} {f['largest']:8.1%} {f['small']:6.1%} {f['bar']:5.2f} "
                f"{f['kept_id']:8.1%} {f['events_per_1k']:9.1f}")
        if kmeans is not None:
            line += (f"  {f['nmi_topics']:10.3f}  {f['nmi_grouped_via_topic']:17.3f}  "
                     f"{f['nmi_grouped_nearest']:7.3f}")
        say(line)
    if kmeans is not None:
        say(f"  batch KMeans k={len(set(stream.labels))} (reference): NMI {kmeans:.3f}")
    goals = [f"largest < {GOALS['largest']:.0%}: {'PASS' if new['largest'] < GOALS['largest'] else 'MISS'}",
             f"in <3 < {GOALS['small']:.0%}: {'PASS' if new['small'] < GOALS['small'] else 'MISS'}"]
    if kmeans is not None:
        for level in ("via_topic", "nearest"):
            ok = new[f"nmi_grouped_{level}"] >= kmeans - GOALS["nmi_gap"]
            goals.append(f"grouped {level.replace('_', ' ')} >= KMeans - {GOALS['nmi_gap']}: "
                         f"{'PASS' if ok else 'MISS'}")
    say("  goals (new): " + "; ".join(goals))


def bench_stream(stream: Stream) -> dict:
    k = len(set(stream.labels))
    say(f"\n{stream.name}: {len(stream)} items" + (f", {k} labels" if stream.labels else ", no labels"))
    result: dict = {"items": len(stream)}
    for name, params in (("old", daemon_settings() | OLD), ("new", daemon_settings())):
        model, found, events = run(stream, params)
        result[name] = figures(stream, model, found, events)
        result[name]["typical"] = typical(stream, model, found)
    kmeans = (normalized_mutual_info_score(stream.labels, KMeans(k, n_init=3, random_state=0).fit_predict(
        stream.vectors)) if stream.labels else None)
    result["kmeans"] = kmeans
    table(stream, result["old"], result["new"], kmeans)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", nargs="+", choices=STREAMS, default=list(STREAMS), help="streams to run")
    parser.add_argument("--limit", type=int, default=3000, help="items per stream")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lookout-bench-cache"), help="embedding cache dir")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    started = time.perf_counter()
    new = daemon_settings()
    say(f"old: the defaults before adaptive granularity ({OLD}); new: the daemon's defaults (contrast "
        f"{new['contrast']}, max_share {new['max_share']}, split_threshold {new['split_threshold']}, merge_threshold "
        f"{new['merge_threshold']})")
    results = {name: bench_stream(stream) for name, stream in zip(args.streams, load_streams(
        args.streams, args.limit, args.cache), strict=True)}
    say("\ntypical items (new model): cosine to the topic's final centre of its first member (what the model showed "
        "before), its first representative now and its best member, mean over each stream's 10 largest topics")
    for name, r in results.items():
        t = r["new"]["typical"]
        say(f"  {name:7s} first member {t['first_member']:.3f}   representative {t['representative']:.3f}   "
            f"best member {t['best_member']:.3f}")
    results["seconds"] = time.perf_counter() - started
    say(f"\ntotal {results['seconds']:.0f} s")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
