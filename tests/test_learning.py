"""The learning loop on a tiny BERT built in the test: train, evaluate, register, gate, promote, roll back,
resume, refuse what is broken, and the data that flows from the store into training."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from models import registry
from models.classifier import LabelSpec, TaskSpec
from models.evaluation import check_metric, confusion_png, report, score
from models.finetune import Example, Progress, TrainArgs, TrainingError, predict_proba, quantize, train
from models.finetuned import FineTunedClassifier
from models.ladder import RUNGS, open_version
from models.registry import ModelLoadError
from monitor.config.load import load_settings
from monitor.learning.data import check_enough, gather
from monitor.learning.gate import decide
from monitor.learning.runs import LearningError, task_spec
from monitor.store.db import Store
from tests.cli import Result, lookout, lookout_here

SAMPLE = Path(__file__).resolve().parent.parent / "monitor" / "demo" / "spamassassin_sample.jsonl"
LABELS = ["ham", "spam"]


def sample() -> list[dict]:
    rows = [json.loads(line) for line in SAMPLE.open()]
    return [{"text": f"{r['title']}\n{r['text']}"[:1500], "label": r["label"]} for r in rows]


def examples(rows: list[dict]) -> list[Example]:
    return [Example(r["text"], r["label"]) for r in rows]


def tiny_args(tiny_model: str, **kw: object) -> TrainArgs:
    return TrainArgs(**{"base": tiny_model, "freeze_layers": 0, "epochs": 6, "patience": 3, "learning_rate": 3e-3,
                        "max_length": 64, "metric": "accuracy", **kw})


def accuracy(model: object, tokenizer: object, rows: list[dict]) -> float:
    probs = predict_proba(model, tokenizer, [r["text"] for r in rows])
    return sum(LABELS[i] == r["label"] for i, r in zip(probs.argmax(1), rows, strict=True)) / len(rows)


# models/ ------------------------------------------------------------------------------------------------------------
def test_metrics_report_and_confusion_png(tmp_path: Path) -> None:
    truth = ["ham", "ham", "spam", "spam"]
    pred = ["ham", "spam", "spam", "spam"]
    r = report(truth, pred, LABELS, "f1:spam")
    assert r["accuracy"] == 0.75 and r["confusion"] == [[1, 1], [0, 2]]
    assert r["score"] == pytest.approx(0.8) and r["per_label"]["ham"]["recall"] == 0.5
    assert score("macro_recall", truth, pred, LABELS) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="f1:<label>"):
        check_metric("f1:eggs", LABELS)
    png = confusion_png(tmp_path / "c.png", r["confusion"], LABELS, "spam")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fine_tuning_learns_saves_loads_and_refuses_corrupt_weights(tiny_model: str, tmp_path: Path) -> None:
    rows = sample()
    result = train(LABELS, examples(rows[:150]), examples(rows[150:190]), tiny_args(tiny_model))
    assert result.best_score >= 0.8 and result.best_epoch >= 1
    assert accuracy(result.model, result.tokenizer, rows[190:]) >= 0.75
    q = quantize(result.model)
    texts = [r["text"] for r in rows[190:]]
    agree = (predict_proba(q, result.tokenizer, texts).argmax(1)
             == predict_proba(result.model, result.tokenizer, texts).argmax(1)).mean()
    assert agree >= 0.9

    folder = registry.save(tmp_path / "spam" / "v1", result.model, result.tokenizer, {"labels": LABELS})
    task = TaskSpec("spam", (LabelSpec("ham"), LabelSpec("spam")))
    served = FineTunedClassifier(task, folder, "v1", device="cpu", int8=True)
    predictions = served.predict(texts, None)
    assert {p.model for p in predictions} == {"v1"} and all(p.label in LABELS for p in predictions)
    assert registry.next_version(tmp_path, "spam") == 2

    other = TaskSpec("spam", (LabelSpec("ham"), LabelSpec("spam"), LabelSpec("phishing")))
    with pytest.raises(ModelLoadError, match="retrain it"):
        FineTunedClassifier(other, folder, "v1")
    weights = folder / registry.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="checksum"):
        FineTunedClassifier(task, folder, "v1")
    with pytest.raises(ModelLoadError, match=r"no meta\.json"):
        registry.load(tmp_path / "spam" / "v9")


def test_training_resumes_from_its_checkpoint_after_a_crash(tiny_model: str, tmp_path: Path) -> None:
    rows = sample()
    args = tiny_args(tiny_model, epochs=3, patience=3)
    checkpoint = tmp_path / "checkpoint.pt"

    def crash_after_first_epoch(p: Progress) -> None:
        if p.val_score is not None and p.epoch == 1:
            raise KeyboardInterrupt("the process dies")

    with pytest.raises(KeyboardInterrupt):
        train(LABELS, examples(rows[:100]), examples(rows[150:190]), args, progress=crash_after_first_epoch,
              checkpoint=checkpoint)
    assert not checkpoint.exists()
    seen: list[int] = []

    def crash_in_second_epoch(p: Progress) -> None:
        seen.append(p.epoch)
        if p.epoch == 2:
            raise KeyboardInterrupt("the process dies")

    with pytest.raises(KeyboardInterrupt):
        train(LABELS, examples(rows[:100]), examples(rows[150:190]), args, progress=crash_in_second_epoch,
              checkpoint=checkpoint)
    assert checkpoint.exists()
    resumed = train(LABELS, examples(rows[:100]), examples(rows[150:190]), args, checkpoint=checkpoint)
    assert resumed.resumed_from_epoch == 1
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]


def test_bad_training_input_is_refused_with_a_reason(tiny_model: str, tmp_path: Path) -> None:
    rows = examples(sample()[:30])
    with pytest.raises(TrainingError, match="labels the task does not"):
        train(["ham", "eggs"], rows, rows, tiny_args(tiny_model))
    with pytest.raises(TrainingError, match="at least two labels"):
        train(LABELS, [e for e in rows if e.label == "ham"], rows, tiny_args(tiny_model))
    with pytest.raises(TrainingError, match="not a model folder"):
        train(LABELS, rows, rows, tiny_args(str(tmp_path / "nowhere")))
    with pytest.raises(TrainingError, match="has only 2 layers"):
        train(LABELS, rows, rows, tiny_args(tiny_model, freeze_layers=5))


# monitor/: data and the gate -------------------------------------------------------------------------------------
TASK = """
[[tasks]]
name = "spam"
metric = "macro_f1"
  [[tasks.labels]]
  name = "ham"
  description = "a discussion on a mailing list"
  [[tasks.labels]]
  name = "spam"
  description = "unsolicited advertising"
