"""Scaffolding the benchmarks share.

The replay benchmarks (bench/emerging.py, bench/bursts.py) go through the user's path: a dated JSONL stream
played by the replay source, at event time, into the daemon, run in-process with the real bundled model (its
embeddings cached by text, ``bench.topics.embed``), the default settings and one ``topic_burst`` rule, alerts to
the console (no Slack token); then they read the alerts the run stored and what each alert's topic held when it
fired. bench/topics.py and bench/granularity.py share ``say`` and ``shuffled``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.config.load import load_settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.store.db import Store

CACHE = Path("/tmp/lookout-bench-cache")


def say(*parts: object) -> None:
    print(*parts, flush=True)


def shuffled(rows: list[dict], limit: int | None) -> list[dict]:
    """The first ``limit`` of ``rows`` in a fixed shuffled order (seed 0)."""
    rows = rows[:]
    random.Random(0).shuffle(rows)
    return rows[:limit]


def replay_arguments(parser: argparse.ArgumentParser, bin_minutes: float | None) -> None:
    """The options of a replay benchmark: the rule's settings (each defaults to the setting's default, the window
    to ``bin_minutes`` when given), the embedding cache, a JSON copy of the figures and a folder to keep."""
    window = "the setting's default" if bin_minutes is None else f"{bin_minutes:g}"
    parser.add_argument("--factor", type=float, help="the rule's factor (default: the setting's default)")
    parser.add_argument("--min-count", type=int, help="the rule's min_count (default: the setting's default)")
    parser.add_argument("--bin-minutes", type=float, default=bin_minutes, help=f"the rule's window (default {window})")
    parser.add_argument("--cache", type=Path, default=CACHE, help="embedding cache")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--keep", type=Path, help="keep the store, stream and settings in this new folder (for "
                                                  "`lookout backtest`, `topics`...)")


def rule_description(args: argparse.Namespace) -> str:
    """The rule as the options set it, for the printed figures."""
    window = f"{args.bin_minutes:g}-minute" if args.bin_minutes else "default"
    return f"factor {args.factor or 'default'}, min_count {args.min_count or 'default'}, {window} window"


def write_json(path: Path | None, figures: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, default=str))


class CachedEncoder:
    """The bundled model's embeddings of the texts the pipeline reads, looked up in ``vectors`` (text -> unit
    embedding, from ``bench.topics.embed``'s cache). With ``noise``, the n-th repeat of a text (n >= 1) gets
    Gaussian noise of that sigma per dimension (renormalised), seeded by the text and n, so a stream that draws its
    texts with replacement holds no exact duplicates."""

    def __init__(self, vectors: dict[str, np.ndarray], noise: float = 0.0) -> None:
        self.vectors, self.noise = vectors, noise
        self.seen: dict[str, int] = defaultdict(int)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.stack([self.vectors[t] for t in texts]).astype(np.float32)
        if self.noise:
            for i, text in enumerate(texts):
                repeat = self.seen[text]
                self.seen[text] += 1
                if repeat:
                    seed = int.from_bytes(hashlib.blake2b(f"{repeat}:{text}".encode(), digest_size=8).digest())
                    v = out[i] + np.random.default_rng(seed).normal(scale=self.noise, size=out.shape[1])
                    out[i] = v / np.linalg.norm(v)
        return out


@dataclass
class Replayed:
    """What a replay left: the stored alerts' payloads (event-time order), the ids of the items each alert's topic
    held when it fired, the items' texts by id, the seconds the daemon ran and the items it enriched."""

    alerts: list[dict]
    held: list[list[str]]
    texts: dict[str, str]
    seconds: float
    items: int


def settings_file(folder: Path, stream: Path, args: argparse.Namespace, topics: str = "") -> Path:
    """The settings: the defaults, ``[topics]`` lines, the replay of ``stream`` and one ``topic_burst`` rule."""
    rule = "".join(f"{key} = {value:g}\n" for key, value in (("factor", args.factor), ("min_count", args.min_count),
                                                              ("bin_minutes", args.bin_minutes)) if value)
    cfg = folder / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{folder / "lookout.db"}"\n[model]\ndevice = "cpu"\n'
                   + (f"[topics]\n{topics}" if topics else "")
                   + f'[[replays]]\nname = "stream"\npath = "{stream}"\n'
                   f'[[alerts]]\nname = "burst"\nkind = "topic_burst"\n{rule}')
    return cfg


def replay(cfg: Path, encoder: CachedEncoder) -> Replayed:
    """Run the daemon on ``cfg`` until the stream is played, then read what it stored."""
    settings = load_settings(cfg, env={})
    store = Store(settings.store.path)
    started = time.perf_counter()
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder),  # type: ignore[arg-type]
                    ConsoleNotifier(lambda _: None, "never"), build_sources(settings))
    asyncio.run(daemon.run(until_idle=True))
    seconds = time.perf_counter() - started
    alerts = [json.loads(r["payload"]) for r in store.db.query("select payload from alerts order by event_time, id")]
    held, texts = held_items(store, alerts)
    store.close()
    return Replayed(alerts, held, texts, seconds, daemon.processed)


def held_items(store: Store, alerts: list[dict]) -> tuple[list[list[str]], dict[str, str]]:
    """For each alert, the ids of the items its topic held when it fired: those that joined it, or a topic merged
    into it by then, up to the alert's own item in the order they were taken in (event time, then arrival). Members
    that moved to another topic in a split are not followed. Also every item's text by id."""
    rows = list(store.db.query("select id, topic_id, event_time, text from items where topic_id is not null "
                               "order by event_time, rowid"))
    position = {r["id"]: n for n, r in enumerate(rows)}
    members: dict[int, list[int]] = defaultdict(list)
    for n, r in enumerate(rows):
        members[r["topic_id"]].append(n)
    merges = list(store.db.query("select topic_id, other_id, at from topic_events where kind = 'merge'"))
    held = []
    for alert in alerts:
        lineage, grew = {alert["topic_id"]}, True
        while grew:
            more = {m["topic_id"] for m in merges if m["other_id"] in lineage and m["at"] <= alert["event_time"]}
            grew = not more <= lineage
            lineage |= more
        end = position[alert["item_id"]]
        held.append([rows[n]["id"] for t in lineage for n in members[t] if n <= end])
    return held, {r["id"]: r["text"] for r in rows}
