"""Alert rules, evaluated purely: given what the pipeline learned about an item, which rules fire.

One story should not alert ten times: a rule that fired on a topic stays quiet on that topic for its cooldown (or,
with ``cooldown_scope = "rule"``, quiet altogether), and a ``topic_size`` rule fires once per topic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from models.classifier import Prediction
from monitor.config import AlertSettings
from monitor.item import Item

SNIPPET_CHARS = 300


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


@dataclass(frozen=True)
class Evaluation:
    """What the rules see about one enriched item."""

    item: Item
    predictions: Sequence[Prediction]
    topic_id: int
    topic_size: int


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
    pattern: re.Pattern[str] | None = None
    size: int = 5
    per_topic: bool = True

    @classmethod
    def from_settings(cls, s: AlertSettings, default_channel: str) -> Rule:
        return cls(name=s.name, kind=s.kind, channel=s.channel or default_channel,
                   cooldown_seconds=s.cooldown_minutes * 60, task=s.task, label=s.label,
                   min_confidence=s.min_confidence, pattern=re.compile(s.pattern) if s.pattern else None,
                   size=s.size, per_topic=s.cooldown_scope == "topic")

    def match(self, ev: Evaluation) -> str | None:
        """Why this rule fires on ``ev``, or None."""
        if self.kind == "label":
            for p in ev.predictions:
                if p.task == self.task and p.label == self.label and p.confidence >= self.min_confidence:
                    return f"{p.task} is {p.label} ({p.confidence:.0%} sure)"
        elif self.kind == "keyword" and self.pattern is not None:
            found = self.pattern.search(f"{ev.item.title}\n{ev.item.text}")
            if found:
                return f"matches {found.group(0)[:60]!r}"
        elif self.kind == "topic_size" and ev.topic_size >= self.size:
            return f"topic #{ev.topic_id} reached {ev.topic_size} items"
        return None


class AlertEngine:
    """Applies the rules with their cooldowns; remembers when each rule last fired on each topic."""

    def __init__(self, rules: Iterable[Rule], fired: dict[tuple[str, str], float] | None = None,
                 muted: set[int] | None = None) -> None:
        self.rules = list(rules)
        self.fired = dict(fired or {})
        self.muted = set(muted or ())

    def evaluate(self, ev: Evaluation, now: float) -> list[Alert]:
        """The alerts ``ev`` raises; none for an item of a muted topic."""
        alerts: list[Alert] = []
        if ev.topic_id in self.muted:
            return alerts
        for rule in self.rules:
            reason = rule.match(ev)
            if reason is None:
                continue
            key = f"topic:{ev.topic_id}" if rule.per_topic or rule.kind == "topic_size" else "rule"
            last = self.fired.get((rule.name, key))
            if last is not None and (rule.kind == "topic_size" or now - last < rule.cooldown_seconds):
                continue
            self.fired[(rule.name, key)] = now
            alerts.append(Alert(
                rule=rule.name, item_id=ev.item.id, topic_id=ev.topic_id, cooldown_key=key, channel=rule.channel,
                created_at=now, reason=reason, title=ev.item.title, url=ev.item.url, source=ev.item.source,
                snippet=ev.item.text[:SNIPPET_CHARS],
                labels=[[p.task, p.label, round(p.confidence, 3), p.unsure] for p in ev.predictions],
                topic_size=ev.topic_size))
        return alerts
