"""What an alert carries for the people who read it, added after the rules fired: its topic's short name (from the
keywords it carries that are common enough in the topic, ``models.keywords.short_name``) and, for a topic alert, the
topic's most typical items with their titles and links."""

from __future__ import annotations

from collections.abc import Sequence

from models.keywords import short_name
from models.topics import OnlineTopicModel
from monitor.enrich.alerts import Alert

TOPIC_KINDS = ("topic_size", "topic_burst")
TYPICAL_ITEMS = 3


def name_topics(alerts: Sequence[Alert], topics: OnlineTopicModel) -> list[str]:
    """Give each alert its topic's short name (from the keywords it carries, those in enough of the topic's items
    first) and each topic alert the ids of its topic's ``TYPICAL_ITEMS`` most typical items (its own item when the
    topic is gone); returns those ids, whose titles and links ``link_typical`` adds."""
    wanted: list[str] = []
    for alert in alerts:
        topic = topics.get(alert.topic_id)
        alert.topic_name = short_name(alert.topic_keywords, counts=topic.terms if topic else None,
                                      items=topic.size if topic else 0)
        if alert.kind in TOPIC_KINDS:
            ids = [r[1] for r in topic.representatives[:TYPICAL_ITEMS]] if topic else [alert.item_id]
            alert.typical = [[i, "", ""] for i in ids]
            wanted += ids
    return sorted(set(wanted))


def link_typical(alerts: Sequence[Alert], links: dict[str, tuple[str, str]]) -> None:
    """Fill in the typical items' titles and URLs (item id -> (title, URL), as ``Store.links`` reads them)."""
    for alert in alerts:
        alert.typical = [[i, *links[i]] for i, *_ in alert.typical if i in links]
