"""Checks that span settings, run once every value has been read and checked on its own."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex
from apscheduler.triggers.cron import CronTrigger

from monitor.config.schema import LLM_FIELDS, ConfigError, Settings


def validate(settings: Settings) -> None:
    """Checks that span settings: unique names, rules that point at real tasks and labels, valid patterns."""
    _check_sources(settings)
    _check_tasks_and_schedules(settings)
    _check_llm_and_topics(settings)
    _check_alerts(settings)
    _check_timezone(settings)


def _check_sources(settings: Settings) -> None:
    for section in ("feeds", "replays", "imap", "reddit", "mastodon", "bluesky", "tasks", "alerts"):
        seen: set[str] = set()
        for i, row in enumerate(getattr(settings, section)):
            if not row.name.strip():
                raise ConfigError(f"{section}[{i}].name: must not be empty")
            if row.name in seen:
                raise ConfigError(f"{section}[{i}].name = {row.name!r}: used twice")
            seen.add(row.name)
    sources = [s.name for s in (*settings.feeds, *settings.replays, *settings.imap, *settings.reddit,
                                *settings.mastodon, *settings.bluesky)]
    if len(set(sources)) != len(sources):
        raise ConfigError("sources: a source name is used twice")
    for i, m in enumerate(settings.mastodon):
        if m.timeline == "hashtag" and not m.tag:
            raise ConfigError(f"mastodon[{i}].tag: missing; timeline = \"hashtag\" needs a tag")
        if m.timeline == "list" and not m.list_id:
            raise ConfigError(f"mastodon[{i}].list_id: missing; timeline = \"list\" needs a list id")
        if m.timeline == "account" and not m.account_id:
            raise ConfigError(f"mastodon[{i}].account_id: missing; timeline = \"account\" needs an account id")
    for i, box in enumerate(settings.imap):
        if not box.folders:
            raise ConfigError(f"imap[{i}].folders: expected at least one folder")
    for i, feed in enumerate(settings.feeds):
        if not re.match(r"^https?://", feed.url):
            raise ConfigError(f"feeds[{i}].url = {feed.url!r}: expected an http:// or https:// URL")


def _check_tasks_and_schedules(settings: Settings) -> None:
    for i, task in enumerate(settings.tasks):
        names = [label.name for label in task.labels]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ConfigError(f"tasks[{i}].labels: expected two or more labels with distinct names")
    for i, task in enumerate(settings.tasks):
        names = [label.name for label in task.labels]
        if task.metric not in ("macro_f1", "accuracy", "macro_recall") and task.metric.removeprefix("f1:") not in names:
            raise ConfigError(f"tasks[{i}].metric = {task.metric!r}: expected macro_f1, accuracy, macro_recall or "
                              f"f1:<label> with one of {', '.join(names)}")
    for key, value in (("learning.cron", settings.learning.cron), ("learning.ask_cron", settings.learning.ask_cron),
                       ("digest.cron", settings.digest.cron)):
        if value:
            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ConfigError(f"{key} = {value!r}: not a crontab schedule ({exc})") from None


def _check_llm_and_topics(settings: Settings) -> None:
    unknown = [f for f in settings.llm.fields if f not in LLM_FIELDS]
    if unknown or not settings.llm.fields:
        raise ConfigError(f"llm.fields = {list(settings.llm.fields)}: expected one or more of {', '.join(LLM_FIELDS)}")
    if settings.llm.base_url and not settings.llm.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"llm.base_url = {settings.llm.base_url!r}: expected an http(s) URL")
    if settings.topics.merge_threshold < settings.topics.threshold:
        raise ConfigError("topics.merge_threshold: expected at least topics.threshold")
    if settings.topics.split_threshold >= settings.topics.merge_threshold:
        raise ConfigError("topics.split_threshold: expected less than topics.merge_threshold (a topic that split "
                          "would merge straight back)")


def _check_alerts(settings: Settings) -> None:
    tasks = {t.name: t for t in settings.tasks}
    for i, rule in enumerate(settings.alerts):
        where = f"alerts[{i}]"
        if rule.kind in ("label", "label_rate"):
            if rule.task not in tasks:
                raise ConfigError(f"{where}.task = {rule.task!r}: expected one of the configured tasks "
                                  f"({', '.join(tasks) or 'none configured'})")
            if rule.label not in {label.name for label in tasks[rule.task].labels}:
                raise ConfigError(f"{where}.label = {rule.label!r}: not a label of task {rule.task!r}")
        if rule.kind == "keyword":
            if not rule.pattern:
                raise ConfigError(f"{where}.pattern: missing; a keyword rule needs a regular expression")
            try:
                regex.compile(rule.pattern)
            except regex.error as exc:
                raise ConfigError(f"{where}.pattern = {rule.pattern!r}: not a valid regular expression "
                                  f"({exc})") from None


def _check_timezone(settings: Settings) -> None:
    try:
        ZoneInfo(settings.time.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"time.timezone = {settings.time.timezone!r}: not an IANA time zone name such as "
                          "`Europe/Berlin`, `Asia/Tokyo` or `UTC`") from None
