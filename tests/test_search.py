"""`lookout train TASK --search N`: an Optuna study on the tiny BERT, recorded in the store, reproducible from its
seed, and printed as the [training] lines that put the best parameters in service."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.config.load import load_settings
from monitor.learning.tuning import toml_lines
from monitor.store.db import Store
from tests.cli import Result, lookout_here
from tests.test_learning import sample, write_config

Runner = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return lambda *args, **env: lookout_here(capsys, monkeypatch, *args, **env)


def test_a_search_records_every_trial_and_prints_the_best_parameters_as_training_lines(
        tmp_path: Path, tiny_model: str, run: Runner) -> None:
    cfg = write_config(tmp_path, tiny_model)
    assert run("train", "spam", "--search", "3", "-c", str(cfg)).returncode == 2, "no store yet"
    Store(tmp_path / "lookout.db").close()
    too_few = run("train", "spam", "--search", "3", "-c", str(cfg))
    assert too_few.returncode == 1 and "too few labels" in too_few.stderr
    assert "needs one TASK" in run("train", "--search", "3", "-c", str(cfg)).stderr
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sample()))
    assert run("labels", "import", str(data), "--task", "spam", "-c", str(cfg)).returncode == 0

    result = run("train", "spam", "--search", "3", "--epochs", "2", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "3/3" in result.stderr and "best=" in result.stderr  # the progress bar over trials
    store = Store(tmp_path / "lookout.db")
    study = store.search(1)
    assert study is not None and study.status == "done" and study.task == "spam"
    assert study.metric == "macro_f1" and study.n_trials == 3 and len(study.trials) == 3
    for trial in study.trials:
        p = trial.params
        assert trial.state == "complete" and 0.0 <= trial.score <= 1.0 and trial.seconds > 0
        assert 3e-4 <= p["learning_rate"] <= 3e-2 and 1 <= p["epochs"] <= 2 and 0 <= p["freeze_layers"] <= 2
        assert p["batch_size"] in (8, 16, 32) and isinstance(p["class_weighting"], bool)
    best = max(study.trials, key=lambda t: t.score)
    assert study.best_score == best.score and study.best_params == best.params
    assert study.best_trial == best.number
    assert f"best: trial {best.number}, validation macro_f1 {best.score:.3f}" in result.stdout

    lines = result.stdout[result.stdout.index("[training]\n"):]
    assert lines.strip().splitlines() == toml_lines(best.params)
    training = tomllib.loads(lines)["training"]
    assert training == best.params and training["learning_rate"] == best.params["learning_rate"]
    in_service = tmp_path / "tuned.toml"
    in_service.write_text(lines)
    tuned = load_settings(in_service, env={}).training
    assert {key: getattr(tuned, key) for key in training} == training

    again = run("train", "spam", "--search", "2", "--epochs", "2", "-c", str(cfg))
    assert again.returncode == 0, again.stderr
    repeat = store.search(2)
    assert repeat is not None and len(repeat.trials) == 2
    assert [t.params for t in repeat.trials] == [t.params for t in study.trials[:2]]
    assert [t.score for t in repeat.trials] == [t.score for t in study.trials[:2]]
    assert store.serving() == {} and store.versions("spam") == []  # a search trains no version
    store.close()
