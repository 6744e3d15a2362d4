"""`lookout search`: stored items nearest in meaning to some words."""

from __future__ import annotations

import argparse

from models.embedding import Encoder
from monitor import service
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table
from monitor.ingest.text import neutral, neutral_url
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("search", cmd_search, "Find stored items nearest in meaning to some words.")
    p.add_argument("words", nargs="+", help="what to look for")
    p.add_argument("-n", "--limit", type=int, default=5, help="how many results (default: 5)")


def cmd_search(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        m = settings.model
        encoder = Encoder(m.embedding, device=m.device, batch_size=m.batch_size, max_chars=m.max_chars)
        rows = service.search(store, encoder.encode, " ".join(args.words), args.limit)
    if not rows:
        print("nothing stored yet")
        return 0
    print(table([[f"{r.similarity:.2f}", r.item.id[:10], neutral(r.item.title)[:60], r.item.source,
                  neutral_url(r.item.url)] for r in rows],
                headers=["similarity", "item", "title", "source", "url"]))
    return 0
