"""Keyword cleaning: URLs, paths, e-mail addresses, mentions, host names and page boilerplate never become words,
and a topic's short name folds plurals and variants and takes only words enough of its items share."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from models.keywords import short_name, singular, words
from models.topics import OnlineTopicModel
from monitor.enrich.pipeline import BatchResult
from monitor.store.db import Store
from tests.cli import lookout_here

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


IRAQ = [  # one topic's real ABC News headlines of 2003 (CC0), oldest first, the day each was published
    ("04-23", "british mp denies saddam payroll tag"), ("04-24", "cwealth says no favours from us for iraq contracts"),
    ("04-26", "attack on arms dump in baghdad"), ("04-27", "garner asks iraqis to play role in new govt"),
    ("04-28", "iraqi powerbrokers gather to decide their future"), ("04-29", "vaile leads trade delegation in iraq"),
    ("04-29", "us says holding iraqi former oil minister"), ("04-29", "pentagon updates us casualty list in iraq"),
    ("04-29", "aust soldiers involved in iraqi gunfight"), ("05-05", "us soldier shot in baghdad"),
    ("05-05", "legal breakthrough for gulf war syndrome vet"),
    ("05-06", "us confirms one billion went missing in iraq"),
    ("05-07", "hollywood stars set out to help iraqi war victim"), ("05-08", "us lifts iraq sanctions"),
    ("05-08", "iraqis to try captured leaders us"), ("05-14", "bulldozers unearth mass graves in iraq"),
    ("05-15", "umm qasr handed back to iraqis"), ("05-18", "war in iraq reduced terrorism threat hill"),
    ("05-18", "top iraqi regime official surrenders mass grave"), ("05-21", "us delays iraqi national conference"),
    ("05-23", "downer tours iraq"), ("05-23", "downer applauds lifting of iraqi sanctions"),
    ("05-24", "restore order downer urges iraqs administrators"),
    ("06-01", "blair pins credibility on iraq weapons hunt"),
]
OTHERS = [  # headlines of other topics of the same weeks, so that blair, downer and hunt are not the Iraq topic's own
    ("05-01", "afp continues hunt for indonesian terrorists"),
    ("05-02", "blair survives backlash at local regional polls"),
    ("05-02", "n korea official aboard pong su downer"), ("05-03", "blair says hes comfortable before god"),
    ("05-06", "war wearies birthday blair"), ("05-07", "blair lauds howards leadership"),
    ("05-08", "us tests potential mobile weapons lab"), ("05-12", "police hunt armed bandits"),
    ("05-15", "downer in talks on n koreas illicit trade"), ("05-17", "terrorist attacks strengthen resolve downer"),
    ("05-20", "aust vietnam confer over sars"), ("05-20", "downer fears substantial aceh death toll"),
    ("05-24", "china reports dozens of new sars cases"), ("05-30", "china may have jumped gun over sars source"),
    ("05-31", "who removes singapore from sars list"),
]


def test_a_topic_is_named_by_words_its_headlines_share_not_by_its_latest_headlines_rare_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The Iraq topic as the ABC demo ended: its words counted with the default week's half-life, so its last
    headline weighs most, and c-TF-IDF ranks that headline's one-off words next to ``iraq``."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(2, 32))
    model = OnlineTopicModel(threshold=0.5, term_half_life=168 * 3600.0)
    stream = sorted([(day, text, 0) for day, text in IRAQ] + [(day, text, 1) for day, text in OTHERS])
    for n, (day, text, story) in enumerate(stream):
        at = datetime.fromisoformat(f"2003-{day}T00:00:00+00:00").timestamp()
        tid = model.update(centres[story] + rng.normal(scale=0.05, size=32), text=text, item_id=str(n), ts=at)
        if story == 0:
            iraq = tid
    keywords = model.keywords(iraq)
    assert short_name(keywords).split(" / ")[1:] == ["credibility", "pins"], "the name the floor replaces"
    changes = model.drain_changes()
    store = Store(tmp_path / "t.db")
    store.complete(BatchResult([], changes, {t.id: model.keywords(t.id) for t in changes.updated},
                               {"next_id": model.next_id, "updates": model.updates}, []))
    store.close()
    shown = lookout_here(capsys, monkeypatch, "topics", "--json", "--db", str(tmp_path / "t.db"))
    [topic] = [t for t in json.loads(shown.stdout) if t["id"] == iraq]
    name = topic["name"].split(" / ")
    assert name == ["iraq", "downer"], "iraqi, iraqis and iraqs fold into iraq"
    assert all(sum(w in words(text) for _, text in IRAQ) >= 2 for w in name)
    assert all(w in keywords for w in name)


def test_a_name_floor_drops_one_off_words_of_a_large_topic_but_not_of_a_small_one() -> None:
    assert short_name(["blaze", "rare", "fires", "dry"], counts={"blaze": 40, "rare": 2, "fires": 9, "dry": 4.5},
                      items=300) == "blaze / fires / dry", "2 of a topic whose commonest word is in 40 is under a tenth"
    serena = {"serena": 5, "consolation": 1, "venus": 1}
    assert short_name(["serena", "consolation", "venus"], counts=serena, items=50) == "serena"
    assert short_name(["serena", "consolation", "venus"], counts=serena, items=5) == "serena / consolation / venus", \
        "one of 5 items is a fifth of the topic"
    assert short_name(["tax", "conservatives", "dept", "state"], counts={"tax": 3, "state": 2}, items=4) == \
        "tax / state / conservatives"
    assert short_name(["storm", "floods", "bags"], counts={"storm": 1, "floods": 1, "bags": 1}, items=40) == \
        "storm / floods / bags", "no word repeats: the keywords as they are"
    assert short_name(["funds", "funding", "gambling", "arts"]) == "funds / gambling / arts"
