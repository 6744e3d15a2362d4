"""The learning loop inside the running daemon: training in a separate process while items stream, the hot swap,
progress notes, a killed trainer, a corrupt promoted model, active-learning questions and the corrections trigger."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import pytest

from models.embedding import Encoder
from monitor import service
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import Question
from monitor.enrich.alerts import Alert
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.store.db import Store
from monitor.taxonomy.workflow import with_stored_tasks
from tests.servers import wait_for
from tests.test_learning import TASK, sample


class Recorder:
    """A notifier that keeps what it is given."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.notes: list[tuple[str, str, str]] = []
        self.questions: list[Question] = []

    async def ready(self, channel: str) -> None:
        return None

    async def send(self, alert: Alert, thread: str = "") -> None:
        self.alerts.append(alert)

    async def note(self, text: str, channel: str, thread: str) -> str:
        self.notes.append((text, channel, thread))
        return thread or f"thread-{len(self.notes)}"

    async def ask(self, question: Question) -> None:
        self.questions.append(question)

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def encoder(tiny_model: str) -> Encoder:
    return Encoder(tiny_model)


def settings_for(tmp_path: Path, tiny_model: str, extra: str = "", rate: float = 0.0, tasks: str = TASK) -> Settings:
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(json.dumps(r) + "\n" for r in sample()))
    path = tmp_path / "lookout.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                    f"[pipeline]\nbatch_size = 8\n"
                    f'[training]\nbase = "{tiny_model}"\nfreeze_layers = 0\nepochs = 4\npatience = 3\n'
                    f"learning_rate = 3e-3\nmax_length = 64\n{extra}\n"
                    f'[[replays]]\nname = "mail"\npath = "{stream}"\nrate = {rate}\n{tasks}')
    return load_settings(path, env={})


async def test_training_runs_in_another_process_and_the_new_model_is_swapped_in_while_items_stream(
        tmp_path: Path, tiny_model: str, encoder: Encoder) -> None:
    settings = settings_for(tmp_path, tiny_model, rate=5.0)
    store = Store(settings.store.path)
    store.import_examples("spam", [(r["text"], r["label"], "") for r in sample()], "sample")
    run_id, _ = store.request_run("spam", "slack", "U1", channel="C1", start=True)  # a run a crash interrupted
    notifier = Recorder()
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), notifier, build_sources(settings))
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: store.db.execute("select count(*) from labels where model = 'v1'").fetchone()[0] >= 5, 120)
    daemon.stop()
    await asyncio.wait_for(running, 60)

    run = store.run(run_id)
    assert run.status == "done" and re.match(r"spam v1 \((head|fine-tuned)\) promoted", run.message)
    assert run.pid not in (0, None, os.getpid())
    models = [r["model"] for r in store.db.query(
        "select labels.model from labels join items on items.id = labels.item_id order by items.processed_at, "
        "items.rowid")]
    first = models.index("v1")
    assert first > 0 and set(models[:first]) == {"zero-shot"} and set(models[first:]) == {"v1"}
    assert store.serving()["spam"].version == 1
    texts = [text for text, _, _ in notifier.notes]
    assert notifier.notes[0] == ("Training run #1 of spam", "C1", "")
    assert all(channel == "C1" and thread == "thread-1" for _, channel, thread in notifier.notes[1:])
    assert texts[1].startswith("Training spam v1 on ") and any(t.startswith("epoch 1/4: validation") for t in texts)
    assert re.match(r"spam v1 \((head|fine-tuned)\) promoted: cross-validated macro_f1", texts[-1]), \
        "the sample's held-out part is under learning.cv_below, so the rungs are compared by cross-validation"
    assert store.run(run_id).notes_sent == len(notifier.notes) - 1
    store.close()


async def test_a_killed_trainer_and_a_corrupt_promoted_model_leave_the_model_in_service(
        tmp_path: Path, tiny_model: str, encoder: Encoder, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(tmp_path, tiny_model)
    store = Store(settings.store.path)
    store.import_examples("spam", [(r["text"], r["label"], "") for r in sample()], "sample")
    run_id, _ = store.request_run("spam", "cli")
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), Recorder(), [])
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: (run := store.run(run_id)) is not None and run.progress.get("phase") == "training", 120)
    os.kill(store.run(run_id).pid, signal.SIGKILL)
    await wait_for(lambda: store.run(run_id).status == "failed", 120)
    assert store.run(run_id).message == ("spam: the training process exited with code -9 (killed: out of "
                                            "memory?); the model in service stays")

    folder = tmp_path / "bad" / "v1"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"labels": ["ham", "spam"], "sha256": "0" * 64}))
    (folder / "model.safetensors").write_bytes(b"not weights")
    store.add_version("spam", 1, str(folder), "candidate", {}, "", None, False)
    store.promote("spam", 1, "by hand")
    await wait_for(lambda: store.versions("spam")[0].status == "broken", 120)
    assert "checksum" in store.versions("spam")[0].reason and store.serving() == {}
    assert [c.version for c in daemon.pipeline.classifiers] == ["zero-shot"]
    assert "v1 cannot be served, zero-shot stays in service" in caplog.text
    daemon.stop()
    await asyncio.wait_for(running, 60)
    store.close()


async def test_the_least_sure_items_are_asked_about_once_and_corrections_trigger_a_retrain(
        tmp_path: Path, tiny_model: str, encoder: Encoder) -> None:
    settings = settings_for(tmp_path, tiny_model, "[learning]\nmin_new_corrections = 2\ncheck_minutes = 0.01\n"
                                                  "ask_budget = 3\nask_channel = \"C0ASK\"\nask_strategy = 'margin'\n")
    store = Store(settings.store.path)
    notifier = Recorder()
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), notifier, build_sources(settings))
    await daemon.run(until_idle=True)
    assert await daemon.ask() == 3 and await daemon.ask() == 3
    first, second = notifier.questions
    assert first.channel == "C0ASK" and first.labels == ["ham", "spam"] and len(first.items) == 3
    assert first.items[0].margin <= first.items[-1].margin <= second.items[0].margin
    assert not {q.item_id for q in first.items} & {q.item_id for q in second.items}

    for q in first.items[:2]:
        store.correct(q.item_id, "spam", "spam", "U1", "slack")
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), notifier, [])
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: store.runs(), 30)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    assert store.runs()[0].via == "2 new corrections"
    store.close()


async def test_a_task_accepted_into_a_running_daemon_that_had_none_is_retrained_on_its_corrections(
        tmp_path: Path, tiny_model: str, encoder: Encoder) -> None:
    settings = settings_for(tmp_path, tiny_model, "[learning]\nmin_new_corrections = 2\ncheck_minutes = 0.01\n",
                            tasks="")
    assert settings.tasks == ()
    store = Store(settings.store.path)
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), Recorder(), build_sources(settings))
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: daemon.processed == len(sample()), 120)
    await store.call(store.save_task, "theme", [{"name": "space", "description": "rockets and orbits"},
                                                {"name": "money", "description": "loans and banks"}],
                     "macro_f1", "taxonomy #1", "ada")
    await wait_for(lambda: [t.name for t in daemon.settings.tasks] == ["theme"], 120)
    for item_id in [r["id"] for r in store.db.query("select id from items order by rowid limit 2")]:
        await store.call(lambda i=item_id: service.correct(store, with_stored_tasks(settings, store), i, "space",
                                                           "ada", "cli"))
    await wait_for(lambda: store.runs(), 30)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    [run] = store.runs()
    assert (run.task, run.via) == ("theme", "2 new corrections")
    store.close()
