"""End-to-end benchmark of the Lookout pipeline on real AG News text with the bundled model (run on demand).

Prints, from one run on this machine:
  1. raw ``SentenceTransformer.encode`` throughput on the texts (the baseline) and the whole pipeline's throughput
     (replay -> store -> encode -> classify -> topics -> alerts -> notifier, with three typical alert rules) on
     the same texts, and their ratio
     (target: at least 0.85), best of two alternating runs because timings here drift by +-30%;
  2. peak RSS of the process (target: under 1.5 GiB);
  3. p50/p95 latency from an item's arrival in the store to its alert reaching the notifier at a steady 20 items/s,
     with a rule that alerts on every item (target: p95 under 1.5 s);
  4. NMI and ARI of the online topics against the AG News labels, next to river's DBSTREAM on the same embeddings.

    make bench            # or: .venv/bin/python bench/pipeline.py --n 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.embedding import Encoder  # noqa: E402
from monitor.config.load import load_settings  # noqa: E402
from monitor.config.schema import Settings  # noqa: E402
from monitor.daemon.core import Daemon  # noqa: E402
from monitor.enrich.alerts import Alert  # noqa: E402
from monitor.enrich.build import build_pipeline  # noqa: E402
from monitor.ingest.registry import build_sources  # noqa: E402
from monitor.store.db import Store  # noqa: E402

AG_NEWS = ROOT.parent / "shared" / "datasets" / "ag_news" / "ag_news.jsonl"
CONFIG = """
[store]
path = "{db}"
[pipeline]
batch_size = {batch}
[[replays]]
name = "ag"
path = "{data}"
rate = {rate}
[[tasks]]
name = "topic"
  [[tasks.labels]]
  name = "World"
  description = "world news: politics, governments, elections, wars and diplomacy"
  [[tasks.labels]]
  name = "Sports"
  description = "sports: games, teams, players, matches and tournaments"
  [[tasks.labels]]
  name = "Business"
  description = "business news: companies, markets, the economy, oil prices and earnings"
  [[tasks.labels]]
  name = "Sci/Tech"
  description = "science and technology: computers, software, the internet, space and research"
{alerts}
"""
EVERY_ITEM = """
[[alerts]]
name = "every-item"
kind = "keyword"
pattern = "."
cooldown_minutes = 0
"""
TYPICAL_RULES = """
[[alerts]]
name = "world-news"
kind = "label"
task = "topic"
label = "World"
min_confidence = 0.9
[[alerts]]
name = "markets"
kind = "keyword"
pattern = '(?i)\\b(stocks?|oil prices?|earnings)\\b'
[[alerts]]
name = "emerging-topic"
kind = "topic_size"
size = 10
"""


class Clock:
    """A notifier that only records when each alert reached it."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}

    async def ready(self, channel: str) -> None:
        return None

    async def send(self, alert: Alert, thread: str = "") -> None:
        self.arrivals[alert.item_id] = time.time()

    async def close(self) -> None:
        return None


def sample(n: int, seed: int) -> list[dict]:
    rows = [json.loads(line) for line in AG_NEWS.open(encoding="utf-8")]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def settings_for(workdir: Path, name: str, rows: list[dict], rate: float, batch: int, alerts: str) -> Settings:
    data = workdir / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    toml = workdir / f"{name}.toml"
    toml.write_text(CONFIG.format(db=workdir / f"{name}.db", data=data, rate=rate, batch=batch, alerts=alerts))
    return load_settings(toml, env={})


def run_daemon(settings: Settings, encoder: Encoder) -> tuple[float, Clock, Store]:
    store = Store(settings.store.path)
    clock = Clock()
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), clock, build_sources(settings))
    started = time.perf_counter()
    asyncio.run(daemon.run(until_idle=True))
    return time.perf_counter() - started, clock, store


def topic_labels(store: Store) -> tuple[list[str], list[int]]:
    """AG News label and final topic (merged topics followed to the survivor) of every enriched item."""
    merged = {r["id"]: r["merged_into"] for r in store.db.query("select id, merged_into from topics")}

    def final(tid: int) -> int:
        seen = set()
        while merged.get(tid) and tid not in seen:
            seen.add(tid)
            tid = merged[tid]
        return tid

    rows = list(store.db.query("select json_extract(raw, '$.label') as label, topic_id from items "
                               "where state = 'done' order by rowid"))
    return [r["label"] for r in rows], [final(r["topic_id"]) for r in rows]


