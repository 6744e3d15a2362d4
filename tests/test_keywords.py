"""Keyword cleaning: URLs, paths, e-mail addresses, mentions, host names and page boilerplate never become words,
and a topic's short name folds plurals."""

from __future__ import annotations

import numpy as np

from models.keywords import short_name, singular, words
from models.topics import OnlineTopicModel

AG_NEWS_QUOTE = ('Staples Profit Up NEW YORK (Reuters) - Staples Inc. &lt;A HREF="http://www.investor.reuters.com/'
                 'FullQuote.aspx?ticker=SPLS.O target=/stocks/quickinfo/fullquote"&gt;SPLS.O&lt;/A&gt;, the top '
                 'office products retailer')


def test_urls_paths_mail_addresses_mentions_and_hosts_leave_no_fragments() -> None:
    assert words("Liam's double tonight &gt;&gt;http://t.co/puba8PjJbn and t.co/F2LFULCbQ7 @user") == [
        "liam", "double", "tonight"]
    assert words("write to jm@netnoteinc.com or <1993Apr15.081303.16532@Cadence.COM> via lists.sourceforge.net") \
        == ["write"]
    assert words("fetch www.example.org/page and ftp://mirror.kernel.org/pub/linux tarball") == ["fetch", "tarball"]
    assert words(AG_NEWS_QUOTE) == ["staples", "profit", "york", "staples", "office", "products", "retailer"]


def test_ordinary_punctuation_survives_and_named_boilerplate_goes() -> None:
    assert words("TCP/IP and/or e.g. U.S. Ph.D. students, end. Then more") == ["tcp", "students", "end"]
    assert words("Get the aspx fullquote quickinfo pages") == ["pages"]


def test_a_short_name_folds_plurals_into_the_word_already_taken() -> None:
    assert short_name(["bag", "bags", "luggage", "airline"]) == "bag / luggage / airline"
    assert short_name(["stories", "story", "news", "boxes", "box"]) == "stories / news / boxes"
    assert [singular(w) for w in ("bags", "stories", "boxes", "news", "bus", "crisis", "glass", "gas")] == [
        "bag", "story", "box", "news", "bus", "crisis", "glass", "gas"]


def test_a_topic_named_from_tweets_carries_no_link_fragments() -> None:
    rng = np.random.default_rng(0)
    centre = rng.normal(size=32)
    model = OnlineTopicModel(threshold=0.5)
    for i in range(6):
        v = centre + rng.normal(scale=0.05, size=32)
        tid = model.update(v, text=f"Storm floods the bags at the airport http://t.co/F2LFULCbQ{i}x @user")
    assert "lfulcbq" not in " ".join(model.keywords(tid, 20))
    assert set(model.keywords(tid, 20)) == {"storm", "floods", "bags", "airport"}
