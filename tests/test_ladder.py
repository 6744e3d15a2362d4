"""The ladder's choice when the held-out set is small (k-fold cross-validation), the head anchored at zero-shot, and
the SetFit rung, through ``lookout train`` on real labelled mail."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from models.anchored import STRENGTHS as ANCHORED
from models.embedding import Encoder
from models.finetune import Example
from models.head import EmbeddingHead
from monitor.learning.crossval import folds
from monitor.store.db import Store
from tests.cli import lookout_here
from tests.test_learning import TASK, Runner, sample


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return lambda *args, **env: lookout_here(capsys, monkeypatch, *args, **env)


def few(per_label: int) -> list[dict]:
    """The first ``per_label`` mails of each label of the SpamAssassin sample."""
    taken: Counter[str] = Counter()
    out = []
    for row in sample():
        if taken[row["label"]] < per_label:
            taken[row["label"]] += 1
            out.append(row)
    return out


def config(tmp_path: Path, embedding: str, rungs: tuple[str, ...], extra: str = "") -> Path:
    path = tmp_path / "lookout.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{embedding}"\n'
                    f"[training]\nrungs = {json.dumps(list(rungs))}\n{extra}"
                    f"[learning]\nmin_examples = 4\nmin_per_label = 1\n{TASK}")
    return path


def notes(tmp_path: Path) -> str:
    """The lines the last training run posted for the people following it (its Slack thread)."""
    store = Store(tmp_path / "lookout.db")
    row = next(iter(store.db.query("select notes from training_runs order by id desc limit 1")))
    store.close()
    return "\n".join(json.loads(row["notes"]))


def table(stdout: str) -> dict[str, list[str]]:
    """The rows of ``lookout train``'s ladder table, by rung."""
    return {line.split()[0]: line.split() for line in stdout.splitlines()
            if line.split() and line.split()[0] in ("zero-shot", "head", "setfit", "fine-tuned")}


def test_folds_spread_every_label_evenly_and_never_move() -> None:
    examples = [Example(f"text {i}", "abc"[i % 3] if i < 25 else "d") for i in range(28)]
    parts = folds(examples, 5, "task")
    assert sorted(e.text for part in parts for e in part) == sorted(e.text for e in examples)
    for label in "abcd":
        counts = [sum(e.label == label for e in part) for part in parts]
        assert max(counts) - min(counts) <= 1, (label, counts)
    assert folds(list(reversed(examples)), 5, "task") == parts


