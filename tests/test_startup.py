"""`lookout --help` and the read-only commands start without the heavy libraries: the parser is built from light
command modules and each handler imports torch, scikit-learn or matplotlib only when it needs them (``topics --tree``
groups topics with scikit-learn's k-means, so it does import it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.store.db import Store
from tests.cli import lookout

HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn")


def imported(stderr: str) -> set[str]:
    """The modules that ``PYTHONPROFILEIMPORTTIME`` (the same as ``-X importtime``) reports as imported."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args", [
    ("--help",), ("settings",), ("status",), ("status", "--json"), ("topics",), ("items",),
    ("models", "list"), ("watch", "list"), ("trends",),
])
def test_help_and_read_only_commands_do_not_import_torch_or_scikit_learn(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "lookout.db"
    Store(db).close()
    store = () if args == ("--help",) or args[0] == "settings" else ("--db", str(db))
    done = lookout(*args, *store, PYTHONPROFILEIMPORTTIME="1")
    assert done.returncode == 0, done.stderr[-2000:]
    modules = imported(done.stderr)
    assert "monitor.cli.main" in modules
    assert {m for m in modules if m.split(".")[0] in HEAVY} == set()


def test_a_command_that_needs_the_model_still_imports_it_when_it_runs(tmp_path: Path) -> None:
    """The check above can fail: ``lookout search`` embeds the words, so its handler imports torch."""
    db = tmp_path / "lookout.db"
    Store(db).close()
    done = lookout("search", "anything", "--db", str(db), PYTHONPROFILEIMPORTTIME="1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch" in imported(done.stderr)
