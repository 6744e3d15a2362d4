"""Benchmark of Lookout's online topic model (models/topics.py) on stored embeddings (run on demand).

Prints, section by section as each is measured:
  1. quality: 20 Newsgroups test (7,532 posts; Subject value + body, header block dropped) and AG News test (7,600)
     streamed in a fixed shuffled order (seed 0) through ``OnlineTopicModel`` with the daemon's default settings
     (``[topics]`` in monitor/config.py, splitting on). Each item's online label is the topic it joined at arrival,
     followed through the merges ``drain_changes`` recorded. NMI, ARI, homogeneity, completeness and topic count
     against the true labels, next to river's DBSTREAM (best of a small clustering_threshold grid, learning the whole
     stream before assigning: predicting while learning leaves it near NMI 0), batch KMeans told the true number of
     classes (n_init=3, seed 0) and batch HDBSCAN (min_cluster_size 15, euclidean on the raw embeddings, noise
     counted as one cluster). Two more batch methods show how far any clustering gets on these embeddings: a
     spherical Gaussian mixture, and KMeans on the embeddings joined with a 100-dimensional LSA of TF-IDF (weight
     0.5). The topics are also scored grouped (``group_topics``) into the default number of groups and into the
     true number of classes, each item read through the topic it joined and by the nearest group centre. Goals:
     online NMI >= KMeans NMI - 0.03 and >= DBSTREAM NMI + 0.15. Then a sweep of ``contrast`` (the adaptive
     bar's margin; bench/granularity.py compares the granularity across streams).
  2. speed: items/s of ``update`` (with the post text, as the daemon passes it; and without, to show what the
     text costs) on the 20 Newsgroups test embeddings, best of 3 runs on a fresh model (goal >= 10,000 with
     text), against ``predict_one`` alone on the model the stream left behind (the baseline).
  3. keywords: all of 20 Newsgroups (train + test) preprocessed the OCTIS way (punctuation and digits removed,
     lemmatised with simplemma instead of OCTIS's spaCy model, stop words removed: scikit-learn's and gensim's
     lists instead of OCTIS's, words shorter than 3 letters dropped, words in < 0.5% of documents dropped,
     documents with < 5 words dropped), embedded and streamed through the model; for the largest N = 10..50
     topics, NPMI coherence of each topic's top-10 ``keywords`` (gensim ``c_npmi``, boolean sliding window of
     10 over the preprocessed texts, as OCTIS computes it) and topic diversity, averaged over N, next to the
     published BERTopic table (Grootendorst 2022).
  4. memory: a long stream (100,000 items by default) cycling the AG News and 20 Newsgroups embeddings with
     Gaussian noise (sigma 0.01 per dimension, renormalised), timestamps 1 s apart, changes drained every 1,024
     items as the daemon does; process RSS and topic count at 10%, 50% and 100% of the stream.

Embeddings come from the bundled all-MiniLM-L6-v2 on cpu and are cached as .npy per dataset and text hash
(``--cache``), so only the first run encodes: 14 of its 16 minutes on 2 cores here; with the cache a full run takes
about 76 seconds (2026-11-22). Needs ../shared/datasets and the bench extras (gensim, simplemma):
``.venv/bin/pip install -e '.[test,bench]'``.

    .venv/bin/python bench/topics.py                                   # everything, --json FILE to keep figures
    .venv/bin/python bench/topics.py --only quality speed --limit 500  # quick look on 500 items per dataset
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, homogeneity_completeness_v_measure, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import say, shuffled, write_json  # noqa: E402
from models.topics import OnlineTopicModel, group_topics  # noqa: E402
from monitor.config.schema import TopicSettings  # noqa: E402
from monitor.enrich.build import topic_model_settings  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
NEWSGROUPS = DATASETS / "20newsgroups" / "20newsgroups_bydate.jsonl"
AG_NEWS = DATASETS / "ag_news" / "ag_news.jsonl"
SECTIONS = ("quality", "speed", "keywords", "memory")
SWEEP = (0.1, 0.15, 0.2, 0.25, 0.3)
DBSTREAM_GRID = (0.8, 0.9, 0.95, 1.0, 1.05, 1.1)
TOPIC_COUNTS = (10, 20, 30, 40, 50)
OCTIS_COUNTS = (16_309, 1_612)
PUBLISHED = (("BERTopic-MPNET", 0.166, 0.851), ("BERTopic-MiniLM", 0.159, 0.833), ("CTM", 0.096, 0.886),
             ("LDA", 0.058, 0.749), ("NMF", 0.089, 0.663))
ENCODE_CHUNK = 256



def settings(contrast: float | None = None) -> dict[str, float]:
    """The model settings the daemon makes of its defaults (``restore_topics``); with ``contrast``, that one."""
    defaults = topic_model_settings(TopicSettings())
    return defaults if contrast is None else defaults | {"contrast": contrast}


# data -----------------------------------------------------------------------------------------------------------
class Stream:
    """Texts, true labels and unit embeddings of one dataset, in stream order."""

    def __init__(self, name: str, texts: list[str], labels: list[str], vectors: np.ndarray) -> None:
        self.name, self.texts, self.labels, self.vectors = name, texts, labels, vectors

    def __len__(self) -> int:
        return len(self.texts)


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        sys.exit(f"needs {path} (the shared datasets)")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def post_text(row: dict) -> str:
    """A 20 Newsgroups post without its header block, its Subject value on the first line."""
    return f"{row['subject']}\n{row['text'].split(chr(10) * 2, 1)[-1].strip()}"



def embed(name: str, texts: Sequence[str], cache_dir: Path) -> np.ndarray:
    """Unit embeddings of ``texts``, from ``cache_dir/name-*.npy`` (keyed by text hash) or encoded and added there."""
    keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).hexdigest() for t in texts]
    key_file, vector_file = cache_dir / f"{name}-keys.npy", cache_dir / f"{name}-vectors.npy"
    index = {k: i for i, k in enumerate(np.load(key_file).tolist())} if key_file.is_file() else {}
    vectors = np.load(vector_file) if index else None
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in index}.items(),
                     key=lambda kv: len(kv[1]))
    if missing:
        from models.embedding import Encoder

        encoder = Encoder("bundled", device="cpu")
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tqdm(total=len(missing), desc=f"encoding {name}", unit="text") as bar:
            for n, start in enumerate(range(0, len(missing), ENCODE_CHUNK)):
                chunk = missing[start:start + ENCODE_CHUNK]
                fresh = encoder.encode([t for _, t in chunk])
                vectors = fresh if vectors is None else np.concatenate([vectors, fresh])
                index.update({k: len(index) + j for j, (k, _) in enumerate(chunk)})
                bar.update(len(chunk))
                if n % 8 == 7 or start + ENCODE_CHUNK >= len(missing):
                    np.save(vector_file, vectors)
                    np.save(key_file, np.array(list(index)))
    return vectors[[index[k] for k in keys]]


def newsgroups_test(limit: int | None, cache_dir: Path) -> Stream:
    rows = shuffled([r for r in read_jsonl(NEWSGROUPS) if r["split"] == "test"], limit)
    texts = [post_text(r) for r in rows]
    return Stream("20 Newsgroups test", texts, [r["label"] for r in rows], embed("20ng-test", texts, cache_dir))


def ag_news(limit: int | None, cache_dir: Path) -> Stream:
    rows = shuffled(read_jsonl(AG_NEWS), limit)
    texts = [r["text"] for r in rows]
    return Stream("AG News test", texts, [r["label"] for r in rows], embed("ag-news", texts, cache_dir))


# models ---------------------------------------------------------------------------------------------------------
def resolve(tid: int, removed: dict[int, int | None]) -> int:
    """The topic ``tid`` ended up in, following merges (a forgotten topic keeps its id)."""
    while (target := removed.get(tid)) is not None:
        tid = target
    return tid


def online(stream: Stream, params: dict[str, float]) -> tuple[list[int], OnlineTopicModel]:
    """Each item's online label (topic joined at arrival, merges followed) and the model after the stream."""
    model = OnlineTopicModel(**params)  # type: ignore[arg-type]
    joined = [model.update(v, text=t, item_id=str(i), ts=float(i))
              for i, (v, t) in enumerate(zip(stream.vectors, stream.texts, strict=True))]
    removed = model.drain_changes().removed
    return [resolve(tid, removed) for tid in joined], model


