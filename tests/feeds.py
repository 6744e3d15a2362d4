"""Real-size feed documents for tests and benchmarks, built from the committed SpamAssassin sample (real text)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

SAMPLE = Path(__file__).resolve().parent.parent / "monitor" / "demo" / "spamassassin_sample.jsonl"
CATEGORIES = ("announce", "discussion", "offers", "security", "releases", "meta")


def _paragraphs(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text`` as HTML paragraphs with line breaks, a link and emphasis."""
    blocks = [b.strip() for b in text[:limit].split("\n\n") if b.strip()]
    html = "".join(f"<p>{escape(b).replace(chr(10), '<br/>')}</p>" for b in blocks)
    return f'{html}<p><em>Read more</em> at <a href="https://lists.example.org/">the archive</a>.</p>'


def feed_guid(n: int) -> str:
    """The guid ``make_feed`` gives its ``n``-th entry (``n`` counts from ``start``)."""
    return f"urn:lookout-test:entry:{n}"


def make_feed(n_entries: int, *, start: int = 0, text_chars: int = 600, encoding: str = "utf-8",
              newest: datetime = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) -> bytes:
    """An RSS 2.0 document of ``n_entries`` items, newest first, numbered from ``start``: titles, HTML
    descriptions (about ``text_chars`` characters of the sample's text each), unique guids, authors, categories,
    one item every 7 minutes back from ``newest``. The rows of the sample repeat; guids and titles do not."""
    rows = [json.loads(line) for line in SAMPLE.open(encoding="utf-8")]
    items = []
    for n in range(start, start + n_entries):
        row = rows[n % len(rows)]
        when = newest - timedelta(minutes=7 * (n - start))
        items.append(
            f"<item><title>{escape(row['title'] or 'Untitled')} (#{n})</title>"
            f"<link>https://lists.example.org/archive/{n}</link>"
            f'<guid isPermaLink="false">{feed_guid(n)}</guid>'
            f"<author>member{n % 97}@lists.example.org (List member {n % 97})</author>"
            f"<category>{CATEGORIES[n % len(CATEGORIES)]}</category>"
            f"<description>{escape(_paragraphs(row['text'], text_chars))}</description>"
            f"<pubDate>{format_datetime(when)}</pubDate></item>\n")
    doc = (f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
           "<title>Example list archive</title><link>https://lists.example.org/</link>"
           f"<description>Every message of the example list</description><lastBuildDate>{format_datetime(newest)}"
           f"</lastBuildDate>\n{''.join(items)}</channel></rss>\n")
    return doc.encode(encoding, errors="xmlcharrefreplace")
