"""Untrusted markup reduced to plain text."""

from __future__ import annotations

import re
import warnings

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