def dbstream(vectors: np.ndarray, threshold: float) -> list[int]:
    """river's DBSTREAM over the stream, then every item assigned to the final clusters (the kinder protocol for
    it: predicting while learning leaves it with stale macro-clusters and an NMI near 0)."""
    from river import cluster

    model = cluster.DBSTREAM(clustering_threshold=threshold, fading_factor=0.001, cleanup_interval=4,
                             intersection_factor=0.3, minimum_weight=1.0)
    points = [{i: float(f) for i, f in enumerate(v)} for v in vectors]
    for x in points:
        model.learn_one(x)
    return [model.predict_one(x) for x in points]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="items for throughput and topic quality")
    parser.add_argument("--rate", type=float, default=20.0, help="items/s for the latency run")
    parser.add_argument("--latency-items", type=int, default=400, help="items in the latency run")
    parser.add_argument("--batch", type=int, default=1024, help="pipeline.batch_size")
    parser.add_argument("--repeat", type=int, default=2, help="alternating raw/pipeline throughput runs")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    if not AG_NEWS.is_file():
        sys.exit(f"needs {AG_NEWS} (the shared datasets)")
    rows = sample(args.n + args.latency_items, args.seed)
    rows, steady = rows[: args.n], rows[args.n:]
    encoder = Encoder()
    texts = [f"{r['title']}\n{r['description']}" for r in rows]
    encoder.encode(texts[:64])

    raw_rates, pipe_rates = [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for run in range(args.repeat):
            started = time.perf_counter()
            encoder._model.encode([t[: encoder.max_chars] for t in texts], batch_size=encoder.batch_size,
                                  normalize_embeddings=True, show_progress_bar=False)
            raw_rates.append(len(texts) / (time.perf_counter() - started))
            elapsed, _, store = run_daemon(settings_for(workdir, f"throughput{run}", rows, 0.0, args.batch,
                                                        TYPICAL_RULES), encoder)
            pipe_rates.append(store.status()["items"] / elapsed)
            print(f"run {run + 1}: raw encode {raw_rates[-1]:.1f} items/s, pipeline {pipe_rates[-1]:.1f} items/s",
                  flush=True)
        labels, topics = topic_labels(store)
        vectors = np.array([np.frombuffer(r["embedding"], dtype=np.float32) for r in store.db.query(
            "select embedding from items where state = 'done' order by rowid")])
        n_topics = len(set(topics))
        store.close()

        _, clock, store = run_daemon(settings_for(workdir, "latency", steady, args.rate, args.batch, EVERY_ITEM),
                                     encoder)
        stored = {r["id"]: r["stored_at"] for r in store.db.query("select id, stored_at from items")}
        latencies = np.array([clock.arrivals[i] - stored[i] for i in clock.arrivals])
        store.close()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024

    raw_rate, pipe_rate = max(raw_rates), max(pipe_rates)
    print(f"\nthroughput on {args.n} AG News items, best of {args.repeat} alternating runs (pipeline.batch_size "
          f"{args.batch}, encoder batch {encoder.batch_size}, device {encoder.device})")
    print(f"  raw SentenceTransformer.encode : {raw_rate:8.1f} items/s")
    print(f"  whole pipeline                 : {pipe_rate:8.1f} items/s")
    print(f"  ratio pipeline / raw encode    : {pipe_rate / raw_rate:8.2f}   (target >= 0.85)")
    print(f"peak RSS                         : {peak_rss:8.2f} GiB (target < 1.5)")
    print(f"latency arrival -> notifier at {args.rate:g} items/s over {len(latencies)} items:")
    print(f"  p50 {np.percentile(latencies, 50):.3f} s   p95 {np.percentile(latencies, 95):.3f} s   "
          f"(target p95 < 1.5 s)")
    print(f"topic quality against the 4 AG News labels ({len(labels)} items, same embeddings):")
    print(f"  {'model':34s} {'topics':>6s} {'NMI':>6s} {'ARI':>6s}")
    print(f"  {'Lookout online topics':34s} {n_topics:6d} {normalized_mutual_info_score(labels, topics):6.3f} "
          f"{adjusted_rand_score(labels, topics):6.3f}")
    kmeans = KMeans(4, n_init=10, random_state=0).fit_predict(vectors)
    print(f"  {'batch KMeans, k=4 (reference)':34s} {4:6d} {normalized_mutual_info_score(labels, kmeans):6.3f} "
          f"{adjusted_rand_score(labels, kmeans):6.3f}")
    for threshold in (0.8, 0.9, 1.0):
        found = dbstream(vectors, threshold)
        print(f"  {f'river DBSTREAM (threshold {threshold})':34s} {len(set(found)):6d} "
              f"{normalized_mutual_info_score(labels, found):6.3f} {adjusted_rand_score(labels, found):6.3f}")


if __name__ == "__main__":
    main()
