"""Source kinds: the sources the settings describe, one factory line per kind."""

from __future__ import annotations

from monitor.config.schema import Settings
from monitor.ingest.sources import PolledSource, StreamSource
from monitor.ingest.sources.bluesky import BlueskySource
from monitor.ingest.sources.feed import FeedSource
from monitor.ingest.sources.imap import ImapSource
from monitor.ingest.sources.mastodon import MastodonSource
from monitor.ingest.sources.reddit import RedditSource
from monitor.ingest.sources.replay import ReplaySource


def build_sources(settings: Settings) -> list[PolledSource | StreamSource]:
    sources: list[PolledSource | StreamSource] = [
        FeedSource(f.name, f.url, interval=f.interval_seconds, timeout=f.timeout_seconds,
                   max_backoff=f.max_backoff_seconds, max_bytes=f.max_bytes) for f in settings.feeds]
    sources += [ReplaySource(r.name, r.path, rate=r.rate, limit=r.limit, speed=r.speed, file_format=r.format,
                             time_column=r.time_column, text_column=r.text_column, title_column=r.title_column,
                             id_column=r.id_column) for r in settings.replays]
    sources += [ImapSource(m.name if len(m.folders) == 1 else f"{m.name}/{folder}", m.host, m.port, m.user,
                           settings.secrets[m.password_env], folder=folder, security=m.security, idle=m.idle,
                           poll_seconds=m.poll_seconds, reidle_seconds=m.reidle_minutes * 60,
                           timeout=m.timeout_seconds, max_chars=m.max_chars, max_backoff=m.max_backoff_seconds,
                           ca_file=m.ca_file) for m in settings.imap for folder in m.folders]
    sources += [RedditSource(r.name, r.subreddit, listing=r.listing, base_url=r.base_url,
                             interval=r.interval_seconds, timeout=r.timeout_seconds,
                             max_backoff=r.max_backoff_seconds, max_pages=r.max_pages) for r in settings.reddit]
    sources += [MastodonSource(m.name, m.base_url, timeline=m.timeline, tag=m.tag, list_id=m.list_id,
                               account_id=m.account_id, token=settings.secrets.get(m.token_env, ""),
                               timeout=m.timeout_seconds, max_backoff=m.max_backoff_seconds,
                               poll_seconds=m.poll_seconds) for m in settings.mastodon]
    sources += [BlueskySource(b.name, b.url, keywords=b.keywords, authors=b.authors, languages=b.languages,
                              timeout=b.timeout_seconds, max_backoff=b.max_backoff_seconds) for b in settings.bluesky]
    return sources
