"""What the command line and the Slack bot both do: look items up, correct labels, search by meaning.

Every function validates its arguments and raises ``ServiceError`` with a message meant for the person who asked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import regex

from models.topics import hierarchy
from monitor.config.schema import Settings
from monitor.config.validate import NAME_CHARS, SLACK_NAME
from monitor.enrich.alerts import compile_pattern
from monitor.ingest.registry import KINDS
from monitor.reports import periods, trends
from monitor.store.db import Store
from monitor.store.mutes import MuteRow
from monitor.store.rows import ItemRef
from monitor.store.topics import TopicDetail, TopicEvent, TopicRow

MIN_PREFIX = 6


class ServiceError(ValueError):
    """A request that cannot be carried out; the message says what was expected."""


@dataclass(frozen=True)
class Correction:
    item_id: str
    title: str
    task: str
    old_label: str
    new_label: str
    user: str


def find_item(store: Store, ref: str) -> ItemRef:
    """The one item whose id starts with ``ref`` (at least six characters)."""
    ref = ref.strip().lower()
    if len(ref) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in ref):
        raise ServiceError(f"`{ref}` is not an item id: expected at least {MIN_PREFIX} hex characters, as shown "
                           "in alerts and `items`")
    found = store.find_items(ref)
    if not found:
        raise ServiceError(f"no item has an id starting with `{ref}`")
    if len(found) > 1:
        raise ServiceError(f"`{ref}` matches several items; give more of the id")
    return found[0]


def correct(store: Store, settings: Settings, ref: str, label: str, user: str, via: str,
            task: str | None = None) -> Correction:
    """Record a correction of an item's label; ``task`` may be left out when only one task has ``label``."""
    item = find_item(store, ref)
    tasks = {t.name: [x.name for x in t.labels] for t in settings.tasks}
    if task is not None and task not in tasks:
        raise ServiceError(f"no task `{task}`; tasks are: {', '.join(tasks) or 'none configured'}")
    having = [t for t in ([task] if task else tasks) if label in tasks[t]]
    if not having:
        known = "; ".join(f"{t}: {', '.join(names)}" for t, names in tasks.items() if not task or t == task)
        raise ServiceError(f"`{label}` is not a label{f' of task `{task}`' if task else ''}; labels are {known}")
    if len(having) > 1:
        raise ServiceError(f"`{label}` is a label of several tasks ({', '.join(having)}); name the task")
    old = store.correct(item.id, having[0], label, user, via)
    return Correction(item.id, item.title, having[0], old, label, user)


def topic(store: Store, ref: str) -> TopicDetail:
    """A topic by its number (``12`` or ``#12``)."""
    number = ref.lstrip("#")
    if not number.isdigit():
        raise ServiceError(f"`{ref}` is not a topic number (topics are shown as #12)")
    found = store.topic(int(number))
    if found is None:
        raise ServiceError(f"there is no topic #{number}")
    return found


