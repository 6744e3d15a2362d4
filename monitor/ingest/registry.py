"""Every source kind Lookout knows, in the order the settings reference lists them; the settings loader, the checks
across settings, ``build_sources`` and the service's lists all derive from ``KINDS``.

A source module imports its network libraries (aiohttp, feedparser, aioimaplib) inside the methods that use them, so
reading the settings does not pay for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.ingest.sources import Source, SourceKind, bluesky, feed, imap, mastodon, reddit, replay

if TYPE_CHECKING:
    from monitor.config.schema import Settings

KINDS: list[SourceKind[Any]] = [feed.KIND, replay.KIND, imap.KIND, reddit.KIND, mastodon.KIND, bluesky.KIND]


def kind_of(section: str) -> SourceKind[Any] | None:
    """The registered kind whose rows sit under ``[[section]]``, or None."""
    return next((kind for kind in KINDS if kind.section == section), None)


def build_sources(settings: Settings) -> list[Source]:
    """Every configured source, kind by kind in ``KINDS`` order."""
    return [source for kind in KINDS for row in settings.sources.get(kind.section, ())
            for source in kind.build(row, settings.secrets)]
