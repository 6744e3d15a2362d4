"""From an unlabelled stream to a task: propose a taxonomy from the stored topics, review it in a file, accept it,
label stored items automatically, train on them, and measure the automatic labels against corrections."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import numpy as np
import pytest

from models.embedding import Encoder
from models.taxonomy import TopicSummary, assign, propose, slug
from models.topics import OnlineTopicModel
from monitor import service
from monitor.config.load import load_settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier
from monitor.enrich.build import build_pipeline
from monitor.enrich.pipeline import BatchResult, Enriched
from monitor.ingest.item import Item, make_id
from monitor.store.db import Store
from tests.cli import lookout_here
from tests.fake_llm import FakeLLM
from tests.feed_server import FeedServer, Route, rss
from tests.servers import sample_rows, wait_for
from tests.test_learning import write_config

STORIES = {
    "space": ["rocket launch orbit", "satellite orbit booster", "rocket booster landing", "launch pad orbit crew"],
    "money": ["mortgage loan rate", "loan interest bank", "mortgage refinance bank", "interest rate lenders"],
    "health": ["vaccine clinic dose", "clinic nurse vaccine", "booster dose appointment", "nurse clinic flu"],
}


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def centres(n: int = 3, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([unit(v) for v in rng.normal(size=(n, dim))])


def stored_stream(path: Path, per_story: int = 20) -> tuple[Store, dict[str, list[str]]]:
    """A store with ``per_story`` items of each story, enriched: embeddings near the story's centre, topics."""
    rng = np.random.default_rng(1)
    store = Store(path)
    model = OnlineTopicModel(threshold=0.6, merge_threshold=0.95)
    ids: dict[str, list[str]] = {s: [] for s in STORIES}
    results = []
    items = []
    for i in range(per_story):
        for centre, (story, texts) in zip(centres(), STORIES.items(), strict=True):
            item = Item(id=make_id("feed", f"{story}-{i}"), source="feed", title=f"{texts[i % 4]} {i}",
                        text=f"{texts[(i + 1) % 4]} and {texts[(i + 2) % 4]}, report {i}")
            v = unit(centre + rng.normal(scale=0.08, size=centre.shape)).astype(np.float32)
            items.append(item)
            ids[story].append(item.id)
            results.append(Enriched(item, v, [], model.update(v, text=item.content, item_id=item.id, ts=float(i))))
    store.add_items("feed", "feed", items)
    changes = model.drain_changes()
    store.complete(BatchResult(results, changes, {t.id: model.keywords(t.id) for t in changes.updated},
                               {"next_id": model.next_id, "updates": model.updates}, []))
    return store, ids


def test_topics_that_mean_the_same_merge_into_one_label_and_noise_is_left_out() -> None:
    c = centres(4)
    rng = np.random.default_rng(2)

    def near(v: np.ndarray) -> np.ndarray:
        return unit(v + rng.normal(scale=0.05, size=v.shape))

    topics = [TopicSummary(1, 30, near(c[0]), Counter(rocket=9, orbit=5), ["Rocket lifts off"]),
              TopicSummary(2, 12, near(c[0]), Counter(rocket=3, booster=6), ["Booster lands"]),
              TopicSummary(3, 25, near(c[1]), Counter(mortgage=8, loan=7), ["Mortgage rates fall"]),
              TopicSummary(4, 20, near(c[2]), Counter(vaccine=8, clinic=4), ["Clinic opens"]),
              TopicSummary(5, 1, near(c[3]), Counter(noise=1), ["A stray item"])]
    labels = propose(topics, 3)
    assert [(x.name, x.topics, x.size) for x in labels] == [("rocket-booster", [1, 2], 42),
                                                           ("mortgage-loan", [3], 25), ("vaccine-clinic", [4], 20)]
    assert labels[0].description == "about rocket, booster, orbit" and labels[0].examples == ["Rocket lifts off",
                                                                                               "Booster lands"]
    picked, confidence = assign(np.stack([near(c[1]), near(c[0])]), np.stack([x.centroid for x in labels]))
    assert picked.tolist() == [1, 0] and confidence.min() > 0.9
    assert slug(["vaccines", "vaccine", "clinic"], {"vaccines-clinic"}) == "vaccines-clinic-2"
    with pytest.raises(ValueError, match="at least two topics"):
        propose(topics[4:], 3)


