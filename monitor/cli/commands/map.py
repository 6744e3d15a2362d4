"""`lookout map`: a 2-D map of the stored items."""

from __future__ import annotations

import argparse
from pathlib import Path

from models.projection import PCA_DIMS
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings
from monitor.reports import digest as digests
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("map", cmd_map, f"Draw a 2-D map of the stored items (PCA, then t-SNE from {PCA_DIMS} items on) "
                                "coloured by topic or label: map.png, and map.html, a page where hovering a point "
                                "shows the item.")
    p.add_argument("--out", metavar="DIR",
                   help="folder for map.png and map.html (default: digest.report_dir, else <store>.reports)")
    p.add_argument("--color", choices=["topic", "label"], default="topic",
                   help="colour by topic (the 20 largest on the map; the rest grey) or by the label of --task "
                        "(default: topic)")
    p.add_argument("--task", help="the task whose labels colour the map (needed when several tasks label items); "
                                  "with --color topic its label shows on hover")
    p.add_argument("--limit", type=int, default=5000, metavar="N", help="map the newest N items (default: 5000)")


def cmd_map(args: argparse.Namespace, _: NotifierFactory) -> int:
    from monitor.reports import maps

    settings = load_cli_settings(args)
    folder = Path(args.out) if args.out else digests.report_dir(settings.store.path, settings.digest.report_dir)
    with Store(settings.store.path) as store:
        item_map = maps.build(store, args.limit, args.color, args.task, say=lambda line: print(line, flush=True))
    png, page = maps.write(item_map, folder)
    print(f"{item_map.title}, {len(item_map.names)} topics named\nchart: {png}\npage:  {page}")
    return 0
