"""When things happen, in the team's time zone: the digest's schedule (set from Slack with ``/lookout digest schedule
daily 08:00``, ``weekly mon 08:00`` or ``off`` and kept in the store's ``meta`` table, else ``digest.cron``) and
the learning jobs' crontab schedules. Every schedule fires in ``time.timezone``, so a Tokyo team's 08:00 digest goes
out at 23:00 UTC."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.config.schema import Settings
from monitor.store.db import Store

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
KEY = "digest.schedule"
CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
EXPECTED = "expected `daily HH:MM`, `weekly <day> HH:MM` (day: mon to sun) or `off`"


class ScheduleError(ValueError):
    """A schedule that is not understood; the message says what was expected."""


@dataclass(frozen=True)
class DigestSchedule:
    """A digest schedule set from Slack: its crontab form (``""``: no digest) and the words it was set with."""

    cron: str
    text: str
    set_by: str = ""
    set_at: float = 0.0


def parse_schedule(words: Sequence[str], user: str = "", now: float | None = None) -> DigestSchedule:
    """``["daily", "08:00"]``, ``["weekly", "mon", "08:00"]`` or ``["off"]`` as a schedule; raises
    ``ScheduleError`` otherwise."""
    low = [w.lower() for w in words]
    at = time.time() if now is None else now
    if low == ["off"]:
        return DigestSchedule("", "off", user, at)
    if len(low) == 2 and low[0] == "daily" and CLOCK.match(low[1]):
        hour, minute = _clock(low[1])
        return DigestSchedule(f"{minute} {hour} * * *", f"daily {hour:02d}:{minute:02d}", user, at)
    if len(low) == 3 and low[0] == "weekly" and CLOCK.match(low[2]):
        day = _day(low[1])
        hour, minute = _clock(low[2])
        return DigestSchedule(f"{minute} {hour} * * {day}", f"weekly {day} {hour:02d}:{minute:02d}", user, at)
    raise ScheduleError(f"`{' '.join(words)}` is not a digest schedule: {EXPECTED}")


def _clock(text: str) -> tuple[int, int]:
    hour, minute = CLOCK.match(text).groups()  # type: ignore[union-attr]
    return int(hour), int(minute)


def _day(text: str) -> str:
    if text in DAYS:
        return text
    if text in DAY_NAMES:
        return DAYS[DAY_NAMES.index(text)]
    raise ScheduleError(f"`{text}` is not a day of the week: {EXPECTED}")


def zone(settings: Settings) -> ZoneInfo:
    """The team's time zone (``time.timezone``, checked when the settings were loaded)."""
    return ZoneInfo(settings.time.timezone)


def trigger(cron: str, settings: Settings) -> CronTrigger:
    """The APScheduler trigger of a crontab schedule, firing in the team's time zone."""
    return CronTrigger.from_crontab(cron, timezone=zone(settings))


def stored_schedule(store: Store) -> DigestSchedule | None:
    """The digest schedule set from Slack, or None when none was set."""
    rows = list(store.db.query("select value from meta where key = ?", [KEY]))
    return DigestSchedule(**json.loads(rows[0]["value"])) if rows else None


def store_schedule(store: Store, schedule: DigestSchedule) -> None:
    """Keep the digest schedule set from Slack (the daemon picks it up within seconds)."""
    with store.db.conn:
        store.db.execute("insert or replace into meta (key, value) values (?, ?)", [KEY, json.dumps(asdict(schedule))])


def digest_cron(settings: Settings, stored: DigestSchedule | None) -> str:
    """The digest's crontab schedule in force: the one set from Slack, else ``digest.cron`` (``""``: none)."""
    return stored.cron if stored is not None else settings.digest.cron


def next_digest(settings: Settings, stored: DigestSchedule | None, now: datetime) -> datetime | None:
    """When the next scheduled digest goes out after ``now`` (in the team's time zone), or None."""
    cron = digest_cron(settings, stored)
    return trigger(cron, settings).get_next_fire_time(None, now) if cron else None
