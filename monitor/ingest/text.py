"""Untrusted markup reduced to plain text."""

from __future__ import annotations

import re
import unicodedata
import warnings
from urllib.parse import quote

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

_SPACE = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\n{3,}")


def html_to_text(markup: str) -> str:
    """The visible text of an HTML fragment, scripts and styles dropped, white space folded."""
    if "<" not in markup and "&" not in markup:
        return clean(markup)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    for br in soup.find_all(["br", "p", "div", "li", "h1", "h2", "h3", "tr"]):
        br.insert_after("\n")
    return clean(soup.get_text(" "))


TRUNCATED = "\n[… {n} more characters not kept]"


def cut(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its first ``limit`` with a marker saying how much is gone."""
    return text if len(text) <= limit else text[:limit] + TRUNCATED.format(n=len(text) - limit)


def clean(text: str) -> str:
    """Fold runs of spaces, strip each line, keep at most one blank line in a row."""
    lines = (_SPACE.sub(" ", line).strip() for line in text.replace("\x00", "").splitlines())
    return _LINES.sub("\n\n", "\n".join(lines)).strip()


_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erasing (ESC [ or the C1 CSI)
    r"|(?:\x1b[]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC (titles, links), DCS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # any other escape sequence
)
# Control (C0, C1), format (bidi controls, zero-width characters, soft hyphen, BOM, tag characters), lone surrogates,
# and the line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN


def neutral(text: str) -> str:
    """Untrusted text made safe to show on one line in any rendering (terminal, Slack, HTML, a table): terminal
    escape sequences removed, every run of white space (line breaks included) made one space, and control,
    bidi-control, zero-width and other invisible format characters removed, so what is shown is what is there."""
    if not text.isprintable():
        text = _ESCAPES.sub("", text)
        text = "".join(" " if c.isspace() else "" if _hidden(c) else c for c in text)
    return " ".join(text.split())


def neutral_url(url: str) -> str:
    """A URL to show as text: like ``neutral``, but each hidden character is percent-encoded instead of removed,
    so the URL shown still leads where the real one does."""
    if url.isprintable() and " " not in url:
        return url
    return "".join(quote(c) if c.isspace() or _hidden(c) else c for c in url)
