"""Topic inspection from the command line: a topic's word cloud, one item's topic distribution, and the 2-D map of
items and topics, all read from a real store holding three clear groups of items."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from models.classifier import Prediction
from models.keywords import topic_weights
from models.projection import project
from models.topics import OnlineTopicModel, topic_distribution
from monitor.enrich.pipeline import BatchResult, Enriched
from monitor.ingest.item import Item, make_id
from monitor.store.db import Store
from tests.cli import lookout_here

PNG = b"\x89PNG\r\n\x1a\n"
GROUPS = {
    "space": ("rocket launch orbit satellite", "ham", "space"),
    "money": ("mortgage loan rates refinance", "spam", "money"),
    "health": ("vaccine booster clinic dose", "ham", "health"),
}


@dataclass
class Built:
    config: Path
    topic: dict[str, int]
    items: dict[str, list[str]]
    empty_topic: int
    model: OnlineTopicModel
    db: Path


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """60 items in three tight groups (20 each, one titled with a script tag) and one item with no words, enriched
    with two tasks' labels and online topics, committed to a real store."""
    root = tmp_path_factory.mktemp("inspect")
    rng = np.random.default_rng(7)
    centres = [unit(v) for v in rng.normal(size=(4, 32))]
    model = OnlineTopicModel(threshold=0.6)
    results, topic, ids = [], {}, {}
    for i in range(60):
        name = list(GROUPS)[i % 3]
        words, spam, subject = GROUPS[name]
        title = "<script>alert('map')</script> launch" if i == 0 else f"{name} story {i}"
        item = Item(id=make_id("test", str(i)), source="test", title=title, text=f"{words} update {i}",
                    url=f"https://example.org/{i}")
        v = unit(centres[i % 3] + rng.normal(scale=0.05, size=32)).astype(np.float32)
        tid = model.update(v, text=item.content, item_id=item.id, ts=1_700_000_000.0 + i)
        topic.setdefault(name, tid)
        ids.setdefault(name, []).append(item.id)
        results.append(Enriched(item, v, [Prediction("spam", spam, 0.9, False, "zero-shot"),
                                          Prediction("subject", subject, 0.8, False, "zero-shot")], tid))
    wordless = Item(id=make_id("test", "wordless"), source="test", title="", text="")
    empty_topic = model.update(centres[3], text="", item_id=wordless.id, ts=1_700_000_100.0)
    results.append(Enriched(wordless, centres[3].astype(np.float32), [], empty_topic))
    store = Store(root / "t.db")
    store.add_items("test", "replay", [r.item for r in results])
    changes = model.drain_changes()
    store.complete(BatchResult(results, changes, {t.id: model.keywords(t.id) for t in changes.updated},
                               {"next_id": model.next_id, "updates": model.updates}, []))
    store.close()
    config = root / "l.toml"
    config.write_text(f'[store]\npath = "{root / "t.db"}"\n')
    return Built(config, topic, ids, empty_topic, model, root / "t.db")


