"""The ``lookout`` console script: the monitor's command line with Slack delivery wired in."""

from __future__ import annotations

import sys

from bot.notifier import make_notifier
from monitor.cli import main as monitor_main


def main(argv: list[str] | None = None) -> int:
    return monitor_main(argv, notifier_factory=make_notifier)


if __name__ == "__main__":
    sys.exit(main())
