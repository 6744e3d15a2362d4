"""`lookout item` and `lookout items`: one item in detail, and the newest items."""

from __future__ import annotations

import argparse

from models.topics import DISTRIBUTION_TEMPERATURE, topic_distribution
from monitor import service
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table
from monitor.ingest.text import neutral, neutral_url
from monitor.service import ServiceError
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("item", cmd_item, "Show one item: title, source, link, labels, and how much it belongs to each "
                                  "topic (a softmax of the cosine similarities of its embedding to the live topics' "
                                  f"centres at temperature {DISTRIBUTION_TEMPERATURE:g}).")
    p.add_argument("item", help="item id, or its first six or more characters")
    p.add_argument("-n", "--top", type=int, default=5, metavar="N",
                   help="how many topics of its distribution (default: 5)")
    p = command("items", cmd_items, "List the newest enriched items, optionally with one label.")
    p.add_argument("--label", help="only items with this label")
    p.add_argument("--task", help="only labels of this task")
    p.add_argument("-n", "--limit", type=int, default=20, help="how many items (default: 20)")


def cmd_item(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        item = service.find_item(store, args.item)
        detail = store.item_detail(item.id)
        ids, centres = store.topic_centres()[:2]
        names = store.topic_names([*ids, *(t for t in (detail.topic_id, detail.topic_now) if t)])
    print(f"Item {item.id}: {neutral(item.title) or '(no title)'}")
    print(f"source: {neutral(item.source)}")
    print(f"url:    {neutral_url(item.url) or '-'}")
    print("labels: " + (", ".join(f"{x.task} = {x.label} ({x.confidence:.2f}, {x.model})" for x in detail.labels)
                        or "none yet"))
    assigned, now = detail.topic_id, detail.topic_now
    merged = f" (merged into #{now} {neutral(names.get(now, ''))})" if now is not None and now != assigned else ""
    print(f"topic:  #{assigned} {neutral(names.get(assigned, ''))}{merged}" if assigned else "topic:  none yet")
    if detail.embedding is None or not ids:
        print("\nno topic distribution: " + ("the item is not enriched yet" if detail.embedding is None
                                             else "there are no live topics yet"))
        return 0
    if centres.shape[1] != detail.embedding.shape[0]:
        raise ServiceError("the item was embedded by another model than the topics' "
                           f"({detail.embedding.shape[0]} against {centres.shape[1]} dimensions)")
    rows = topic_distribution(detail.embedding, ids, centres, DISTRIBUTION_TEMPERATURE)[: args.top]
    print(f"\ntopic distribution (softmax of the cosine similarity to each live topic's centre, temperature "
          f"{DISTRIBUTION_TEMPERATURE:g}):")
    print(table([[f"#{tid}", names.get(tid, ""), f"{p:.1%}" if p >= 0.001 else "<0.1%", f"{sim:.2f}",
                  "<- assigned" if tid == now else ""] for tid, sim, p in rows],
                headers=["topic", "name", "probability", "similarity", ""], disable_numparse=True))
    return 0


def cmd_items(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        rows = store.items_with_label(args.task, args.label, args.limit)
    if not rows:
        print("no items" + (f" labelled {args.label}" if args.label else ""))
        return 0
    print(table([[r.item.id[:10], neutral(r.item.title)[:60], r.labels, r.item.topic_id, r.item.source]
                 for r in rows], headers=["item", "title", "labels", "topic", "source"]))
    return 0