def test_propose_edit_accept_train_and_agreement_through_the_cli(
        tmp_path: Path, tiny_model: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    store, ids = stored_stream(tmp_path / "lookout.db")
    store.close()
    config = write_config(tmp_path, tiny_model, "[taxonomy]\nmin_confidence = 0.5\n")

    def run(*args: str) -> object:
        return lookout_here(capsys, monkeypatch, *args, "-c", str(config))

    out = tmp_path / "proposal.toml"
    proposed = run("taxonomy", "propose", "--size", "3", "--out", str(out))
    assert proposed.returncode == 0 and f"proposal #1 written to {out}" in proposed.stdout
    text = out.read_text()
    assert text.count("\n[[labels]]\n") == 3 and "# e.g. " in text
    names = [line.split('"')[1] for line in text.splitlines() if line.startswith("name = ")]
    space = next(n for n in names if "rocket" in n or "orbit" in n or "launch" in n)
    out.write_text(text.replace(f'name = "{space}"', 'name = "space"'))

    bad = run("taxonomy", "accept", str(out), "--task", "My Theme")
    assert bad.returncode == 2 and "cannot be a label or task name" in bad.stderr
    accepted = run("taxonomy", "accept", str(out), "--task", "theme", "--train")
    assert accepted.returncode == 0, accepted.stderr
    created = accepted.stdout.splitlines()[0]
    assert "space" in created.removeprefix("task `theme` created with labels ").split(", ")
    assert "60 of the 60 newest items labelled automatically" in accepted.stdout
    assert re.search(r"theme v1 \((head|fine-tuned)\): held-out macro_f1", accepted.stdout)
    assert "against 1.000 for zero-shot" in accepted.stdout
    assert "PROMOTED" in accepted.stdout or "REJECTED" in accepted.stdout

    again = run("taxonomy", "accept", str(out), "--task", "other")
    assert again.returncode == 2 and "proposal #1 is accepted already" in again.stderr
    store = Store(tmp_path / "lookout.db")
    auto = {r["item_id"]: r["label"] for r in store.db.query(
        "select item_id, label from training_examples where task = 'theme' and source = 'taxonomy'")}
    store.close()
    assert {auto[i] for i in ids["space"]} == {"space"}
    assert len({auto[ids[s][0]] for s in STORIES}) == 3

    right, wrong = ids["space"][0], ids["money"][0]
    assert run("label", right[:10], "space", "--task", "theme").returncode == 0
    assert run("label", wrong[:10], "space", "--task", "theme").returncode == 0
    listing = run("models", "list", "theme")
    assert "theme: served by " in listing.stdout
    assert "automatic labels agree with 1 of 2 corrections (50%)" in listing.stdout


def test_a_broken_proposal_file_or_too_few_topics_gets_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    Store(tmp_path / "empty.db").close()
    empty = lookout_here(capsys, monkeypatch, "taxonomy", "propose", "--db", str(tmp_path / "empty.db"))
    assert empty.returncode == 2 and "not enough to propose labels from yet" in empty.stderr
    broken = tmp_path / "p.toml"
    broken.write_text("proposal = 1\n[[labels]]\nname = 'a'\ntopics = 'all'\n")
    result = lookout_here(capsys, monkeypatch, "taxonomy", "accept", str(broken), "--task", "t",
                          "--db", str(tmp_path / "empty.db"))
    assert result.returncode == 2 and "labels[0]: needs a `name` and a list of topic numbers" in result.stderr
    broken.write_text("proposal = [")
    result = lookout_here(capsys, monkeypatch, "taxonomy", "accept", str(broken), "--task", "t",
                          "--db", str(tmp_path / "empty.db"))
    assert result.returncode == 2 and "not valid TOML" in result.stderr


# with a language model -------------------------------------------------------------------------------------------
NAMES = {"space": "spaceflight", "money": "lending", "health": "vaccination"}


MARKS = {"space": ("rocket", "satellite", "launch"), "money": ("mortgage", "loan", "interest"),
         "health": ("vaccine", "clinic", "nurse")}


def story_of(text: str) -> str:
    return max(MARKS, key=lambda story: sum(text.count(w) for w in MARKS[story]))


def answer(request: dict) -> dict:
    """What a sensible model answers Lookout's two prompts with."""
    payload = FakeLLM.payload(request)
    if "candidates" in payload:
        return {"labels": [{"id": c["id"], "name": NAMES[story_of(" ".join(c["samples"]))],
                            "description": f"items about {NAMES[story_of(' '.join(c['samples']))]}",
                            "merge_into": None, "drop": False} for c in payload["candidates"]]}
    return {"labels": [{"item": x["item"], "label": NAMES[story_of(x["text"])], "confidence": 0.9}
                       for x in payload["items"]]}


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = await FakeLLM(answer).start()
    yield server
    await server.stop()


def llm_config(tmp_path: Path, llm: FakeLLM, extra: str = "") -> Path:
    config = tmp_path / "lookout.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[taxonomy]\nmin_confidence = 0.5\n'
                      f'llm_sample = 30\n[llm]\nbase_url = "{llm.base_url}"\nmodel = "test-model"\nbatches = 2\n'
                      f"{extra}")
    return config


