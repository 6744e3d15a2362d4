"""The ``/lookout`` slash command's grammar, parsed by a pure function."""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages


class UsageError(ValueError):
    """The command was not understood; the message says what was expected."""


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...] = ()


ARITY = {"help": (0, 0), "status": (0, 0), "topics": (0, 1), "search": (1, 99), "label": (2, 3)}


def parse(text: str) -> Command:
    """``"label 3fa9c1 spam"`` -> ``Command("label", ("3fa9c1", "spam"))``; raises ``UsageError`` when wrong."""
    words = text.split()
    if not words:
        return Command("help")
    name, args = words[0].lower(), tuple(words[1:])
    if name not in ARITY:
        raise UsageError(messages.unknown_command(name))
    low, high = ARITY[name]
    if not low <= len(args) <= high:
        raise UsageError(messages.usage(name))
    if name == "topics" and args and not (args[0].isdigit() and 1 <= int(args[0]) <= 20):
        raise UsageError(messages.usage(name))
    return Command(name, args)
