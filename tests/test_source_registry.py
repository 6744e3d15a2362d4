"""A source kind is one module (settings dataclass, source class, ``KIND``) plus one entry in ``KINDS``: the settings
file, the settings reference, the checks across settings, ``build_sources`` and the service's lists all follow the
registry. A throwaway kind defined here, and registered only by adding it to ``KINDS``, proves it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from monitor.config.dump import to_toml
from monitor.config.fields import setting
from monitor.config.load import load_settings
from monitor.config.reference import reference
from monitor.config.schema import ConfigError, Settings, lists
from monitor.ingest.item import Item, make_id, utcnow
from monitor.ingest.registry import KINDS, build_sources
from monitor.ingest.sources import Batch, Source, SourceKind
from monitor.service import configured_names, watches
from monitor.store.db import Store
from tests.cli import lookout

ONE_ROW = {
    "feeds": 'url = "https://example.org/feed.xml"',
    "replays": 'path = "{tmp}/stream.jsonl"',
    "imap": 'host = "127.0.0.1"\nuser = "ada"',
    "reddit": 'subreddit = "python"',
    "mastodon": 'base_url = "https://mastodon.example"\ntag = "python"',
    "bluesky": "",
}
NETWORK_LIBRARIES = ("aiohttp", "feedparser", "aioimaplib")


@dataclass(frozen=True)
class NoteSettings:
    name: str = setting(help="Unique name of the notes source.")
    path: str = setting(help="File of notes, one a line.")
    key_env: str = setting("LOOKOUT_NOTES_KEY", "Environment variable holding the notes' key.")
    limit: int = setting(10, "Most notes read.", low=1)


class NoteSource:
    """Streams the lines it was given as items."""

    kind = "note"
    total: int | None = None

    def __init__(self, name: str, lines: list[str], key: str) -> None:
        self.name, self.lines, self.key = name, lines, key

    async def stream(self, position: dict[str, Any]) -> AsyncIterator[Batch]:
        items = [Item(id=make_id(self.name, str(i)), source=self.name, title=line, text=line, fetched=utcnow())
                 for i, line in enumerate(self.lines)]
        yield Batch(items, {"read": len(items)})

    async def close(self) -> None:
        return None


def _check_note(row: NoteSettings) -> Iterator[str]:
    if not row.path.endswith(".txt"):
        yield f"path = {row.path!r}: expected a .txt file"


def _build_note(row: NoteSettings, secrets: Mapping[str, str]) -> list[Source]:
    return [NoteSource(row.name, ["first note", "second note"][:row.limit], secrets[row.key_env])]


NOTES = SourceKind("notes", "note", NoteSettings, _build_note, target="path", secrets={"key_env": True},
                   check=_check_note)


@pytest.fixture
def notes() -> Iterator[SourceKind[NoteSettings]]:
    """The throwaway kind registered the way a new kind is: one more entry in ``KINDS``."""
    KINDS.append(NOTES)
    try:
        yield NOTES
    finally:
        KINDS.remove(NOTES)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lookout.toml"
    path.write_text(text)
    return path


def one_row_each(tmp_path: Path) -> str:
    """One row of every built-in kind, each named ``<section>-1``; the replay's file is made in ``tmp_path``."""
    (tmp_path / "stream.jsonl").write_text('{"text": "hello"}\n')
    return "".join(f'[[{section}]]\nname = "{section}-1"\n{body.format(tmp=tmp_path)}\n\n'
                   for section, body in ONE_ROW.items())


def test_every_registered_kind_is_in_the_settings_file_and_the_reference() -> None:
    keys = {key for key, _, _ in reference()}
    for kind in KINDS:
        assert lists()[kind.section] is kind.settings
        assert {f"[[{kind.section}]] {f.name}" for f in fields(kind.settings)} <= keys
        assert kind.target in {f.name for f in fields(kind.settings)}
    assert list(lists()) == [*(kind.section for kind in KINDS), "tasks", "alerts"]