"""


def write_config(tmp_path: Path, tiny_model: str, extra: str = "", rungs: tuple[str, ...] | None = None) -> Path:
    """A config with the tiny model; ``rungs`` limits the ladder (the default config trains the default rungs).
    The rung is chosen on the held-out set (``cv_below = 0``; tests/test_ladder.py covers cross-validation)."""
    path = tmp_path / "lookout.toml"
    ladder = f"rungs = {json.dumps(list(rungs))}\n" if rungs else ""
    path.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                    f'[training]\nbase = "{tiny_model}"\nfreeze_layers = 0\nepochs = 6\npatience = 3\n'
                    f"learning_rate = 3e-3\nmax_length = 64\n{ladder}[learning]\nmin_examples = 20\ncv_below = 0\n"
                    f"{extra}{TASK}")
    return path


def test_gather_resolves_duplicates_conflicts_and_keeps_the_held_out_set_fixed(tmp_path: Path,
                                                                                  tiny_model: str) -> None:
    settings = load_settings(write_config(tmp_path, tiny_model))
    store = Store(settings.store.path)
    task = task_spec(settings, "spam")
    rows = sample()
    store.import_examples("spam", [(r["text"], r["label"], "") for r in rows], "sample")
    store.import_examples("spam", [(rows[0]["text"], rows[0]["label"], ""),      # a duplicate
                                   (rows[1]["text"], "spam" if rows[1]["label"] == "ham" else "ham", ""),  # conflict
                                   ("some text", "eggs", "")], "more")            # unknown label
    first = gather(store, settings, task, since=0)
    assert first.report["duplicates"] == 1 and first.report["conflicts"] == 1 and first.report["unknown_label"] == 1
    assert len(first.train) + len(first.val) + len(first.holdout) == len(rows) - 1
    assert 0.1 < len(first.holdout) / len(rows) < 0.3
    held = {e.text for e in first.holdout}

    from monitor.ingest.item import Item
    store.add_items("mail", "imap", [Item(id="abc123abc123", source="mail", title="", text=rows[1]["text"])])
    store.correct("abc123abc123", "spam", "spam", "U1", "slack")
    second = gather(store, settings, task, since=0)
    assert {e.text for e in second.holdout} >= held - {rows[1]["text"]}
    corrected = [e for e in [*second.train, *second.val, *second.holdout] if e.text == rows[1]["text"]]
    assert corrected == [Example(rows[1]["text"], "spam", settings.learning.correction_weight)]
    assert second.report["corrections"] == 1 and second.report["conflicts"] == 0
    assert (corrected[0] in second.live) == (corrected[0] in second.holdout)
    store.close()


def test_too_few_labels_and_the_promotion_gate(tmp_path: Path, tiny_model: str) -> None:
    settings = load_settings(write_config(tmp_path, tiny_model))
    store = Store(settings.store.path)
    task = task_spec(settings, "spam")
    store.import_examples("spam", [(r["text"], r["label"], "") for r in sample()[:12]], "few")
    with pytest.raises(LearningError, match="too few labels"):
        check_enough(gather(store, settings, task, 0), task, settings)
    store.close()
    better = {"metric": "macro_f1", "score": 0.80}
    worse = {"metric": "macro_f1", "score": 0.70}
    assert decide(better, worse, {}, {}, 0.01)[0]
    assert decide({"metric": "macro_f1", "score": 0.795}, {"metric": "macro_f1", "score": 0.80}, {}, {}, 0.01)[0]
    ok, why = decide(worse, better, {}, {}, 0.01)
    assert not ok and "below the model in service" in why
    ok, why = decide(better, worse, {"n": 4, "accuracy": 0.5}, {"n": 4, "accuracy": 0.75}, 0.01)
    assert not ok and "loses on the 4 live corrections" in why


# the command line ----------------------------------------------------------------------------------------------------
Runner = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return lambda *args, **env: lookout_here(capsys, monkeypatch, *args, **env)


def test_a_label_line_json_refuses_beyond_its_syntax_is_a_clear_error_and_imports_nothing(
        tmp_path: Path, tiny_model: str, run: Runner) -> None:
    """A number too long for Python's int conversion is a ValueError that is not a JSONDecodeError."""
    cfg = write_config(tmp_path, tiny_model)
    bad = tmp_path / "huge.jsonl"
    bad.write_text('{"text": "hi", "label": "ham"}\n{"text": "x", "label": "ham", "n": ' + "9" * 5000 + "}\n")
    result = run("labels", "import", str(bad), "--task", "spam", "-c", str(cfg))
    assert result.returncode == 2, result.stderr
    assert f"{bad}:2: not JSON (Exceeds the limit (4300 digits)" in result.stderr
    assert "nothing was imported" in result.stderr and "Traceback" not in result.stderr