def test_a_topics_word_cloud_weighs_its_keywords_by_ctfidf(
        built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    space = built.topic["space"]
    store = Store(built.db)
    weights = topic_weights(store.topic_terms(space), space, 100)
    store.close()
    assert [t for t, _ in weights] == built.model.keywords(space, 100)
    assert {t for t, _ in weights[:4]} == {"rocket", "launch", "orbit", "satellite"}
    assert [w for _, w in weights] == sorted((w for _, w in weights), reverse=True)

    out = tmp_path / "cloud.png"
    shown = lookout_here(capsys, monkeypatch, "topic", f"#{space}", "--cloud", str(out), "--config", str(built.config))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.endswith(f"word cloud of {len(weights)} words: {out}\n")
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 10_000

    nothing = tmp_path / "none.png"
    empty = lookout_here(capsys, monkeypatch, "topic", str(built.empty_topic), "--cloud", str(nothing),
                         "--config", str(built.config))
    assert empty.returncode == 2
    assert empty.stderr == (f"lookout: topic #{built.empty_topic} has no words to draw: its items left none after "
                            "stop words\n")
    assert empty.stdout == "" and not nothing.exists()


def test_lookout_item_shows_labels_and_the_topic_distribution(
        built: Built, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    item_id, money = built.items["money"][3], built.topic["money"]
    shown = lookout_here(capsys, monkeypatch, "item", item_id[:8], "--config", str(built.config))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[:5] == [f"Item {item_id}: money story 10", "source: test", "url:    https://example.org/10",
                         "labels: spam = spam (0.90, zero-shot), subject = money (0.80, zero-shot)",
                         f"topic:  #{money} loan / money / mortgage"]
    assert "temperature 0.05" in lines[6]
    rows = [line.split() for line in lines[9:]]
    assert len(rows) == 4
    assert rows[0][0] == f"#{money}" and rows[0][-4:] == ["100.0%", "0.96", "<-", "assigned"]
    assert all(r[-2] == "<0.1%" and float(r[-1]) < 0.3 for r in rows[1:])

    ids, centres = [1, 2, 3], np.eye(3)
    dist = topic_distribution(np.array([0.1, 0.9, 0.2]), ids, centres)
    assert [d[0] for d in dist] == [2, 3, 1]
    assert sum(d[2] for d in dist) == pytest.approx(1.0)

    bad = lookout_here(capsys, monkeypatch, "item", "xyz", "--config", str(built.config))
    assert bad.returncode == 2
    assert bad.stderr == ("lookout: `xyz` is not an item id: expected at least 6 hex characters, as shown in "
                          "alerts and `items`\n")
    unknown = lookout_here(capsys, monkeypatch, "item", "ffffff0", "--config", str(built.config))
    assert unknown.returncode == 2 and unknown.stderr == "lookout: no item has an id starting with `ffffff0`\n"


def test_lookout_map_draws_items_and_topics_and_escapes_titles(
        built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    shown = lookout_here(capsys, monkeypatch, "map", "--out", str(tmp_path), "--config", str(built.config))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (f"projecting 61 items to 2-D (PCA and t-SNE)...\n61 items by topic, 4 topics named\n"
                            f"chart: {tmp_path / 'map.png'}\npage:  {tmp_path / 'map.html'}\n")
    assert (tmp_path / "map.png").read_bytes().startswith(PNG)
    page = (tmp_path / "map.html").read_text()
    assert page.count("<circle ") == 61
    assert "<script" not in page and "&lt;script&gt;alert(&#x27;map&#x27;)&lt;/script&gt; launch" in page
    assert not re.search(r"\b(src|href)=|@import|url\(", page)
    assert f"<title>money story 1\n#{built.topic['money']} loan / money / mortgage</title>" in page
    assert page.count("<text ") == 4

    labelled = lookout_here(capsys, monkeypatch, "map", "--out", str(tmp_path / "by-label"), "--color", "label",
                            "--task", "spam", "--config", str(built.config))
    assert labelled.returncode == 0, labelled.stderr
    page = (tmp_path / "by-label" / "map.html").read_text()
    assert page.count("<circle ") == 61 and "· spam = spam</title>" in page and "unlabelled" in page

    unsure = lookout_here(capsys, monkeypatch, "map", "--out", str(tmp_path / "x"), "--color", "label",
                          "--config", str(built.config))
    assert unsure.returncode == 2
    assert unsure.stderr == "lookout: --color label needs --task: items have labels of several tasks (spam, subject)\n"
    assert not (tmp_path / "x").exists()


def test_the_projection_keeps_groups_apart() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 64))
    vectors = np.concatenate([c + rng.normal(scale=0.1, size=(20, 64)) for c in centres])
    coords = project(vectors)
    assert coords.shape == (60, 2)
    groups = np.repeat(np.arange(3), 20)
    middles = np.stack([coords[groups == g].mean(axis=0) for g in range(3)])
    nearest = np.argmin(((coords[:, None, :] - middles[None]) ** 2).sum(-1), axis=1)
    assert (nearest == groups).all()
    assert np.allclose(project(vectors), coords)
    assert project(vectors[:5]).shape == (5, 2) and project(vectors[:1]).tolist() == [[0.0, 0.0]]
