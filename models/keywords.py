"""Words of a text and class-based TF-IDF (c-TF-IDF) keywords for topics."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping
from functools import cache
from itertools import filterfalse
from operator import itemgetter

BOILERPLATE = frozenset({
    "http", "https", "www", "com", "org", "net", "html", "href", "quot", "amp", "nbsp", "reuters", "afp",
    "said", "says", "new", "just", "like", "get", "got", "one", "two", "also", "would", "could", "use",
    "subject", "wrote", "re", "fwd", "list", "mailing", "mailto", "url", "click", "gt", "lt",
    "don", "doesn", "didn", "isn", "won", "wouldn", "haven", "aren", "wasn", "couldn", "shouldn", "hasn", "hadn",
    "weren", "let", "dont", "doesnt", "didnt", "isnt", "cant", "wont", "wouldnt", "couldnt", "shouldnt", "ive",
    "youre", "thats", "theres", "theyre",
    "aspx", "fullquote", "quickinfo", "php", "htm", "cgi", "nntp",
})
_LETTERS = string.ascii_lowercase
_SHORT = frozenset(_LETTERS) | {a + b for a in _LETTERS for b in _LETTERS}
_SPACES = bytes(c if chr(c) in _LETTERS else 32 for c in range(256))
_WEBLIKE = re.compile(r"[/@]|\.(?:com|net|org|edu|gov|mil|int|info|biz|io|co|ly|me|tv|uk|us|ca|au|nz|de|fr|nl|"
                      r"se|fi|no|ch|it|es|jp|ru|in|html?|aspx?|php|jsp|cgi)\b")
_TOKEN = re.compile(r"\S+")
_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)*\.[a-z]{2,6}")
_EDGES = string.punctuation


@cache
def _skip() -> frozenset[str]:
    """Stop words (scikit-learn's English list and ``BOILERPLATE``) and runs of one or two letters, loaded on first
    use so that importing this module (the store does) leaves scikit-learn unimported."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | BOILERPLATE | _SHORT


def _web_token(token: str) -> bool:
    """Whether a whitespace-delimited token is a URL, a path, an e-mail address, a mention or a host name
    (``http://x.org/a``, ``t.co/F2LFULCbQ7``, ``target=/stocks/quickinfo``, ``jm@netnoteinc.com``, ``@user``,
    ``lists.sourceforge.net``), not ``and/or`` or ``e.g.``."""
    if "@" in token or "://" in token or token.startswith("www."):
        return True
    if "/" in token:
        return token.count("/") > 1 or any(c in token for c in ".=?&")
    return _HOST.fullmatch(token.strip(_EDGES)) is not None


def strip_web(text: str) -> str:
    """``text`` without its URL, path, e-mail, mention and host tokens (see ``_web_token``). Only the tokens around
    a ``/``, an ``@`` or a common top-level domain or page suffix (``.com``, ``.uk``, ``.aspx``) are looked at,
    found by one regular-expression scan (so ``soc.religion.islam`` keeps its words); a substitution over every
    token cost about as much as the rest of ``words``."""
    kept, last, end = [], 0, 0
    for found in _WEBLIKE.finditer(text):
        at = found.start()
        if at < end:
            continue
        start = max(text.rfind(" ", 0, at), text.rfind("\n", 0, at), text.rfind("\t", 0, at)) + 1
        token = _TOKEN.match(text, start)
        end = token.end() if token else at + 1
        if token and _web_token(token.group()):
            kept.append(text[last:start])
            last = end
    if not last:
        return text
    kept.append(text[last:])
    return " ".join(kept)


def words(text: str) -> list[str]:
    """Case-folded runs of letters of ``text`` of at least three letters, without stop words and boilerplate.

    URLs, paths, e-mail addresses, mentions and host names go first, whole (``strip_web``), so their pieces
    (``lfulcbq`` of ``t.co/F2LFULCbQ7``) never become words. Accents are dropped (``naïve`` is ``naive``,
    ``Straße`` is ``strasse``), and anything but a letter splits words (``don't`` is ``don`` and ``t``, ``mp3`` is
    ``mp``). Built from C-level string methods rather than one regular expression: the topic model counts the
    words of every item.
    """
    text = strip_web(text)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
    letters = text.casefold().encode("ascii", "ignore").translate(_SPACES).decode("ascii")
    return list(filterfalse(_skip().__contains__, letters.split()))


def ctfidf_weights(topic_terms: Mapping[str, int], all_terms: Mapping[str, int], average: float,
                   top: int) -> list[tuple[str, float]]:
    """The ``top`` terms of one topic with their c-TF-IDF weights ``tf(t, c) * log(1 + A / f(t))``, highest first.

    ``A`` (``average``) is the average number of words per topic and ``f(t)`` the frequency of ``t`` over all
    topics (``all_terms``), as in BERTopic; a term frequent everywhere scores low in every topic.
    """
    total = sum(topic_terms.values())
    if not total:
        return []
    scored = ((t, count / total * math.log(1 + average / max(all_terms.get(t, count), 1)))
              for t, count in topic_terms.items())
    return sorted(scored, key=lambda s: (-s[1], s[0]))[:top]


def ctfidf(topic_terms: Mapping[str, int], all_terms: Mapping[str, int], average: float, top: int) -> list[str]:
    """The ``top`` terms of one topic by c-TF-IDF (see ``ctfidf_weights``)."""
    return [t for t, _ in ctfidf_weights(topic_terms, all_terms, average, top)]


def topic_weights(terms: Mapping[int, Mapping[str, int]], topic_id: int, top: int) -> list[tuple[str, float]]:
    """Topic ``topic_id``'s ``top`` terms and c-TF-IDF weights against every topic in ``terms`` (topic id -> term
    counts), computed as ``OnlineTopicModel.keywords`` does from the counts a store keeps."""
    all_terms: Counter[str] = Counter()
    for counts in terms.values():
        all_terms.update(counts)
    return ctfidf_weights(terms.get(topic_id, {}), all_terms, all_terms.total() / max(len(terms), 1), top)


def prune(terms: Counter[str], keep: int) -> Counter[str]:
    """The ``keep`` most frequent terms of ``terms`` (ties keep the earlier counted, as the order is kept)."""
    return Counter(dict(sorted(terms.items(), key=itemgetter(1), reverse=True)[:keep]))


def singular(word: str) -> str:
    """An English plural's singular by its spelling (``bags`` -> ``bag``, ``stories`` -> ``story``, ``boxes`` ->
    ``box``); words that only look plural stay (``news``, ``bus``, ``crisis``, ``glass``)."""
    if len(word) < 4 or word.endswith(("ss", "us", "is", "news")) or not word.endswith("s"):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    return word[:-1]


NAME_SHARE = 0.1


def _variant(word: str, picked: str) -> bool:
    """Whether ``word`` is a variant of ``picked``: the same first five letters or singular, or one's singular a
    prefix of at least four letters of the other (``iraq`` / ``iraqi``, ``funds`` / ``funding``)."""
    a, b = sorted((singular(word), singular(picked)), key=len)
    return word[:5] == picked[:5] or a == b or (len(a) >= 4 and b.startswith(a))


def name_worthy(keywords: list[str], counts: Mapping[str, float]) -> list[str]:
    """The ``keywords`` common enough in their topic to name it (``counts``: the topic's term counts, a word once
    per item, decayed or not): in more than one item's worth (an item adds at most 1, so at least two items use the
    word) and in at least ``NAME_SHARE`` of the items its commonest word is in (which stands for the topic's recent
    size). c-TF-IDF ranks a word that one headline used and no other topic did high; such a word says what one
    item was about, not the topic."""
    floor = NAME_SHARE * max(counts.values(), default=0.0)
    return [w for w in keywords if counts.get(w, 0.0) > 1 and counts.get(w, 0.0) >= floor]


def short_name(keywords: list[str], size: int = 3, counts: Mapping[str, float] | None = None, items: int = 0) -> str:
    """A topic's short name from its keywords: the first ``size`` that are not a variant of one already taken (see
    ``_variant``), joined by " / ". With the topic's term ``counts`` and its number of ``items``, the keywords common
    enough to name it (``name_worthy``) come first, and the others fill the name only when none is, or in a topic of
    at most ``1 / NAME_SHARE`` items (where one item is as large a share of it as the floor asks for)."""
    if counts is not None:
        worthy = name_worthy(keywords, counts)
        small = items * NAME_SHARE <= 1
        keywords = worthy + [w for w in keywords if w not in worthy] if small or not worthy else worthy
    picked: list[str] = []
    for word in keywords:
        if not any(_variant(word, p) for p in picked):
            picked.append(word)
        if len(picked) == size:
            break
    return " / ".join(picked)
