"""Alert rules, evaluated purely: given what the pipeline learned about an item, which rules fire.

Kinds: ``label`` (a confident label), ``keyword`` (a regex), ``topic_size`` (a topic reaches N items), and two
burst kinds that compare the current time bin with its own baseline (``bursts``): ``topic_burst`` (a topic
gets ``factor`` times its usual items; a new topic that gathers ``min_count`` at once is an emerging one) and
``label_rate`` (items labelled X arrive ``factor`` times faster than usual).

One story should not alert ten times: a rule that fired on a topic stays quiet on that topic for its cooldown (or,
with ``cooldown_scope = "rule"``, quiet altogether; a ``label_rate`` rule is always rule-scoped), and a
``topic_size`` rule fires once per topic.

Keyword patterns (``[[alerts]] pattern`` and watches added at run time) are written by users, so one of them must
not be able to stall the daemon: they are compiled with the ``regex`` package rather than ``re`` or google-re2.
``regex`` takes Python's syntax (so every pattern ``re`` took, lookarounds and backreferences included, still
works, where RE2 would refuse them), releases the GIL while it matches, avoids much of the catastrophic
backtracking ``re`` falls into (``(x+x+)+y``), and takes a ``timeout`` for the patterns that still blow up
(``(x|xx)+y``). A pattern sees the first ``PATTERN_CHARS`` characters of an item's title and text and gets
``PATTERN_TIMEOUT_SECONDS`` per item; one that runs out of time is skipped for that item, and a warning naming the
rule or watch and its pattern is logged the first time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import regex

from models.classifier import Prediction
from monitor.config.schema import PATTERN_CHARS, PATTERN_TIMEOUT_SECONDS, AlertSettings
from monitor.enrich.bursts import Burst, BurstTracker
from monitor.ingest.item import Item

log = logging.getLogger(__name__)
SNIPPET_CHARS = 300


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """A user's keyword pattern, compiled as it will be matched; raises ``regex.error`` when it is not valid."""
    return regex.compile(pattern)


@dataclass
class Alert:
    """One fired rule on one item, with everything a notifier needs to render it (stored as JSON)."""

    rule: str
    item_id: str
    topic_id: int
    cooldown_key: str
    channel: str
    created_at: float
    reason: str
    title: str
    url: str
    source: str
    snippet: str
    labels: list[list[object]] = field(default_factory=list)
    topic_keywords: list[str] = field(default_factory=list)
    topic_size: int = 0
    event_time: float = 0.0


@dataclass(frozen=True)
class Evaluation:
    """What the rules see about one enriched item; ``lag`` is how long after it happened it was fetched."""

    item: Item
    predictions: Sequence[Prediction]
    topic_id: int
    topic_size: int
    lag: float = 0.0


@dataclass(frozen=True)
class Rule:
    """A configured alert rule."""

    name: str
    kind: str
    channel: str
    cooldown_seconds: float
    task: str = ""
    label: str = ""
    min_confidence: float = 0.8
    pattern: regex.Pattern[str] | None = None
    size: int = 5
    per_topic: bool = True
    factor: float = 5.0
    min_count: int = 5
    bin_minutes: float = 60.0
    warmup_bins: int = 6
    origin: str = "alert rule"

    @classmethod
    def from_settings(cls, s: AlertSettings, default_channel: str) -> Rule:
        return cls(name=s.name, kind=s.kind, channel=s.channel or default_channel,
                   cooldown_seconds=s.cooldown_minutes * 60, task=s.task, label=s.label,
                   min_confidence=s.min_confidence, pattern=compile_pattern(s.pattern) if s.pattern else None,
                   size=s.size, per_topic=s.cooldown_scope == "topic", factor=s.factor,
                   min_count=s.min_count, bin_minutes=s.bin_minutes, warmup_bins=s.warmup_bins)

    def cooldown_key(self, ev: Evaluation) -> str:
        """What the cooldown counts per: the item's topic, or the whole rule. ``topic_size`` fires once per topic
        whatever the scope; ``label_rate`` is about a label across topics, so it is always rule-wide."""
        if self.kind == "topic_size" or (self.per_topic and self.kind != "label_rate"):
            return f"topic:{ev.topic_id}"
        return "rule"

    @property
    def bursty(self) -> bool:
        return self.kind in ("topic_burst", "label_rate")

    def burst_key(self, ev: Evaluation) -> str | None:
        """The key this item counts towards for a burst rule, or None."""
        if self.kind == "topic_burst":
            return f"topic:{ev.topic_id}"
        if self.kind == "label_rate" and any(p.task == self.task and p.label == self.label for p in ev.predictions):
            return f"label:{self.task}:{self.label}"
        return None

    def explain_burst(self, ev: Evaluation, burst: Burst) -> str:
        window = f"{self.bin_minutes:g} min"
        if self.kind == "label_rate":
            return (f"{self.task} = {self.label}: {burst.count} items in this {window} window, "
                    f"{_times(burst)} the usual {burst.baseline:.1f}")
        if burst.baseline < 0.5:
            return f"emerging topic #{ev.topic_id}: {burst.count} items in this {window} window, from next to none"
        return (f"topic #{ev.topic_id} is surging: {burst.count} items in this {window} window, {_times(burst)} "
                f"its usual {burst.baseline:.1f}")

    def match(self, ev: Evaluation) -> str | None:
        """Why this (non-burst) rule fires on ``ev``, or None; raises ``TimeoutError`` when a keyword pattern takes
        longer than ``PATTERN_TIMEOUT_SECONDS`` on the item."""
        if self.kind == "label":
            for p in ev.predictions:
                if p.task == self.task and p.label == self.label and p.confidence >= self.min_confidence:
                    return f"{p.task} is {p.label} ({p.confidence:.0%} sure)"
        elif self.kind == "keyword" and self.pattern is not None:
            found = self.pattern.search(f"{ev.item.title}\n{ev.item.text}"[:PATTERN_CHARS],
                                        timeout=PATTERN_TIMEOUT_SECONDS)
            if found:
                return f"matches {found.group(0)[:60]!r}"
        elif self.kind == "topic_size" and ev.topic_size >= self.size:
            return f"topic #{ev.topic_id} reached {ev.topic_size} items"
        return None