def grouped(stream: Stream, model: OnlineTopicModel, found: Sequence[int], groups: int) -> tuple[list[int], list[int]]:
    """The grouped level read two ways: each item's group through the topic it joined (an item of a forgotten
    topic keeps that topic as its own group), and the group whose size-weighted centre is nearest to the item."""
    topics = model.topics()
    centres = np.stack([t.centroid for t in topics])
    sizes = np.array([t.size for t in topics], dtype=np.float64)
    assignment = group_topics(centres, sizes, groups)
    of_topic = dict(zip((t.id for t in topics), assignment.tolist(), strict=True))
    sums = np.stack([(centres[assignment == g] * sizes[assignment == g, None]).sum(0)
                     for g in range(assignment.max() + 1)])
    nearest = (stream.vectors @ (sums / np.linalg.norm(sums, axis=1, keepdims=True)).T).argmax(1)
    return [of_topic.get(t, -t) for t in found], nearest.tolist()


def dbstream(vectors: np.ndarray, threshold: float) -> list[int]:
    """river's DBSTREAM fed the whole stream, then asked to assign every item (the kinder protocol for it)."""
    from river import cluster

    model = cluster.DBSTREAM(clustering_threshold=threshold, fading_factor=0.001, cleanup_interval=4,
                             intersection_factor=0.3, minimum_weight=1.0)
    points = [dict(enumerate(v.tolist())) for v in vectors]
    for x in points:
        model.learn_one(x)
    return [model.predict_one(x) for x in points]


