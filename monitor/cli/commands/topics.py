"""`lookout topics` and `lookout topic`: the live topics, and one topic in detail."""

from __future__ import annotations

import argparse
import json

from models.keywords import topic_weights
from monitor import service
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table, when
from monitor.config.schema import Settings
from monitor.ingest.text import neutral, neutral_url
from monitor.reports import export
from monitor.service import ServiceError
from monitor.store.db import Store

CLOUD_WORDS = 100


def add(command: CommandAdder) -> None:
    p = command("topics", cmd_topics, "Show the largest live topics with keywords and a typical item.")
    p.add_argument("-n", "--limit", type=int, default=15, help="how many topics (default: 15)")
    p.add_argument("--min-size", type=int, help="smallest topic shown (default: topics.min_size)")
    p.add_argument("--tree", action="store_true", help="sort the topics into topics.groups groups of related "
                                                       "ones, each under its largest")
    p.add_argument("--json", action="store_true", help="print the topics as JSON: id, name, size, keywords, first "
                                                       "and last seen on event time (keys in docs/trends.md)")
    p = command("topic", cmd_topic, "Show one topic: keywords, typical items, and its history of merges and "
                                    "splits.")
    p.add_argument("topic", help="the topic number (12 or #12)")
    p.add_argument("--cloud", metavar="PNG", help=f"also draw a word cloud of its {CLOUD_WORDS} top keywords into PNG, "
                                                  "each word sized by its c-TF-IDF weight")


def cmd_topics(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        if args.json:
            print(json.dumps(topics_json(store, settings, args.limit, args.min_size, args.tree), indent=2,
                             ensure_ascii=False))
        elif args.tree:
            _print_tree(store, settings, args.limit, args.min_size)
        else:
            print_topics(store, settings, limit=args.limit, min_size=args.min_size)
    return 0


def cmd_topic(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        t = service.topic(store, args.topic)
        weights = topic_weights(store.topic_terms(t.id), t.id, CLOUD_WORDS) if args.cloud else []
    if args.cloud and not weights:
        raise ServiceError(f"topic #{t.id} has no words to draw: its items left none after stop words")
    state = "live" if t.alive else f"merged into #{t.merged_into}" if t.merged_into else "forgotten"
    print(f"Topic #{t.id} {neutral(t.name)} ({state}): {t.size} items, {t.last_day} in the last day, "
          f"{t.before} before; first seen {when(t.first_seen)}, last seen {when(t.last_seen)}")
    print(f"keywords: {neutral(', '.join(t.keywords)) or 'none yet'}")
    for r in t.representatives:
        print(f"  {r.id[:10]}  {(neutral(r.title) or '(no title)')[:70]}  {neutral_url(r.url)}")
    if t.history:
        print("history:")
        for e in t.history:
            print(f"  {when(e.at)}  {service.describe_event(e, t.id)}")
    if args.cloud:
        from monitor.reports import charts

        charts.word_cloud(args.cloud, weights)
        print(f"word cloud of {len(weights)} words: {args.cloud}")
    return 0


def print_topics(store: Store, settings: Settings, limit: int, min_size: int | None = None) -> None:
    smallest = settings.topics.min_size if min_size is None else min_size
    topics = store.top_topics(limit, smallest)
    if not topics:
        print(f"no topic has {smallest} or more items yet")
        return
    titles = store.titles([t.typical_id for t in topics if t.typical_id])
    spans = store.topic_spans()
    rows = [[f"#{t.id}", t.name, t.size, *(when(x) for x in spans.get(t.id, (None, None))),
             ", ".join(t.keywords[:6]), neutral(titles.get(t.typical_id, ""))[:50]] for t in topics]
    print(table(rows, headers=["topic", "name", "items", "first seen", "last seen", "keywords",
                               "most typical item"]))


def topics_json(store: Store, settings: Settings, limit: int, min_size: int | None, tree: bool
                ) -> list[dict[str, object]]:
    """The largest topics as ``export.topic`` rows; with ``tree``, each also names its parent and children."""
    smallest = settings.topics.min_size if min_size is None else min_size
    topics = service.topic_tree(store, settings, limit, smallest) if tree else store.top_topics(limit, smallest)
    spans = store.topic_spans()
    titles = store.titles([t.typical_id for t in topics if t.typical_id])
    rows = [export.topic(t, spans, titles.get(t.typical_id, "")) for t in topics]
    if tree:
        for row, t in zip(rows, topics, strict=True):
            row |= {"parent": t.parent, "children": list(t.children)}
    return rows


def _print_tree(store: Store, settings: Settings, limit: int, min_size: int | None) -> None:
    smallest = settings.topics.min_size if min_size is None else min_size
    topics = service.topic_tree(store, settings, limit, smallest)
    if not topics:
        print(f"no topic has {smallest} or more items yet")
        return
    shown = {t.id: t for t in topics}
    for t in topics:
        if t.parent in shown:
            continue
        print(f"#{t.id} {neutral(t.name or ', '.join(t.keywords[:3]))} ({_items(t.size)})")
        for child in t.children:
            c = shown.get(child)
            if c is not None:
                print(f"  └ #{c.id} {neutral(c.name or ', '.join(c.keywords[:3]))} ({_items(c.size)})")


def _items(n: int) -> str:
    return f"{n} item{'' if n == 1 else 's'}"