def test_labels_train_promote_reject_rollback_and_a_crash_through_the_cli(tmp_path: Path, tiny_model: str,
                                                                          run: Runner) -> None:
    cfg = write_config(tmp_path, tiny_model, rungs=("fine-tuned",))
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sample()))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "label": "eggs"}\n{"text": "", "label": "ham"}\nnot json\n')
    result = run("labels", "import", str(bad), "--task", "spam", "-c", str(cfg))
    assert result.returncode == 2 and "not JSON" in result.stderr and "nothing was imported" in result.stderr
    bad.write_text('{"text": "hi", "label": "eggs"}\n{"text": "", "label": "ham"}\n')
    result = run("labels", "import", str(bad), "--task", "spam", "-c", str(cfg))
    assert result.returncode == 2 and "2 bad rows" in result.stderr and "`eggs` is not a label" in result.stderr
    assert "no task `eggs`" in run("labels", "import", str(data), "--task", "eggs", "-c", str(cfg)).stderr

    assert "no store at" in run("train", "spam", "-c", str(cfg)).stderr
    Store(tmp_path / "lookout.db").close()
    too_few = run("train", "spam", "-c", str(cfg))
    assert too_few.returncode == 1 and "too few labels" in too_few.stderr
    result = run("labels", "import", str(data), "--task", "spam", "-c", str(cfg))
    assert result.returncode == 0 and "imported 240 labelled texts for spam: ham 160, spam 80" in result.stdout

    first = lookout("train", "spam", "-c", str(cfg))
    assert first.returncode == 0, first.stderr
    assert "PROMOTED" in first.stdout and "against" in first.stdout and "zero-shot" in first.stdout
    v1 = tmp_path / "lookout.db.models" / "spam" / "v1"
    assert (v1 / "confusion.png").is_file() and json.loads((v1 / "meta.json").read_text())["labels"] == LABELS
    assert not (v1 / "checkpoint.pt").exists()

    broken = run("train", "spam", "-c", str(cfg), LOOKOUT_TRAINING_BASE=str(tmp_path / "missing"))
    assert broken.returncode == 1 and "training failed, the model in service stays" in broken.stderr
    assert not (tmp_path / "lookout.db.models" / "spam" / "v2").exists()
    assert "spam: served by v1" in run("models", "list", "-c", str(cfg)).stdout

    worse = run("train", "spam", "--epochs", "1", "-c", str(cfg), LOOKOUT_TRAINING_LEARNING_RATE="1e-6")
    assert worse.returncode == 0 and "REJECTED" in worse.stdout and "below the model in service" in worse.stdout
    listing = run("models", "list", "-c", str(cfg)).stdout
    assert "spam: served by v1" in listing and "rejected" in listing and "serving" in listing

    assert "now in service" in run("models", "promote", "spam", "v2", "-c", str(cfg)).stdout
    assert "spam: served by v2" in run("models", "list", "spam", "-c", str(cfg)).stdout
    assert "served by v1" in run("models", "rollback", "spam", "-c", str(cfg)).stdout
    assert "zero-shot classifier" in run("models", "rollback", "spam", "-c", str(cfg)).stdout
    assert "nothing to roll back" in run("models", "rollback", "spam", "-c", str(cfg)).stderr

    (tmp_path / "lookout.db.models" / "spam" / "v2" / registry.WEIGHTS).write_bytes(b"garbage")
    refused = run("models", "promote", "spam", "2", "-c", str(cfg))
    assert refused.returncode == 2 and "refused" in refused.stderr and "checksum" in refused.stderr
    assert "no version 7" in run("models", "promote", "spam", "7", "-c", str(cfg)).stderr
    assert "expected a number" in run("models", "promote", "spam", "latest", "-c", str(cfg)).stderr
    store = Store(tmp_path / "lookout.db")
    assert store.serving() == {}
    assert [v.status for v in store.versions("spam")] == ["rolled back", "broken"]
    store.close()