def lsa(texts: Sequence[str], dims: int = 100) -> np.ndarray:
    """Unit rows of a ``dims``-dimensional LSA (truncated SVD) of the texts' sublinear TF-IDF: lexical features
    for a batch reference that sees words as well as the embeddings."""
    tfidf = TfidfVectorizer(stop_words="english", min_df=3, sublinear_tf=True).fit_transform(texts)
    reduced = TruncatedSVD(dims, random_state=0).fit_transform(tfidf)
    return reduced / np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12)


def scores(labels: Sequence[str], found: Sequence[int]) -> dict[str, float]:
    hom, comp, _ = homogeneity_completeness_v_measure(labels, found)
    return {"topics": len(set(found)), "nmi": normalized_mutual_info_score(labels, found),
            "ari": adjusted_rand_score(labels, found), "homogeneity": hom, "completeness": comp}


def row(name: str, s: dict[str, float]) -> str:
    return (f"  {name:46s} {s['topics']:6d} {s['nmi']:6.3f} {s['ari']:6.3f} {s['homogeneity']:6.3f} "
            f"{s['completeness']:6.3f}")


def goal(text: str, ok: bool) -> str:
    return f"  goal {text:58s} {'PASS' if ok else 'MISS'}"


# sections -------------------------------------------------------------------------------------------------------
def quality(streams: Sequence[Stream]) -> dict:
    defaults = settings()
    say(f"\n1. clustering quality against the true labels (shuffled seed 0; online model with the daemon's defaults: "
        f"adaptive, contrast {defaults['contrast']}, max_share {defaults['max_share']}, merge_threshold "
        f"{defaults['merge_threshold']}, split_threshold {defaults['split_threshold']}, max_topics "
        f"{defaults['max_topics']:g}, timestamps 1 s apart)")
    result: dict = {}
    for stream in streams:
        k = len(set(stream.labels))
        say(f"{stream.name}: {len(stream)} items, {k} labels")
        say(f"  {'model':46s} {'topics':>6s} {'NMI':>6s} {'ARI':>6s} {'hom':>6s} {'comp':>6s}")
        found, model = online(stream, defaults)
        on = scores(stream.labels, found) | {"live_topics": len(model)}
        say(row(f"Lookout online topics ({len(model)} live at the end)", on))
        levels = {"topics": on}
        for groups, why in ((TopicSettings().groups, "default"), (k, "told k")):
            via_topic, nearest = grouped(stream, model, found, groups)
            levels[f"{groups} groups, via topic"] = scores(stream.labels, via_topic)
            levels[f"{groups} groups, nearest centre"] = scores(stream.labels, nearest)
            say(row(f"  grouped into {groups} ({why}), by the item's topic", levels[f"{groups} groups, via topic"]))
            say(row(f"  grouped into {groups} ({why}), by nearest centre", levels[f"{groups} groups, nearest centre"]))
        grid = {t: scores(stream.labels, dbstream(stream.vectors, t)) for t in DBSTREAM_GRID}
        best_t = max(grid, key=lambda t: grid[t]["nmi"])
        say(row(f"river DBSTREAM, best of grid (threshold {best_t})", grid[best_t]))
        kmeans = scores(stream.labels, KMeans(k, n_init=3, random_state=0).fit_predict(stream.vectors))
        say(row(f"batch KMeans k={k} (reference)", kmeans))
        gmm = GaussianMixture(k, covariance_type="spherical", random_state=0).fit(stream.vectors)
        ceiling = {"gmm": scores(stream.labels, gmm.predict(stream.vectors)),
                   "kmeans_lsa": scores(stream.labels, KMeans(k, n_init=3, random_state=0).fit_predict(
                       np.hstack([stream.vectors, 0.5 * lsa(stream.texts)])))}
        say(row(f"batch Gaussian mixture k={k}, spherical", ceiling["gmm"]))
        say(row(f"batch KMeans k={k}, embeddings + LSA of TF-IDF", ceiling["kmeans_lsa"]))
        hdb_labels = HDBSCAN(min_cluster_size=15, algorithm="brute", copy=True).fit_predict(stream.vectors)
        hdb = scores(stream.labels, hdb_labels) | {"noise": float(np.mean(hdb_labels == -1))}
        say(row(f"batch HDBSCAN mcs 15 ({hdb['noise']:.0%} noise = 1 cluster)", hdb))
        say("  DBSTREAM grid NMI: " + ", ".join(f"{t} -> {s['nmi']:.3f}" for t, s in grid.items()))
        goals = {}
        say(f"  goals: NMI >= KMeans NMI - 0.03 ({kmeans['nmi'] - 0.03:.3f}) and >= DBSTREAM NMI + 0.15 "
            f"({grid[best_t]['nmi'] + 0.15:.3f}); ratio NMI / KMeans NMI")
        for level, got in levels.items():
            goals[level] = {"vs_kmeans": got["nmi"] >= kmeans["nmi"] - 0.03,
                            "vs_dbstream": got["nmi"] >= grid[best_t]["nmi"] + 0.15}
            say(f"  {level:32s} {'PASS' if goals[level]['vs_kmeans'] else 'MISS'} "
                f"{'PASS' if goals[level]['vs_dbstream'] else 'MISS'}  {got['nmi'] / kmeans['nmi']:.2f}")
        result[stream.name] = {"online": levels, "dbstream": {str(t): s for t, s in grid.items()},
                               "dbstream_best": best_t, "kmeans": kmeans, "hdbscan": hdb, "goals": goals,
                               "other_batch": ceiling}

    say("contrast sweep (other settings the daemon's defaults); NMI / ARI / topics per dataset")
    say(f"  {'contrast':>9s}   " + "   ".join(f"{s.name:>26s}" for s in streams))
    sweep: dict = {}
    for t in SWEEP:
        params = settings(t)
        found = {s.name: scores(s.labels, online(s, params)[0]) for s in streams}
        mark = "  <- daemon default" if t == defaults["contrast"] else ""
        say(f"  {t:9.2f}   " + "   ".join(
            f"{f['nmi']:.3f} / {f['ari']:.3f} / {f['topics']:6d}".rjust(26) for f in found.values()) + mark)
        sweep[str(t)] = found
    result["sweep"] = sweep
    return result