DURATION = re.compile(r"^(\d{1,4})([mhdw])$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
LONGEST_MUTE_SECONDS = 366 * 86400


@dataclass(frozen=True)
class MuteRequest:
    """What ``mute`` was asked: a topic, one rule ("" for every rule), an end (None for good)."""

    topic: str
    rule: str = ""
    until: float | None = None


def mute_request(words: Sequence[str], now: float) -> MuteRequest:
    """``["12", "security", "for", "2h"]`` -> topic 12, rule ``security``, until ``now`` + 2 h. The grammar is
    ``<topic> [rule] [for <n>m|h|d|w | until <date>[ <time>]]``; a date and time without an offset is UTC."""
    if not words:
        raise ServiceError("name the topic to mute, as shown in alerts (#12)")
    ref, rest = words[0], list(words[1:])
    rule = rest.pop(0) if rest and rest[0].lower() not in ("for", "until") else ""
    if not rest:
        return MuteRequest(ref, rule)
    word, span = rest[0].lower(), " ".join(rest[1:])
    if word == "for":
        found = DURATION.match(span.lower())
        if not found or int(found[1]) == 0:
            raise ServiceError(f"`for {span}` is not a duration: expected a number and m, h, d or w, as in `for 2h`")
        until = now + int(found[1]) * UNIT_SECONDS[found[2]]
    elif word == "until":
        try:
            end = datetime.fromisoformat(span)
        except ValueError:
            raise ServiceError(f"`until {span}` is not a date: expected one like `until 2025-07-01` or "
                               "`until 2025-07-01T18:00` (UTC unless it gives an offset)") from None
        until = (end if end.tzinfo else end.replace(tzinfo=UTC)).timestamp()
    else:
        raise ServiceError(f"`{rest[0]}` after the rule: expected `for <duration>` or `until <date>`")
    if until <= now:
        raise ServiceError(f"`until {span}` is past: a mute has to end in the future")
    if until - now > LONGEST_MUTE_SECONDS:
        raise ServiceError("a mute with an end can last a year at most; leave the end out to mute for good")
    return MuteRequest(ref, rule, until)


def rule_names(store: Store, settings: Settings) -> list[str]:
    """The alert rules a mute can name: the configured ones and the keyword watches added at run time."""
    return [a.name for a in settings.alerts] + [w.name for w in store.watches() if w.kind == "keyword"]


def mute(store: Store, settings: Settings, asked: MuteRequest, user: str) -> TopicDetail:
    """Stop alerts for a topic (from one rule, when ``asked`` names one), for good or until ``asked.until``;
    returns the topic."""
    found = topic(store, asked.topic)
    if asked.rule and asked.rule not in (names := rule_names(store, settings)):
        raise ServiceError(f"no alert rule `{asked.rule}`; rules are: {', '.join(names) or 'none configured'}")
    store.mute(found.id, user, asked.rule, asked.until)
    return found


def unmute(store: Store, ref: str, rule: str | None = None) -> list[MuteRow]:
    """Lift a topic's mutes (only ``rule``'s when given: "" is the topic-wide one); returns the mutes lifted."""
    number = ref.lstrip("#")
    if not number.isdigit():
        raise ServiceError(f"`{ref}` is not a topic number (topics are shown as #12)")
    lifted = store.unmute(int(number), rule)
    if not lifted:
        what = f"rule `{rule}` is not muted on topic #{number}" if rule else f"topic #{number} is not muted"
        raise ServiceError(f"{what}; `/lookout mutes` lists the mutes in force")
    return lifted


def configured_names(settings: Settings) -> set[str]:
    """The names of the configured sources, of every kind, and alert rules."""
    return {row.name for rows in settings.sources.values() for row in rows} | {a.name for a in settings.alerts}


def add_watch(store: Store, settings: Settings, kind: str, target: str, name: str | None, user: str) -> str:
    """Watch a new feed (``kind="feed"``, an http(s) URL) or keyword regex (``kind="keyword"``); returns its name."""
    if kind == "feed":
        if not re.match(r"^https?://[^\s/]+", target):
            raise ServiceError(f"`{target}` is not a feed URL: expected http:// or https://")
    elif kind == "keyword":
        try:
            compile_pattern(target)
        except regex.error as exc:
            raise ServiceError(f"`{target}` is not a valid regular expression ({exc})") from None
    else:
        raise ServiceError(f"cannot watch a `{kind}`: expected feed or keyword")
    shown = re.split(r"[?#]", re.sub(r"^[a-z][a-z0-9+.-]*://([^/?#]*@)?", "", target, flags=re.I))[0] \
        if kind == "feed" else target
    name = name or re.sub(r"[^a-z0-9]+", "-", shown.lower()).strip("-")[:NAME_CHARS] or kind
    if not SLACK_NAME.match(name):
        raise ServiceError(f"`{name}` cannot name a watch: expected one word (no spaces) of up to {NAME_CHARS} "
                           "characters, as Slack's buttons and `/lookout mute` carry it")
    if name in configured_names(settings) or any(w.name == name for w in store.watches()):
        raise ServiceError(f"the name `{name}` is taken; give another one")
    store.add_watch(name, kind, target, user)
    return name


def remove_watch(store: Store, settings: Settings, name: str) -> None:
    if name in configured_names(settings):
        raise ServiceError(f"`{name}` is set in the configuration file; remove it there")
    if not store.remove_watch(name):
        raise ServiceError(f"nothing called `{name}` is watched")


def watches(store: Store, settings: Settings) -> list[dict[str, str]]:
    """Everything watched: configured sources and rules, then the ones added at run time."""
    rows = [{"name": s.name, "kind": kind.name, "target": str(getattr(s, kind.target)), "origin": "config"}
            for kind in KINDS for s in settings.rows(kind.section)]
    rows += [{"name": a.name, "kind": "rule", "target": a.pattern, "origin": "config"} for a in settings.alerts]
    return rows + [{"name": w.name, "kind": w.kind, "target": w.target, "origin": f"by {w.created_by}"}
                   for w in store.watches()]


@dataclass(frozen=True)
class TrendReport:
    """New, rising, fading and climbing topics over a window ending at ``end`` (event time), with every topic's
    series (for charts), names and keywords, and how much history the store had to score against."""

    new: list[trends.NewTopic]
    rising: list[trends.Trend]
    fading: list[trends.Trend]
    climbing: list[trends.Trend]
    series: dict[int, np.ndarray]
    keywords: dict[int, list[str]]
    end: float
    bin_seconds: float
    labels: list[LabelTrend]
    names: dict[int, str]
    history: int
    warmup: int
    first_event: float | None

    @property
    def start(self) -> float:
        return self.end - max((len(c) for c in self.series.values()), default=0) * self.bin_seconds

    @property
    def young(self) -> bool:
        """Too little history to call anything new or rising."""
        return self.history < self.warmup


@dataclass(frozen=True)
class LabelTrend:
    """One (task, label)'s items per bin, scored against its own baseline like a topic."""

    task: str
    label: str
    counts: tuple[int, ...]
    baseline: float
    score: float

    @property
    def latest(self) -> int:
        return self.counts[-1] if self.counts else 0


def trend_report(store: Store, hours: float = 24.0, bin_minutes: float = 60.0, warmup: int = 6,
                 threshold: float = 3.0, end: float | None = None) -> TrendReport:
    """Sort every topic of the ``hours`` up to ``end`` (``periods.resolve_end``) into new, rising, fading and
    climbing, scoring its latest bin against the history the store has watched (``monitor.reports.trends``)."""
    if hours <= 0 or bin_minutes <= 0 or bin_minutes > hours * 60:
        raise ServiceError("expected hours > 0 and a bin no longer than the window")
    if warmup < 1:
        raise ServiceError("expected a warm-up of at least 1 bin")
    bin_seconds, bins = bin_minutes * 60, max(2, int(hours * 60 // bin_minutes))
    end = periods.resolve_end(store, end, hours * 3600)
    start = end - bins * bin_seconds
    series = {tid: trends.binned(ts, end, bin_seconds, bins) for tid, ts in store.topic_times(start, end).items()}
    span = store.event_span()
    first_event = span[0] if span else None
    births = {tid: first for tid, (first, _) in store.topic_spans().items()}
    moved = trends.movers(series, births, first_event, end, bin_seconds, start, warmup, threshold)
    history = moved.history
    labels = []
    for (task, label), times in sorted(store.label_times(start, end).items()):
        counts = trends.binned(times, end, bin_seconds, bins)[bins - history - 1:]
        labels.append(LabelTrend(task, label, tuple(int(c) for c in counts), *trends.score(counts, warmup=warmup)))
    topics = store.topics_by_id(series).values()
    return TrendReport(moved.new, moved.rising, moved.fading, moved.climbing, series,
                       {t.id: list(t.keywords) for t in topics}, end, bin_seconds,
                       sorted(labels, key=lambda t: -abs(t.score)),
                       {t.id: t.name for t in topics if t.name}, history, warmup, first_event)


def topic_tree(store: Store, settings: Settings, limit: int, min_size: int) -> list[TopicRow]:
    """The largest topics, each with its ``parent`` (the largest related topic, or None) and ``children``."""
    ids, centres, sizes = store.topic_centres()
    parents = hierarchy(ids, centres, sizes, settings.topics.groups)
    return [replace(t, parent=parents.get(t.id), children=tuple(sorted(
        (c for c, p in parents.items() if p == t.id), key=lambda c: -sizes[ids.index(c)])))
        for t in store.top_topics(limit, min_size)]


def describe_event(event: TopicEvent, topic_id: int) -> str:
    """One line of a topic's history, from its point of view."""
    kind, other = event.kind, event.other_id
    size = f"{event.size} item{'' if event.size == 1 else 's'}"
    if kind == "split":
        return f"#{other} split off it ({size})" if event.topic_id == topic_id else \
            f"split off #{event.topic_id} with {size}"
    if kind == "merge":
        return f"merged into #{other} ({size})" if event.topic_id == topic_id else \
            f"took in #{event.topic_id} ({size})"
    return f"forgotten after going quiet ({size})"


@dataclass(frozen=True)
class Found:
    """A search result: the item and its cosine similarity to the query."""

    item: ItemRef
    similarity: float


def search(store: Store, encode: Callable[[Sequence[str]], np.ndarray], text: str, limit: int = 5
           ) -> list[Found]:
    """The stored items nearest in meaning to ``text``, best first, with their cosine similarity."""
    if not text.strip():
        raise ServiceError("search needs some words to look for")
    ids, vectors = store.embeddings()
    if not ids:
        return []
    scores = vectors @ encode([text])[0]
    best = np.argsort(-scores)[:limit]
    return [Found(store.find_items(ids[i], 1)[0], float(scores[i])) for i in best]