async def test_the_llm_names_the_labels_and_labels_items_sending_only_the_configured_fields(
        tmp_path: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    store, ids = stored_stream(tmp_path / "lookout.db")
    store.close()
    config = llm_config(tmp_path, llm)
    out = tmp_path / "p.toml"

    def run(*args: str) -> Awaitable:
        return asyncio.to_thread(lookout_here, capsys, monkeypatch, *args, "-c", str(config),
                                 LOOKOUT_LLM_API_KEY="test-key")

    proposed = await run("taxonomy", "propose", "--size", "3", "--out", str(out))
    assert proposed.returncode == 0, proposed.stderr
    assert sorted(line.split('"')[1] for line in out.read_text().splitlines() if line.startswith("name = ")) == \
        ["lending", "spaceflight", "vaccination"]
    assert 'description = "items about lending"' in out.read_text()
    assert len(llm.requests) == 2 and {r["model"] for r in llm.requests} == {"test-model"}
    sent = [s for r in llm.requests for c in FakeLLM.payload(r)["candidates"] for s in c["samples"]]
    assert sent and not any("feed" in s or "source:" in s for s in sent), "only title and text leave Lookout"
    assert len(set(sent)) == len(sent), "each batch samples other items"

    again = await run("taxonomy", "propose", "--size", "3", "--out", str(tmp_path / "again.toml"))
    assert again.returncode == 0 and len(llm.requests) == 2, "the same prompts are answered from the cache"

    accepted = await run("taxonomy", "accept", str(out), "--task", "theme")
    assert accepted.returncode == 0, accepted.stderr
    assert "60 of the 60 newest items labelled automatically with confidence >= 0.5 (30 by the LLM, the rest by " \
           "the embeddings)" in accepted.stdout
    labelled = [r for r in llm.requests[2:] if "items" in FakeLLM.payload(r)]
    assert sum(len(FakeLLM.payload(r)["items"]) for r in labelled) == 30
    store = Store(tmp_path / "lookout.db")
    rows = list(store.db.query("select item_id, label, source from training_examples where task = 'theme'"))
    store.close()
    by_source = Counter(r["source"] for r in rows)
    assert by_source == {"taxonomy-llm": 30, "taxonomy": 30}
    truth = {i: NAMES[story] for story, items in ids.items() for i in items}
    assert all(r["label"] == truth[r["item_id"]] for r in rows)


@pytest.mark.parametrize(("script", "extra", "reason"), [
    (["429", "429"], "max_retries = 1\n", "the endpoint answered HTTP 429"),
    (["timeout"], "max_retries = 0\ntimeout_seconds = 0.3\n", "no answer within 0.3 s"),
    (["malformed"], "", "the answer is not JSON: 'Sure! Here are your labels.'"),
    (["ok"], "max_calls_per_day = 0\n", "the daily LLM budget is spent (0 calls, 0 tokens today)"),
])
async def test_a_failing_llm_falls_back_to_the_keywords_with_a_clear_log_line(
        tmp_path: Path, llm: FakeLLM, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, script: list[str], extra: str, reason: str) -> None:
    stored_stream(tmp_path / "lookout.db")[0].close()
    llm.script = list(script)
    config = llm_config(tmp_path, llm, extra)
    out = tmp_path / "p.toml"
    result = await asyncio.to_thread(lookout_here, capsys, monkeypatch, "taxonomy", "propose", "--size", "3",
                                     "--out", str(out), "-c", str(config), LOOKOUT_LLM_API_KEY="test-key")
    assert result.returncode == 0, result.stderr
    assert f"LLM unavailable ({reason}); the proposal keeps the names from the topics' keywords" in caplog.text
    names = [line.split('"')[1] for line in out.read_text().splitlines() if line.startswith("name = ")]
    assert len(names) == 3 and not set(names) & set(NAMES.values())


async def test_a_running_daemon_starts_classifying_an_accepted_task_within_seconds(
        tmp_path: Path, tiny_model: str, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.daemon.ingest

    monkeypatch.setattr(monitor.daemon.ingest, "WATCH_SYNC_SECONDS", 0.1)
    settings = load_settings(None, env={}, overrides={"store": {"path": str(tmp_path / "d.db")},
                                                      "model": {"embedding": tiny_model}})
    store = Store(settings.store.path)
    daemon = Daemon(settings, store, build_pipeline(settings, store, Encoder(tiny_model)),
                    ConsoleNotifier(lambda _: None, "never"), [])
    running = asyncio.create_task(daemon.run())
    await asyncio.sleep(0.3)
    await store.call(store.save_task, "theme", [{"name": "space", "description": "rockets and orbits"},
                                                {"name": "money", "description": "loans and banks"}],
                     "macro_f1", "taxonomy #1", "ada")
    await wait_for(lambda: [c.task.name for c in daemon.pipeline.classifiers] == ["theme"])
    assert [t.name for t in daemon.settings.tasks] == ["theme"]
    await store.call(service.add_watch, store, daemon.settings, "feed", feed_server.url("/news"), "news", "ada")
    feed_server.routes["/news"] = Route(body=rss(sample_rows(3)))
    await wait_for(lambda: daemon.processed == 3)
    daemon.stop()
    await asyncio.wait_for(running, 30)
    labels = list(store.db.query("select task, label from labels"))
    store.close()
    assert len(labels) == 3 and {r["task"] for r in labels} == {"theme"}
    assert {r["label"] for r in labels} <= {"space", "money"}
