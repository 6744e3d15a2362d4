"""Feeds imported from an OPML file (what feed readers export): every outline with an ``xmlUrl``, at any depth of
folders, becomes a watched feed named after its title; duplicates and bad entries are reported, not fatal.

The file is parsed with the standard library's expat parser, with no DTD allowed: an OPML file has no use for one,
and refusing it (as defusedxml does) rules out entity expansion ("billion laughs") and external entities, so a
hostile file is refused at once instead of hanging the import."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from monitor import service
from monitor.config.schema import Settings
from monitor.service import ServiceError
from monitor.store.db import Store

MAX_BYTES = 10_000_000


@dataclass(frozen=True)
class Outline:
    title: str
    url: str
    line: int


@dataclass
class ImportReport:
    """What an import did: feeds added (name, URL), URLs already watched, and entries skipped with the reason."""

    added: list[tuple[str, str]] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)


class _NoDTD(Exception):
    pass


def read_outlines(data: bytes) -> list[Outline]:
    """Every ``<outline>`` that names a feed (``xmlUrl``, or ``type="rss"`` without one: a bad entry), nested or
    not, in document order; raises
    ``ServiceError`` for a document that is not XML or carries a DTD."""
    found: list[Outline] = []
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: object) -> None:
        raise _NoDTD

    def start(name: str, attrs: dict[str, str]) -> None:
        feedish = attrs.get("type", "").lower() in ("rss", "atom")
        if name.lower() == "outline" and ("xmlUrl" in attrs or feedish):
            title = (attrs.get("title") or attrs.get("text") or "").strip()
            found.append(Outline(title, attrs.get("xmlUrl", "").strip(), parser.CurrentLineNumber))

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except _NoDTD:
        raise ServiceError("the OPML file declares a DTD, which an OPML file has no use for; it is refused") from None
    except expat.ExpatError as exc:
        raise ServiceError(f"the OPML file is not well-formed XML ({exc})") from None
    return found


def _name(title: str, url: str, taken: set[str]) -> str:
    """A watch name made from the title (else the URL), unique among ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "-", (title or url.split("://")[-1]).lower()).strip("-")[:40] or "feed"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def import_opml(store: Store, settings: Settings, path: str | Path, user: str) -> ImportReport:
    """Watch every feed of the OPML file at ``path`` not watched yet."""
    file = Path(path)
    if file.stat().st_size > MAX_BYTES:
        raise ServiceError(f"{file} is larger than {MAX_BYTES} bytes; an OPML file of feeds is far smaller")
    report = ImportReport()
    watched = {f.url for f in settings.feeds} | {w.target for w in store.watches() if w.kind == "feed"}
    taken = service.configured_names(settings) | {w.name for w in store.watches()}
    for outline in read_outlines(file.read_bytes()):
        if not outline.url:
            report.bad.append(f"line {outline.line}: `{outline.title}` names no feed (no xmlUrl)")
            continue
        if outline.url in watched:
            report.known.append(outline.url)
            continue
        name = _name(outline.title, outline.url, taken)
        try:
            service.add_watch(store, settings, "feed", outline.url, name, user)
        except ServiceError as exc:
            report.bad.append(f"line {outline.line}: {exc}")
            continue
        watched.add(outline.url)
        taken.add(name)
        report.added.append((name, outline.url))
    return report