def _times(burst: Burst) -> str:
    return f"{burst.ratio:.1f}×"


class AlertEngine:
    """Applies the rules with their cooldowns; remembers when (in event time) each rule last fired on each topic,
    and counts the items of burst rules in bins of event time. With ``quiet_backfill`` (the daemon's way) a backfill
    raises no burst; a backtest judges every item as if it had come live. ``clock`` stamps ``Alert.created_at``."""

    def __init__(self, rules: Iterable[Rule], fired: dict[tuple[str, str], float] | None = None,
                 muted: set[int] | None = None, clock: Callable[[], float] = time.time,
                 quiet_backfill: bool = True) -> None:
        self.rules = list(rules)
        self.clock = clock
        self.quiet_backfill = quiet_backfill
        self.fired = dict(fired or {})
        self.muted = set(muted or ())
        self.too_slow: set[tuple[str, str]] = set()
        self.trackers: dict[str, BurstTracker] = {}
        self.prime({}, {}, 0.0)

    def prime(self, topic_times: dict[int, list[float]], label_times: dict[tuple[str, str], list[float]],
              now: float) -> None:
        """Reset the burst rules' counts and replay past event times (topic -> times, (task, label) -> times) in
        event-time order, up to ``now``."""
        self.trackers = {r.name: BurstTracker(r.bin_minutes * 60, warmup=r.warmup_bins) for r in self.rules
                         if r.bursty}
        for rule in self.rules:
            if rule.kind == "topic_burst":
                past = [(ts, f"topic:{tid}") for tid, times in topic_times.items() for ts in times]
            elif rule.kind == "label_rate":
                past = [(ts, f"label:{rule.task}:{rule.label}") for ts in label_times.get((rule.task, rule.label), [])]
            else:
                continue
            for ts, key in sorted(past):
                self.trackers[rule.name].observe(key, ts)
        for tracker in self.trackers.values():
            tracker.forget_quiet(now)

    def backfill(self, ev: Evaluation, tracker: BurstTracker) -> bool:
        """Whether ``ev``'s item came as a backfill (fetched more than the allowed lateness after it happened: a
        feed's first poll of old entries, an imported mailbox): it counts, but raises no burst now."""
        return self.quiet_backfill and ev.lag > tracker.lateness

    def evaluate(self, ev: Evaluation, now: float) -> list[Alert]:
        """The alerts ``ev`` raises at ``now``, its event time (bins and cooldowns run on event time; an alert's
        ``created_at`` is the wall clock); none for an item of a muted topic (its item still counts towards rates)."""
        reasons: dict[str, str] = {}
        for rule in self.rules:
            key = rule.burst_key(ev) if rule.bursty else None
            if key is not None:
                tracker = self.trackers[rule.name]
                burst = tracker.observe(key, now)
                if burst is not None and tracker.bursting(burst, now, rule.factor, rule.min_count) \
                        and not self.backfill(ev, tracker):
                    reasons[rule.name] = rule.explain_burst(ev, burst)
        alerts: list[Alert] = []
        if ev.topic_id in self.muted:
            return alerts
        for rule in self.rules:
            try:
                reason = reasons.get(rule.name) if rule.bursty else rule.match(ev)
            except TimeoutError:
                self._too_slow(rule, ev)
                continue
            if reason is None:
                continue
            key = rule.cooldown_key(ev)
            last = self.fired.get((rule.name, key))
            if last is not None and (rule.kind == "topic_size" or abs(now - last) < rule.cooldown_seconds):
                continue
            self.fired[(rule.name, key)] = now
            alerts.append(Alert(
                rule=rule.name, item_id=ev.item.id, topic_id=ev.topic_id, cooldown_key=key, channel=rule.channel,
                created_at=self.clock(), event_time=now, reason=reason, title=ev.item.title, url=ev.item.url,
                source=ev.item.source,                snippet=ev.item.text[:SNIPPET_CHARS],
                labels=[[p.task, p.label, round(p.confidence, 3), p.unsure] for p in ev.predictions],
                topic_size=ev.topic_size))
        return alerts

    def _too_slow(self, rule: Rule, ev: Evaluation) -> None:
        """Warn, once per rule and pattern, that a keyword pattern ran out of time (it is skipped for the item)."""
        pattern = rule.pattern.pattern if rule.pattern is not None else ""
        if (rule.name, pattern) in self.too_slow:
            return
        self.too_slow.add((rule.name, pattern))
        log.warning("%s %s: pattern %r took over %gs on item %s and is skipped for it (and for any other item it "
                    "is this slow on, without another warning); a simpler pattern avoids this", rule.origin,
                    rule.name, pattern, PATTERN_TIMEOUT_SECONDS, ev.item.id)
