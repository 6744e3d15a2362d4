"""The ``/lookout`` slash command's grammar, parsed by a pure function."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot import messages
from monitor.daemon.schedule import ScheduleError, parse_schedule


class UsageError(ValueError):
    """The command was not understood; the message says what was expected."""


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...] = ()


ARITY = {"help": (0, 0), "status": (0, 0), "topics": (0, 1), "topic": (1, 1), "search": (1, 99), "label": (2, 3),
         "mute": (1, 5), "mutes": (0, 0), "unmute": (1, 2), "watch": (1, 4), "trends": (0, 1),
         "retrain": (0, 1), "taxonomy": (0, 1), "digest": (0, 4), "subscribe": (1, 2), "subscriptions": (0, 0),
         "unsubscribe": (1, 1)}
SUBSCRIBE_KINDS = ("keyword", "topic", "label")
NUMBER_LIMIT = {"topics": 20, "trends": 168, "taxonomy": 50}
TRENDING = re.compile(r"\b(trend\w*|topics?|going on|popular|hot)\b", re.I)
ASKING = re.compile(r"^(?:search(?: for)?|(?:is there )?anything (?:about|on)|what about|news (?:about|on))\s+(.+?)"
                    r"(?:\s+today)?\W*$", re.I)


def unescape(text: str) -> str:
    """What the user typed: Slack sends ``&``, ``<`` and ``>`` in command and message text as ``&amp;``, ``&lt;``
    and ``&gt;`` (its only entities)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def intent(text: str) -> Command:
    """What a mention or direct message asks for: topics, a search, or (not understood) help."""
    words = unescape(re.sub(r"<@[A-Z0-9]+>", "", text)).strip()
    asked = ASKING.match(words)
    if asked:
        return Command("search", tuple(asked.group(1).split()))
    if TRENDING.search(words):
        return Command("topics")
    return Command("help")


def parse(text: str) -> Command:
    """``"label 3fa9c1 spam"`` -> ``Command("label", ("3fa9c1", "spam"))``; raises ``UsageError`` when wrong."""
    words = [unescape(w) for w in text.split()]
    if not words:
        return Command("help")
    name, args = words[0].lower(), tuple(words[1:])
    if name not in ARITY:
        raise UsageError(messages.unknown_command(name))
    low, high = ARITY[name]
    if not low <= len(args) <= high:
        raise UsageError(messages.usage(name))
    if name in NUMBER_LIMIT and args and not (args[0].isdigit() and 1 <= int(args[0]) <= NUMBER_LIMIT[name]):
        raise UsageError(messages.usage(name))
    if name == "watch":
        action, rest = args[0].lower(), args[1:]
        keyword = action == "add" and len(rest) >= 2 and rest[0].lower() == "keyword"
        if not ((action == "list" and not rest) or (action == "remove" and len(rest) == 1)
                or (action == "add" and 1 <= len(rest) <= 2 and rest[0].lower() != "keyword") or
                (keyword and len(rest) <= 3)):
            raise UsageError(messages.usage(name))
        return Command(name, (action, *rest))
    if name == "digest" and args:
        return _digest_schedule(args)
    if name == "subscribe" and (len(args) == 2) != (args[0].lower() in SUBSCRIBE_KINDS):
        raise UsageError(messages.usage(name))
    return Command(name, args)


def _digest_schedule(args: tuple[str, ...]) -> Command:
    """``digest schedule daily 08:00`` / ``weekly mon 08:00`` / ``off``."""
    if args[0].lower() != "schedule":
        raise UsageError(messages.usage("digest"))
    try:
        parse_schedule(args[1:], now=0.0)
    except ScheduleError as exc:
        raise UsageError(f"{messages.escape(str(exc))}\n{messages.usage('digest')}") from None
    return Command("digest", ("schedule", *args[1:]))
