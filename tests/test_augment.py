"""Augmentation of rare labels: variants from the tiny BERT's own token embeddings, made for the training split only,
seeded, and nothing at all when `training.augment` is 0."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from models.augment import Augmenter
from models.finetune import Example
from monitor.config.load import load_settings
from monitor.learning.data import gather, train_split
from monitor.learning.runs import task_spec
from monitor.store.db import Store
from tests.cli import Result, lookout_here
from tests.test_learning import sample, write_config

Runner = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return lambda *args, **env: lookout_here(capsys, monkeypatch, *args, **env)


def test_variants_come_from_the_models_own_whole_word_tokens_and_keep_their_label(tiny_model: str) -> None:
    augmenter = Augmenter.load(tiny_model, seed=3)
    words = set(augmenter.words)
    assert {"people", "money", "free"} <= words
    assert not {w for w in words if not w.isalpha() or w.startswith("##") or w.startswith("[")}
    near = augmenter.neighbours("money")
    assert len(near) == 5 and set(near) <= words and "money" not in near
    assert augmenter.neighbours("Money") == near and augmenter.neighbours("xqzv") == []

    rare = [Example(f"Get your free money now, offer {i} ends tonight!", "spam", 3.0) for i in range(3)]
    common = [Example(f"The meeting about release {i} moved to Tuesday", "ham") for i in range(6)]
    variants = augmenter.augment(rare + common, extra=4, below=5)
    assert variants == Augmenter.load(tiny_model, seed=3).augment(rare + common, extra=4, below=5)
    assert 3 < len(variants) <= 12 and {(v.label, v.weight) for v in variants} == {("spam", 3.0)}
    originals = {e.text for e in rare + common}
    assert not {v.text for v in variants} & originals and len({v.text for v in variants}) == len(variants)
    assert all(v.text.split() != e.text.split() for v in variants for e in rare)
    assert augmenter.augment(rare + common, extra=4, below=3) == []


def test_the_training_path_augments_the_training_split_only_and_nothing_when_off(tmp_path: Path, tiny_model: str,
                                                                                 run: Runner) -> None:
    cfg = write_config(tmp_path, tiny_model)
    off = load_settings(cfg, env={})
    on = load_settings(cfg, env={"LOOKOUT_TRAINING_AUGMENT": "2", "LOOKOUT_TRAINING_AUGMENT_BELOW": "80"})
    assert off.training.augment == 0 and off.training.augment_below == 50
    store = Store(off.store.path)
    store.import_examples("spam", [(r["text"], r["label"], "") for r in sample()], "sample")
    data = gather(store, off, task_spec(off, "spam"), since=0)
    assert gather(store, on, task_spec(on, "spam"), since=0) == data
    store.close()
    assert train_split(data, off) is data.train

    counts = Counter(e.label for e in data.train)
    assert counts["spam"] < 80 <= counts["ham"]
    augmented = train_split(data, on)
    variants = augmented[len(data.train):]
    assert augmented[:len(data.train)] == data.train
    assert 0 < len(variants) <= 2 * counts["spam"] and {v.label for v in variants} == {"spam"}
    held = {" ".join(e.text.lower().split()) for e in [*data.val, *data.holdout]}
    assert not {" ".join(v.text.lower().split()) for v in variants} & held

    data_file = tmp_path / "labels.jsonl"
    data_file.write_text("".join(json.dumps(r) + "\n" for r in sample()))
    assert run("labels", "import", str(data_file), "--task", "spam", "-c", str(cfg)).returncode == 0
    result = run("train", "spam", "--epochs", "1", "-c", str(cfg), LOOKOUT_TRAINING_AUGMENT="2",
                 LOOKOUT_TRAINING_AUGMENT_BELOW="80")
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "lookout.db.models" / "spam" / "v1" / "meta.json").read_text())
    reported = meta["metrics"]["data"]
    assert reported["augmented"] == len(variants)
    assert (reported["train"], reported["val"], reported["holdout"]) == (len(data.train), len(data.val),
                                                                         len(data.holdout))
    assert sum(map(sum, meta["metrics"]["holdout"]["confusion"])) == len(data.holdout)
    store = Store(off.store.path)
    assert f"Plus {len(variants)} augmented variants" in store.run(1).notes[0]
    store.close()
