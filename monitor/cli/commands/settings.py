"""`lookout settings`: every setting with its default and meaning, or a check of a file."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from monitor.cli.common import CommandAdder, NotifierFactory
from monitor.config.load import load_settings
from monitor.config.reference import reference


def add(command: CommandAdder) -> None:
    p = command("settings", cmd_settings, "List every setting with its default and meaning.", config=False)
    p.add_argument("--check", metavar="FILE", help="validate FILE instead, and say what is wrong")


def cmd_settings(args: argparse.Namespace, _: NotifierFactory) -> int:
    if args.check:
        load_settings(args.check)
        print(f"{args.check}: valid")
        return 0
    print(tabulate(reference(), headers=["setting", "default", "meaning"], tablefmt="github"))
    return 0
