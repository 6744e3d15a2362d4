"""Channel subscriptions, for the command line and the Slack bot alike: a channel asks for a feed's items, a
keyword's matches, a topic's items or a label's items, and each subscription becomes an alert rule routed to that
channel (``subscription_rules``, followed by a running daemon within seconds).

A subscription adds to what the configured rules send, it takes nothing away: an alert rule still posts to its own
channel (``slack.channel`` by default), and a subscribed channel gets its matches as well, once per item however
many of its subscriptions match (``monitor.enrich.alerts``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import regex

from monitor import service
from monitor.config.schema import Settings
from monitor.enrich.alerts import Rule, compile_pattern
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.store.subscriptions import Subscription

KINDS = ("keyword", "topic", "label")
"""the kinds named by a word; a subscription to anything else is to a feed URL"""
FEED_URL = re.compile(r"^https?://[^\s/]+", re.I)


def parse_spec(words: Sequence[str]) -> tuple[str, str]:
    """``["https://x/feed"]`` -> ``("feed", url)``; ``["keyword", "R"]``, ``["topic", "12"]``,
    ``["label", "spam=spam"]`` -> that kind and its target."""
    if len(words) == 1 and words[0].lower() not in KINDS:
        return "feed", words[0]
    if len(words) == 2 and words[0].lower() in KINDS:
        return words[0].lower(), words[1]
    raise ServiceError("expected a feed URL, `keyword REGEX`, `topic N` or `label TASK=LABEL`")


def _checked_target(store: Store, settings: Settings, kind: str, target: str) -> str:
    """The target as stored, after the checks of its kind."""
    if kind == "feed":
        if not FEED_URL.match(target):
            raise ServiceError(f"`{target}` is not a feed URL: expected http:// or https://")
        return target
    if kind == "keyword":
        try:
            compile_pattern(target)
        except regex.error as exc:
            raise ServiceError(f"`{target}` is not a valid regular expression ({exc})") from None
        return target
    if kind == "topic":
        return str(service.topic(store, target).id)
    task, _, label = target.partition("=")
    labels = {t.name: [x.name for x in t.labels] for t in settings.tasks}
    if task not in labels:
        raise ServiceError(f"expected TASK=LABEL with one of the tasks: {', '.join(labels) or 'none configured'}")
    if label not in labels[task]:
        raise ServiceError(f"`{label}` is not a label of task `{task}`; labels are {', '.join(labels[task])}")
    return f"{task}={label}"


def _feed_source(store: Store, settings: Settings, url: str, user: str) -> tuple[str, bool]:
    """The name of the source that reads ``url`` (configured or watched), adding a watch when none does; and
    whether this call added it."""
    for feed in settings.feeds:
        if feed.url == url:
            return feed.name, False
    for watch in store.watches():
        if watch.kind == "feed" and watch.target == url:
            return watch.name, False
    return service.add_watch(store, settings, "feed", url, None, user), True


def subscribe(store: Store, settings: Settings, channel: str, kind: str, target: str, user: str) -> Subscription:
    """Route ``kind``/``target`` alerts to ``channel``; a feed that nothing reads yet is watched from now on."""
    if not channel:
        raise ServiceError("a subscription needs the channel it sends to")
    if kind not in ("feed", *KINDS):
        raise ServiceError(f"cannot subscribe to a `{kind}`: expected a feed URL, keyword, topic or label")
    target = _checked_target(store, settings, kind, target)
    for sub in store.subscriptions(channel):
        if (sub.kind, sub.target) == (kind, target):
            raise ServiceError(f"this channel already has that subscription (#{sub.id})")
    source, owns = _feed_source(store, settings, target, user) if kind == "feed" else ("", False)
    return store.add_subscription(channel, kind, target, source, owns, user)


def unsubscribe(store: Store, channel: str | None, ref: str) -> tuple[Subscription, bool]:
    """Remove subscription ``ref`` (``3`` or ``#3``) of ``channel`` (of any channel when None); returns it, and
    whether the feed it added stopped being watched (no other subscription reads it)."""
    number = ref.lstrip("#")
    found = store.subscription(int(number)) if number.isdigit() else None
    if found is None or (channel is not None and found.channel != channel):
        raise ServiceError(f"no subscription #{number} {'in this channel' if channel is not None else ''}".strip()
                           + "; `subscriptions` lists them")
    store.remove_subscription(found.id)
    shared = any(s.source == found.source for s in store.subscriptions()) if found.source else True
    stopped = found.owns_watch and not shared and store.remove_watch(found.source)
    return found, stopped


def subscription_rules(store: Store) -> list[Rule]:
    """One alert rule per subscription, firing on every matching item (no cooldown: the alerts about one topic
    follow in one thread); a topic subscription follows its topic through merges."""
    live = store.live_topic
    rules = []
    for sub in store.subscriptions():
        rule = Rule(name=f"subscription #{sub.id}", kind=sub.kind, channel=sub.channel, cooldown_seconds=0.0,
                    origin="subscription")
        if sub.kind == "feed":
            rules.append(replace(rule, source=sub.source))
        elif sub.kind == "keyword":
            rules.append(replace(rule, pattern=compile_pattern(sub.target)))
        elif sub.kind == "topic":
            rules.append(replace(rule, topic=live(int(sub.target))))
        else:
            task, _, label = sub.target.partition("=")
            rules.append(replace(rule, task=task, label=label, min_confidence=0.0))
    return rules