def best_rate(run: Callable[[], int], repeat: int = 3) -> float:
    """Items per second of the fastest of ``repeat`` calls of ``run`` (which returns how many items it did)."""
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        n = run()
        rates.append(n / (time.perf_counter() - started))
    return max(rates)


def speed(stream: Stream) -> dict:
    say(f"\n2. update cost on {len(stream)} stored {stream.name} embeddings (daemon defaults, best of 3)")
    models: list[OnlineTopicModel] = []

    def updates(with_text: bool) -> int:
        models.append(OnlineTopicModel(**settings()))  # type: ignore[arg-type]
        for i, (v, t) in enumerate(zip(stream.vectors, stream.texts, strict=True)):
            models[-1].update(v, text=t if with_text else "", item_id=str(i), ts=float(i))
        return len(stream)

    def predictions() -> int:
        for v in stream.vectors:
            models[-1].predict_one(v)
        return len(stream)

    bare_rate = best_rate(lambda: updates(False))
    update_rate = best_rate(lambda: updates(True))
    predict_rate = best_rate(predictions)
    for label, rate in ((f"predict_one alone (baseline, {len(models[-1])} topics)", predict_rate),
                        ("update with text", update_rate), ("update without text (to see where time goes)", bare_rate)):
        say(f"  {label:46s}: {rate:9.0f} items/s ({1000 / rate:.3f} ms/item)")
    say(f"  {'ratio update with text / predict_one':46s}: {update_rate / predict_rate:9.2f}")
    say(goal("update with text >= 10,000 items/s", update_rate >= 10_000))
    return {"update_items_per_s": update_rate, "update_without_text_items_per_s": bare_rate,
            "predict_items_per_s": predict_rate, "ratio": update_rate / predict_rate, "topics_at_end": len(models[-1])}