def test_the_ladder_serves_a_head_on_the_embedding_when_fine_tuning_does_not_fit_the_budget(
        tmp_path: Path, tiny_model: str, run: Runner) -> None:
    rows = sample()
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows[:5]))
    cfg = write_config(tmp_path, tiny_model, extra=f'[[replays]]\nname = "mail"\npath = "{replay}"\n')
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps({**r, "split": "train"}) + "\n" for r in rows))
    assert run("labels", "import", str(data), "--task", "spam", "-c", str(cfg)).returncode == 0

    result = run("train", "spam", "-c", str(cfg), LOOKOUT_TRAINING_MAX_MINUTES="0.001")
    assert result.returncode == 0, result.stderr
    ladder = {line.split()[0]: line for line in result.stdout.splitlines()
              if line.split() and line.split()[0] in RUNGS}
    assert set(ladder) == {"zero-shot", "head", "fine-tuned"} and set(ladder) < set(RUNGS)
    assert "not trained: about" in ladder["fine-tuned"] and "training.max_minutes budget of 0.001 min" in \
        ladder["fine-tuned"]
    assert "spam v1 (head)" in result.stdout and "PROMOTED: held-out" in result.stdout
    v1 = tmp_path / "lookout.db.models" / "spam" / "v1"
    meta = json.loads((v1 / "meta.json").read_text())
    assert meta["rung"] == "head" and meta["weights"] == registry.HEAD and meta["embedding"] == tiny_model
    assert meta["metrics"]["data"]["val_from_train"] > 0 and meta["metrics"]["data"]["holdout_from_train"] > 0
    zero = meta["metrics"]["ladder"]["zero-shot"]["holdout"]
    assert meta["metrics"]["holdout"]["score"] > zero + 0.01
    listing = run("models", "list", "-c", str(cfg)).stdout
    assert "spam: served by v1 (head)" in listing and f"{zero:.3f}" in listing

    assert run("run", "-c", str(cfg), "--until-idle").returncode == 0
    store = Store(tmp_path / "lookout.db")
    models = {r["model"] for r in store.db.query("select model from labels where task = 'spam'")}
    store.close()
    assert models == {"v1"}

    store = Store(tmp_path / "lookout.db")
    version = store.serving()["spam"]
    store.close()
    with pytest.raises(ModelLoadError, match="a head on the embeddings of"):
        open_version(task_spec(load_settings(cfg), "spam"), version.path, "v1", "bundled")


def test_labels_import_creates_the_task_from_the_file(tmp_path: Path, tiny_model: str, run: Runner) -> None:
    cfg = write_config(tmp_path, tiny_model)
    data = tmp_path / "kinds.jsonl"
    data.write_text("".join(json.dumps({"text": r["text"], "label": {"ham": "ok", "spam": "junk"}[r["label"]]}) + "\n"
                            for r in sample()))
    assert "no task `mail-kind`" in run("labels", "import", str(data), "--task", "mail-kind", "-c", str(cfg)).stderr
    result = run("labels", "import", str(data), "--task", "mail-kind", "--create", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "created task mail-kind with 2 labels: junk, ok" in result.stdout
    assert "imported 240 labelled texts for mail-kind: junk 80, ok 160" in result.stdout
    again = run("labels", "import", str(data), "--task", "mail-kind", "--create", "-c", str(cfg))
    assert again.returncode == 0 and "created task" not in again.stdout
    assert "mail-kind: served by zero-shot" in run("models", "list", "-c", str(cfg)).stdout
    data.write_text('{"text": "a", "label": "Not OK"}\n{"text": "b", "label": "fine"}\n')
    refused = run("labels", "import", str(data), "--task", "other", "--create", "-c", str(cfg))
    assert refused.returncode == 2 and "`Not OK` cannot be a label or task name" in refused.stderr
