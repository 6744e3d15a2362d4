"""Checks that span settings, run once every value has been read and checked on its own; each problem names its
row by its name (``alerts "security".pattern``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex
from apscheduler.triggers.cron import CronTrigger

from monitor.config.schema import LLM_FIELDS, Settings
from monitor.ingest.registry import KINDS


def check(settings: Settings) -> list[str]:
    """Every problem across settings: unique names, rules that point at real tasks and labels, valid patterns, names
    that Slack can carry."""
    return [*_check_sources(settings), *_check_tasks_and_schedules(settings), *_check_llm_and_topics(settings),
            *_check_alerts(settings), *_check_slack_names(settings),
            *_check_timezone(settings)]


def _where(section: str, index: int, name: str) -> str:
    return f'{section} "{name}"' if name.strip() else f"{section}[{index}]"


def _check_sources(settings: Settings) -> Iterator[str]:
    """Names unique within each list and across all source kinds, then each kind's own checks of its rows."""
    for section in (*(kind.section for kind in KINDS), "tasks", "alerts"):
        seen: set[str] = set()
        for i, row in enumerate(settings.rows(section)):
            if not row.name.strip():
                yield f"{section}[{i}].name: must not be empty"
            elif row.name in seen:
                yield f"{section}[{i}].name = {row.name!r}: used twice"
            seen.add(row.name)
    sources = [name for kind in KINDS for name in {row.name for row in settings.rows(kind.section)}]
    twice = sorted({name for name in sources if sources.count(name) > 1})
    if twice:
        yield f"sources: {', '.join(map(repr, twice))} used by two sources of different kinds"
    for kind in KINDS:
        for i, row in enumerate(settings.rows(kind.section)):
            yield from (f"{_where(kind.section, i, row.name)}.{problem}" for problem in kind.check(row))


def _check_tasks_and_schedules(settings: Settings) -> Iterator[str]:
    for i, task in enumerate(settings.tasks):
        names = [label.name for label in task.labels]
        where = _where("tasks", i, task.name)
        if len(names) < 2 or len(set(names)) != len(names):
            yield f"{where}.labels: expected two or more labels with distinct names"
        if task.metric not in ("macro_f1", "accuracy", "macro_recall") and task.metric.removeprefix("f1:") not in names:
            yield (f"{where}.metric = {task.metric!r}: expected macro_f1, accuracy, macro_recall or f1:<label> with "
                   f"one of {', '.join(names)}")
    for key, value in (("learning.cron", settings.learning.cron), ("learning.ask_cron", settings.learning.ask_cron),
                       ("digest.cron", settings.digest.cron)):
        if value:
            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                yield f"{key} = {value!r}: not a crontab schedule ({exc})"


def _check_llm_and_topics(settings: Settings) -> Iterator[str]:
    unknown = [f for f in settings.llm.fields if f not in LLM_FIELDS]
    if unknown or not settings.llm.fields:
        yield f"llm.fields = {list(settings.llm.fields)}: expected one or more of {', '.join(LLM_FIELDS)}"
    if settings.llm.base_url and not settings.llm.base_url.startswith(("http://", "https://")):
        yield f"llm.base_url = {settings.llm.base_url!r}: expected an http(s) URL"
    if settings.topics.merge_threshold < settings.topics.threshold:
        yield "topics.merge_threshold: expected at least topics.threshold"
    if settings.topics.split_threshold >= settings.topics.merge_threshold:
        yield ("topics.split_threshold: expected less than topics.merge_threshold (a topic that split would merge "
               "straight back)")


def _check_alerts(settings: Settings) -> Iterator[str]:
    tasks = {t.name: t for t in settings.tasks}
    for i, rule in enumerate(settings.alerts):
        where = _where("alerts", i, rule.name)
        if rule.kind in ("label", "label_rate"):
            if rule.task not in tasks:
                yield (f"{where}.task = {rule.task!r}: expected one of the configured tasks "
                       f"({', '.join(tasks) or 'none configured'})")
            elif rule.label not in {label.name for label in tasks[rule.task].labels}:
                yield f"{where}.label = {rule.label!r}: not a label of task {rule.task!r}"
        if rule.kind == "keyword":
            if not rule.pattern:
                yield f"{where}.pattern: missing; a keyword rule needs a regular expression"
                continue
            try:
                regex.compile(rule.pattern)
            except regex.error as exc:
                yield f"{where}.pattern = {rule.pattern!r}: not a valid regular expression ({exc})"


NAME_CHARS = 40
"""The longest task, label or rule name: Slack shows it in full on a button or menu option (75 characters) with room
to spare, and the values of the alert's buttons and question's answers carry it within Block Kit's limits."""
SLACK_NAME = re.compile(rf"^[^\s\x00-\x1f\x7f]{{1,{NAME_CHARS}}}$")


def _check_slack_names(settings: Settings) -> Iterator[str]:
    """Task, label and rule names must fit Slack's buttons and menus and be one word of ``/lookout label`` and
    ``/lookout mute``."""
    named = [(f"{_where('tasks', i, t.name)}.name", t.name) for i, t in enumerate(settings.tasks)]
    named += [(f"{_where('tasks', i, t.name)}.labels[{j}].name", x.name) for i, t in enumerate(settings.tasks)
              for j, x in enumerate(t.labels)]
    named += [(f"{_where('alerts', i, a.name)}.name", a.name) for i, a in enumerate(settings.alerts)]
    for where, name in named:
        if not SLACK_NAME.match(name):
            yield (f"{where} = {name!r}: expected one word (no spaces) of up to {NAME_CHARS} characters, so "
                   f"Slack's menus and `/lookout label` can carry it")


def _check_timezone(settings: Settings) -> Iterator[str]:
    try:
        ZoneInfo(settings.time.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        yield (f"time.timezone = {settings.time.timezone!r}: not an IANA time zone name such as `Europe/Berlin`, "
               "`Asia/Tokyo` or `UTC`")