@cache
def lemma(word: str) -> str:
    """simplemma's lemma of a lower-case word, lower-cased (it capitalises proper nouns: jesus -> Jesus)."""
    import simplemma

    return simplemma.lemmatize(word, lang="en").lower()


def octis_corpus(limit: int | None) -> tuple[list[list[str]], int]:
    """20 Newsgroups train + test preprocessed as OCTIS describes (see the module docstring); and its vocab size."""
    from gensim.parsing.preprocessing import STOPWORDS

    stop = frozenset(ENGLISH_STOP_WORDS) | STOPWORDS
    docs = []
    for r in tqdm(shuffled(read_jsonl(NEWSGROUPS), limit), desc="preprocessing 20NG", unit="doc"):
        tokens = (lemma(w) for w in re.findall(r"[a-z]+", post_text(r).lower()) if w not in stop)
        docs.append([w for w in tokens if len(w) > 2 and w.isascii() and w.isalpha() and w not in stop])
    df: dict[str, int] = {}
    for doc in docs:
        for w in set(doc):
            df[w] = df.get(w, 0) + 1
    vocab = {w for w, n in df.items() if n >= 0.005 * len(docs)}
    kept = [[w for w in doc if w in vocab] for doc in docs]
    kept = [doc for doc in kept if len(doc) >= 5]
    return kept, len({w for doc in kept for w in doc})


