"""What the alert rules would have said over a stored period, without sending anything (a dry run on history):
the stored items of the period replayed in event-time order through the configured rules and burst detection."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.config.schema import Settings
from monitor.enrich.alerts import Alert, AlertEngine, Evaluation, Rule
from monitor.enrich.build import BURST_HISTORY_BINS
from monitor.store.db import Store


@dataclass(frozen=True)
class Backtest:
    """The period replayed, how many items it held, and every alert the rules would have raised, in order."""

    start: float
    end: float
    items: int
    alerts: list[Alert]

    def per_rule_day(self) -> dict[str, dict[str, int]]:
        """Alerts per rule per day (UTC, ``YYYY-MM-DD``)."""
        out: dict[str, dict[str, int]] = {}
        for a in self.alerts:
            day = datetime.fromtimestamp(a.event_time, UTC).strftime("%Y-%m-%d")
            out.setdefault(a.rule, {})
            out[a.rule][day] = out[a.rule].get(day, 0) + 1
        return out


def backtest(store: Store, settings: Settings, start: float | None = None, end: float | None = None) -> Backtest:
    """Replay the enriched items that happened in ``[start, end)`` (default: all) through the configured rules.
    The burst rules are primed from the bins before ``start``, every item is judged as if it had come live (a
    backfill too), mutes apply as they stand, and cooldowns start afresh."""
    span = store.event_span()
    rules = [Rule.from_settings(a, settings.slack.channel) for a in settings.alerts]
    engine = AlertEngine(rules, muted=store.muted(), quiet_backfill=False)
    if span is None:
        return Backtest(start or 0.0, end or 0.0, 0, [])
    start = span[0] if start is None else start
    end = span[1] + 1 if end is None else end
    widest = max((r.bin_minutes * 60 for r in rules if r.bursty), default=0.0)
    if widest:
        since = start - BURST_HISTORY_BINS * widest
        engine.prime(store.topic_times(since, start), store.label_times(since, start), start)
    sizes = Counter(store.topic_counts(start))
    keywords = {t.id: list(t.keywords) for t in store.top_topics(1_000_000)}
    alerts, items = [], 0
    for item, topic_id, predictions in store.history(start, end):
        items += 1
        sizes[topic_id] += 1
        for alert in engine.evaluate(Evaluation(item, predictions, topic_id, sizes[topic_id]), item.event_time):
            alert.topic_keywords = keywords.get(topic_id, [])
            alerts.append(alert)
    return Backtest(start, end, items, alerts)