def test_a_tiny_held_out_set_chooses_the_rung_by_cross_validation(tmp_path: Path, run: Runner) -> None:
    cfg = config(tmp_path, "bundled", ("head",))
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in few(12)))
    assert run("labels", "import", str(data), "--task", "spam", "-c", str(cfg)).returncode == 0

    result = run("train", "spam", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    v1 = json.loads((tmp_path / "lookout.db.models" / "spam" / "v1" / "meta.json").read_text())["metrics"]
    held_out = v1["data"]["holdout"]
    assert 0 < held_out < 100
    assert (f"The held-out set has {held_out} texts (under learning.cv_below = 100): the rungs are chosen by 5-fold "
            f"cross-validation over 24 labelled examples") in notes(tmp_path)
    rows = table(result.stdout)
    assert "cross-validated" in result.stdout and set(rows) == {"zero-shot", "head"}
    zero, head = v1["ladder"]["zero-shot"]["cv"], v1["ladder"]["head"]["cv"]
    assert rows["zero-shot"][2] == f"{zero:.3f}" and rows["head"][2] == f"{head:.3f}"
    assert v1["chosen_by"] == "cross-validation" and v1["rung"] == "head"
    refit = f"refit on training + validation: held-out {v1['holdout']['score']:.3f}"
    assert " ".join(rows["head"]).endswith(refit), "the table shows the score of the refit head that serves"
    verdict = "PROMOTED" if head > zero + 0.01 else "REJECTED"
    assert f"{verdict}: cross-validated macro_f1 {head:.3f}" in result.stdout and f"{zero:.3f}" in result.stdout

    on_held_out = run("train", "spam", "-c", str(cfg), LOOKOUT_LEARNING_CV_BELOW="0")
    assert on_held_out.returncode == 0, on_held_out.stderr
    assert "cross-validat" not in on_held_out.stdout and ": held-out macro_f1" in on_held_out.stdout
    v2 = json.loads((tmp_path / "lookout.db.models" / "spam" / "v2" / "meta.json").read_text())["metrics"]
    assert v2["chosen_by"] == "held-out" and "cv" not in v2["ladder"]["head"]


def test_the_setfit_rung_trains_serves_and_is_skipped_over_budget(tmp_path: Path, tiny_model: str,
                                                                   run: Runner) -> None:
    cfg = config(tmp_path, tiny_model, ("head", "setfit"),
                 f"base = \"{tiny_model}\"\nfreeze_layers = 0\nmax_length = 32\nsetfit_pairs = 64\n")
    rows = few(30)
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows[:4]))
    cfg.write_text(cfg.read_text() + f'[[replays]]\nname = "mail"\npath = "{replay}"\n')
    assert run("labels", "import", str(data), "--task", "spam", "-c", str(cfg)).returncode == 0

    over = run("train", "spam", "-c", str(cfg), LOOKOUT_TRAINING_MAX_MINUTES="0.0001")
    assert over.returncode == 0, over.stderr
    assert "not trained: about" in " ".join(table(over.stdout)["setfit"])
    assert "SetFit rung not trained: about" in notes(tmp_path)
    assert "over the training.max_minutes budget of 0.0001 min" in notes(tmp_path)

    cfg.write_text(cfg.read_text().replace('rungs = ["head", "setfit"]', 'rungs = ["setfit"]'))
    result = run("train", "spam", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "Tuning the encoder of spam v2: at most about" in notes(tmp_path) and "spam v2 (setfit)" in result.stdout
    folder = tmp_path / "lookout.db.models" / "spam" / "v2"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["rung"] == "setfit" and meta["setfit"] == {"pairs": 64, "freeze_layers": 0}
    assert meta["metrics"]["pairs"] == 64 and (folder / "encoder" / "model.safetensors").is_file()
    assert run("models", "promote", "spam", "2", "-c", str(cfg)).returncode == 0
    assert "spam: served by v2 (setfit)" in run("models", "list", "-c", str(cfg)).stdout

    assert run("run", "-c", str(cfg), "--until-idle").returncode == 0
    store = Store(tmp_path / "lookout.db")
    models = {r["model"] for r in store.db.query("select model from labels where task = 'spam'")}
    store.close()
    assert models == {"v2"}

    (folder / "encoder" / "model.safetensors").write_bytes(b"garbage")
    refused = run("models", "promote", "spam", "2", "-c", str(cfg))
    assert refused.returncode == 2 and "encoder/model.safetensors does not match the checksum" in refused.stderr


def test_the_head_starts_at_zero_shot_and_is_pulled_toward_it(tmp_path: Path, run: Runner) -> None:
    cfg = config(tmp_path, "bundled", ("head",))
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in few(12)))
    assert run("labels", "import", str(data), "--task", "spam", "-c", str(cfg)).returncode == 0

    result = run("train", "spam", "-c", str(cfg), LOOKOUT_LEARNING_CV_BELOW="0")
    assert result.returncode == 0, result.stderr
    assert set(table(result.stdout)) == {"zero-shot", "head"} and "spam v1 (head)" in result.stdout
    folder = tmp_path / "lookout.db.models" / "spam" / "v1"
    meta = json.loads((folder / "meta.json").read_text())
    entry = meta["metrics"]["ladder"]["head"]
    assert meta["rung"] == "head" and entry["anchor"] == "zero-shot" and entry["strength"] in ANCHORED
    assert entry["holdout"] == meta["metrics"]["holdout"]["score"]
    head = EmbeddingHead.load(folder / "head.npz")
    descriptions = Encoder("bundled").encode(["a discussion on a mailing list", "unsolicited advertising"])
    start = descriptions / 0.05  # the zero-shot classifier's map: cosine similarity over the task's temperature
    moved = np.linalg.norm(head.weight - start, axis=1)
    assert (moved < np.linalg.norm(start, axis=1)).all(), moved
    assert head.probabilities(descriptions).argmax(axis=1).tolist() == [0, 1]