def keywords(limit: int | None, cache_dir: Path) -> dict:
    from gensim.corpora import Dictionary
    from gensim.models import CoherenceModel

    say("\n3. keyword quality on 20 Newsgroups train + test, OCTIS-style preprocessing")
    docs, vocab = octis_corpus(limit)
    say(f"  documents {len(docs)} (OCTIS {OCTIS_COUNTS[0]}), vocabulary {vocab} (OCTIS {OCTIS_COUNTS[1]})")
    texts = [" ".join(doc) for doc in docs]
    stream = Stream("20NG OCTIS", texts, [""] * len(texts), embed("20ng-octis", texts, cache_dir))
    _, model = online(stream, settings())
    dictionary = Dictionary(docs)
    largest = model.topics()[: max(TOPIC_COUNTS)]
    top = [[w for w in model.keywords(t.id, 10) if w in dictionary.token2id] for t in largest]
    per_topic = CoherenceModel(topics=top, texts=docs, dictionary=dictionary, coherence="c_npmi", topn=10,
                               processes=1).get_coherence_per_topic()
    rows = {n: (float(np.mean(per_topic[:n])), len({w for t in top[:n] for w in t}) / (10 * n))
            for n in TOPIC_COUNTS if n <= len(top)}
    say(f"  {len(model)} live topics; sizes of the largest {len(top)}: {largest[0].size} .. {largest[-1].size}")
    for n, (npmi, td) in rows.items():
        say(f"  largest {n:2d} topics: NPMI {npmi:6.3f}  diversity {td:5.3f}")
    npmi, td = (float(np.mean([r[i] for r in rows.values()])) for i in (0, 1))
    say(f"  {'model (NPMI / diversity, averaged over N = 10..50)':52s} {'NPMI':>6s} {'TD':>6s}")
    say(f"  {'Lookout online topics, top-10 keywords':52s} {npmi:6.3f} {td:6.3f}")
    for name, p_npmi, p_td in PUBLISHED:
        say(f"  {name + ' (published)':52s} {p_npmi:6.3f} {p_td:6.3f}")
    say(f"  ratio NPMI / BERTopic-MiniLM: {npmi / PUBLISHED[1][1]:.2f}   diversity / BERTopic-MiniLM: "
        f"{td / PUBLISHED[1][2]:.2f}")
    return {"documents": len(docs), "vocabulary": vocab, "npmi": npmi, "diversity": td,
            "per_n": {str(n): {"npmi": r[0], "diversity": r[1]} for n, r in rows.items()},
            "top_keywords": top[:10]}


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def memory(streams: Sequence[Stream], items: int) -> dict:
    say(f"\n4. memory over a {items}-item stream (AG News + 20 Newsgroups embeddings cycled with noise sigma 0.01, "
        f"1 s apart, daemon defaults)")
    vectors = np.concatenate([s.vectors for s in streams])
    texts = [t for s in streams for t in s.texts]
    rng = np.random.default_rng(0)
    model = OnlineTopicModel(**settings())  # type: ignore[arg-type]
    checkpoints = {items // 10, items // 2, items}
    result = {"rss_before_mib": rss_mib()}
    say(f"  RSS before the stream: {result['rss_before_mib']:.0f} MiB")
    for i in tqdm(range(items), desc="long stream", unit="item", mininterval=2.0):
        v = vectors[i % len(vectors)] + rng.normal(0.0, 0.01, vectors.shape[1]).astype(np.float32)
        model.update(v / np.linalg.norm(v), text=texts[i % len(texts)], item_id=str(i), ts=float(i))
        if (i + 1) % 1024 == 0:
            model.drain_changes()
        if i + 1 in checkpoints:
            result[str(i + 1)] = {"rss_mib": rss_mib(), "topics": len(model)}
            tqdm.write(f"  after {i + 1:7d} items: RSS {result[str(i + 1)]['rss_mib']:7.0f} MiB, "
                       f"{len(model)} topics")
            sys.stdout.flush()
    first, last = result[str(items // 10)]["rss_mib"], result[str(items)]["rss_mib"]
    result["growth_mib"] = last - first
    say(f"  RSS growth from {items // 10} to {items} items: {last - first:+.1f} MiB ({(last - first) / first:+.1%})")
    say(goal("RSS flat after warm-up (growth < 5%)", last - first < 0.05 * first))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--limit", type=int, help="only the first N items of each shuffled dataset (quick runs)")
    parser.add_argument("--stream", type=int, default=100_000, help="items in the memory section's stream")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lookout-bench-cache"), help="embedding cache dir")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    started = time.perf_counter()
    results: dict = {"limit": args.limit, "settings": settings()}
    if {"quality", "speed", "memory"} & set(args.only):
        streams = [newsgroups_test(args.limit, args.cache), ag_news(args.limit, args.cache)]
    if "quality" in args.only:
        results["quality"] = quality(streams)
    if "speed" in args.only:
        results["speed"] = speed(streams[0])
    if "keywords" in args.only:
        results["keywords"] = keywords(args.limit, args.cache)
    if "memory" in args.only:
        results["memory"] = memory(streams, args.stream)
    results["seconds"] = time.perf_counter() - started
    say(f"\ntotal {results['seconds'] / 60:.1f} min")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