def test_a_one_row_config_of_every_kind_builds_one_source_of_each(tmp_path: Path) -> None:
    assert set(ONE_ROW) == {kind.section for kind in KINDS}, "give every registered kind a row in ONE_ROW"
    settings = load_settings(write(tmp_path, one_row_each(tmp_path)), env={"LOOKOUT_IMAP_PASSWORD": "pw"})
    built = build_sources(settings)
    assert [(s.name, s.kind) for s in built] == [(f"{k.section}-1", k.name) for k in KINDS]
    assert all(getattr(settings, k.section) == settings.sources[k.section] for k in KINDS)
    assert configured_names(settings) == {f"{k.section}-1" for k in KINDS}
    assert load_settings(write(tmp_path, to_toml(settings)), env={"LOOKOUT_IMAP_PASSWORD": "pw"}) == settings
    with Store(tmp_path / "lookout.db") as store:
        listed = watches(store, settings)
    assert [(w["kind"], w["target"]) for w in listed] == [
        ("feed", "https://example.org/feed.xml"), ("replay", f"{tmp_path}/stream.jsonl"), ("imap", "127.0.0.1"),
        ("reddit", "python"), ("mastodon", "https://mastodon.example"),
        ("bluesky", "wss://jetstream2.us-east.bsky.network/subscribe")]


def test_settings_keep_a_typed_attribute_for_every_built_in_kind() -> None:
    """The one place that names the built-in kinds again: typed access such as ``settings.feeds``."""
    assert all(isinstance(getattr(type(Settings()), k.section, None), property) for k in KINDS)


async def test_a_kind_registered_in_kinds_alone_is_loaded_checked_listed_and_built(
        tmp_path: Path, notes: SourceKind[NoteSettings]) -> None:
    assert '[[notes]] key_env' in {key for key, _, _ in reference()}
    text = '[[notes]]\nname = "team"\npath = "team.txt"\nlimit = 1\n'
    settings = load_settings(write(tmp_path, text), env={"LOOKOUT_NOTES_KEY": "k"})
    assert settings.sources["notes"] == (NoteSettings("team", "team.txt", limit=1),)
    assert settings.secrets["LOOKOUT_NOTES_KEY"] == "k"
    assert load_settings(write(tmp_path, to_toml(settings)), env={"LOOKOUT_NOTES_KEY": "k"}) == settings
    [source] = build_sources(settings)
    assert isinstance(source, NoteSource) and source.key == "k"
    assert [[i.title for i in b.items] async for b in source.stream({})] == [["first note"]]
    with Store(tmp_path / "lookout.db") as store:
        assert watches(store, settings) == [{"name": "team", "kind": "note", "target": "team.txt",
                                             "origin": "config"}]
    assert configured_names(settings) == {"team"}


def test_a_registered_kind_gets_every_check_across_settings(tmp_path: Path,
                                                             notes: SourceKind[NoteSettings]) -> None:
    text = ('[[notes]]\nname = "a"\npath = "a.md"\n[[notes]]\nname = "a"\npath = "b.txt"\n'
            '[[notes]]\nname = "c"\npath = "c.txt"\ntoken = "s3cret"\n'
            '[[feeds]]\nname = "c"\nurl = "https://example.org/feed.xml"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env={})
    problems = caught.value.problems
    assert 'notes "c".token: unknown setting; secrets are not read from the file: set LOOKOUT_NOTES_KEY in the ' \
           'environment instead' in problems
    assert 'notes "a".key_env: the environment variable LOOKOUT_NOTES_KEY is not set' in problems
    assert "notes[1].name = 'a': used twice" in problems
    assert "sources: 'c' used by two sources of different kinds" in problems
    assert "notes \"a\".path = 'a.md': expected a .txt file" in problems


def test_without_the_kind_registered_its_section_is_unknown(tmp_path: Path) -> None:
    """The test above can fail: the same file is refused when ``notes`` is not in ``KINDS``."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, '[[notes]]\nname = "a"\npath = "a.txt"\n'), env={})
    assert any(p.startswith("notes: unknown section") for p in caught.value.problems)


@pytest.mark.parametrize("args", [("settings",), ("watch", "list")])
def test_reading_settings_does_not_import_the_network_libraries(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Every source module is imported with the registry, so each imports aiohttp, feedparser or aioimaplib only
    inside the methods that talk to the network."""
    config = write(tmp_path, one_row_each(tmp_path))
    Store(tmp_path / "lookout.db").close()
    extra = () if args == ("settings",) else ("--config", str(config))
    done = lookout(*args, *extra, PYTHONPROFILEIMPORTTIME="1", LOOKOUT_IMAP_PASSWORD="pw",
                   LOOKOUT_STORE_PATH=str(tmp_path / "lookout.db"))
    assert done.returncode == 0, done.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "monitor.ingest.registry" in modules
    assert {m for m in modules if m.split(".")[0] in NETWORK_LIBRARIES} == set()
