"""Where alerts go: the notifier interface, and the console notifier used when no Slack token is set."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from monitor.enrich.alerts import Alert
from monitor.ingest.text import neutral, neutral_url
from monitor.reports import digest as digests
from monitor.reports.digest import Digest
from monitor.store.learning_rows import UnsureItem


class DeliveryError(Exception):
    """An alert was not delivered. ``permanent=False`` means: keep it and try again later; ``unsure`` means the
    request was sent but not answered, so it may have been delivered and must not be sent again."""

    def __init__(self, message: str, permanent: bool = True, unsure: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unsure = unsure


@dataclass(frozen=True)
class Posted:
    """Where a message went: the channel's id and the message's ``ts`` (what a thread or a reaction refers to)."""

    channel: str
    ts: str


@dataclass(frozen=True)
class Question:
    """Active learning: items a model is least sure of, put to the team with one answer button per label."""

    task: str
    labels: list[str]
    items: list[UnsureItem]
    channel: str


class Notifier(Protocol):
    """Delivers alerts, notes about training runs and questions; raises ``DeliveryError`` when it cannot."""

    async def ready(self, channel: str) -> None:
        """Wait until ``channel`` may take a message at once (its pacing), so a send starts when it is called."""
        ...

    async def send(self, alert: Alert, thread: str = "") -> Posted | None:
        """Deliver ``alert`` (under the message ``thread`` when given); returns where it went, or None where
        messages have no id (the console)."""
        ...

    async def update_thread(self, root: Alert, latest: Alert, where: Posted, count: int) -> None:
        """Redraw the first alert of a thread (``where``) with ``latest``'s topic size and keywords and the
        ``count`` of alerts the thread holds."""
        ...

    async def note(self, text: str, channel: str, thread: str) -> str:
        """Post a line (in ``thread`` when given); returns the thread later lines go to."""
        ...

    async def ask(self, question: Question) -> None: ...

    async def digest(self, digest: Digest, channel: str) -> None: ...

    async def close(self) -> None: ...


def render_console(alert: Alert, color: bool = False) -> str:
    """A readable, multi-line rendering of an alert for the terminal."""
    bold, dim, yellow, reset = ("\033[1m", "\033[2m", "\033[33m", "\033[0m") if color else ("", "", "", "")
    labels = ", ".join(f"{neutral(str(task))}={neutral(str(label))} {conf:.0%}{'?' if unsure else ''}"
                       for task, label, conf, unsure in alert.labels)
    lines = [f"{yellow}▲ {neutral(alert.rule)}{reset}: {neutral(alert.reason)}",
             f"  {bold}{neutral(alert.title) or '(no title)'}{reset}"]
    meta = " · ".join(x for x in (f"item {alert.item_id}", neutral(alert.source), neutral_url(alert.url)) if x)
    lines.append(f"  {dim}{meta}{reset}")
    if labels:
        lines.append(f"  labels: {labels}")
    name = f" {neutral(alert.topic_name)}" if alert.topic_name else ""
    lines.append(f"  topic #{alert.topic_id}{name} ({alert.topic_size} item{'' if alert.topic_size == 1 else 's'}): "
                 f"{neutral(', '.join(alert.topic_keywords[:6]))}")
    lines += [f"  typical: {neutral(title) or '(no title)'}" for _, title, _ in alert.typical]
    snippet = neutral(alert.snippet)[:160]
    if snippet:
        lines.append(f"  {dim}{snippet}{reset}")
    return "\n".join(lines)


class ConsoleNotifier:
    """Prints alerts to the terminal (through ``write``, so a progress bar can stay intact)."""

    def __init__(self, write: Callable[[str], None] | None = None, color: str = "auto") -> None:
        self._write = write or (lambda text: print(text, flush=True))
        self._color = color == "always" or (color == "auto" and sys.stdout.isatty())

    async def ready(self, channel: str) -> None:
        return None

    async def send(self, alert: Alert, thread: str = "") -> Posted | None:
        self._write(render_console(alert, self._color))
        return None

    async def update_thread(self, root: Alert, latest: Alert, where: Posted, count: int) -> None:
        return None

    async def note(self, text: str, channel: str, thread: str) -> str:
        self._write(f"[learning] {neutral(text)}")
        return thread or "console"

    async def ask(self, question: Question) -> None:
        lines = [f"[learning] Which {neutral(question.task)} label is right? (answer with `lookout label ITEM LABEL`; "
                 f"labels: {neutral(', '.join(question.labels))})"]
        lines += [f"  {q.item_id[:10]}  model says {neutral(q.label)} (margin {q.margin:.2f}): "
                  f"{neutral(q.title or q.text)[:80]}" for q in question.items]
        self._write("\n".join(lines))

    async def digest(self, digest: Digest, channel: str) -> None:
        files = [str(p) for p in (digest.chart, digest.report) if p]
        self._write(digests.text(digest) + (f"\n\nreport: {', '.join(files)}" if files else ""))

    async def close(self) -> None:
        return None
