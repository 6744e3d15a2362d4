"""The documentation says what the code does: one test per setting, per command and per Slack subcommand, checking
the defaults and help texts as well as the names, and every relative link leads somewhere."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bot.access import RULES, Need
from bot.cli import add_bot
from bot.messages import USAGE
from monitor.cli.main import build_parser
from monitor.config.reference import reference
from tests.cli import lookout_here

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
COMMANDS = (DOCS / "commands.md").read_text(encoding="utf-8")
SLACK = (DOCS / "slack.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
SUBCOMMANDS: dict[str, argparse.ArgumentParser] = \
    build_parser(add_bot)._subparsers._group_actions[0].choices  # type: ignore[union-attr]
SLASH = sorted(key.removeprefix("/lookout ") for kind, key in RULES if kind == "command")


def cells(row: str) -> list[str]:
    """The cells of one Markdown table row, stripped (``\\|`` stays inside a cell)."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    match = re.search(rf"^{re.escape(heading)}\n(.*?)(?=^#{{1,{len(level)}}} |\Z)", text, re.M | re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


def option_row(action: argparse.Action) -> str:
    """How docs/commands.md lists one argument of a command: its names, its default, and its help text."""
    names = ", ".join(f"`{name}`" for name in action.option_strings) or f"`{action.metavar or action.dest}`"
    if action.choices:
        names += " (" + ", ".join(f"`{choice}`" for choice in action.choices) + ")"
    shown = action.default not in (None, False, argparse.SUPPRESS) and "default" not in (action.help or "")
    default = f"`{action.default}`" if shown else ""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in (names, default, action.help or "")) + " |"


def test_configuration_page_is_what_the_command_prints(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    result = lookout_here(capsys, monkeypatch, "settings", "--markdown")
    assert result.returncode == 0
    assert result.stdout == CONFIGURATION, \
        "docs/configuration.md is out of date: regenerate it with `lookout settings --markdown > docs/configuration.md`"


@pytest.mark.parametrize(("key", "default", "meaning"), reference(), ids=[key for key, _, _ in reference()])
def test_configuration_page_gives_each_settings_default_and_meaning(key: str, default: str, meaning: str) -> None:
    rows = [cells(line) for line in CONFIGURATION.splitlines() if line.startswith(f"| {key} ")]
    assert rows == [[key, default, meaning]]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_commands_page_documents_each_command_with_its_arguments(name: str) -> None:
    parser = SUBCOMMANDS[name]
    assert re.search(rf"^\| `lookout {name}\b", COMMANDS, re.M), f"no overview row for lookout {name}"
    text = section(COMMANDS, f"## lookout {name}")
    assert parser.description in text.replace("\n", " ")
    documented = [line for line in text.splitlines() if line.startswith("| `")]
    expected = [option_row(a) for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    assert documented == expected, f"the arguments of `lookout {name}` in docs/commands.md should read:\n" + \
        "\n".join(expected)


def test_commands_page_documents_no_command_that_does_not_exist() -> None:
    assert set(re.findall(r"^## lookout (\S+)$", COMMANDS, re.M)) == set(SUBCOMMANDS)


@pytest.mark.parametrize("name", SLASH)
def test_slack_page_documents_each_slash_command_and_who_may_use_it(name: str) -> None:
    rows = [line for line in SLACK.splitlines()
            if re.match(rf"\| `/lookout {name.split()[0]}\b", line) and re.search(rf"`(/lookout )?{name}\b", line)]
    assert rows, f"no row for /lookout {name} in docs/slack.md"
    need = RULES["command", f"/lookout {name}"].need
    said = {Need.ADMIN: "admins only", Need.MEMBER: "members of `bot.channels` only", Need.ANYONE: ""}[need]
    assert any(said in row for row in rows), f"the row for /lookout {name} should say {said!r}"


@pytest.mark.parametrize("name", USAGE)
def test_slack_page_shows_each_usage_the_bot_answers_with(name: str) -> None:
    for form in re.findall(r"`([^`]+)`", USAGE[name]):
        assert f"`{form}`" in SLACK, form


LINKS = [(page, target) for page in PAGES
         for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
         if not target.startswith(("http://", "https://", "mailto:"))]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown page."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p.name}->{t}" for p, t in LINKS])
def test_relative_links_lead_to_a_file_and_heading(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.exists(), f"{page.name}: {target} leads nowhere"
    if anchor:
        assert anchor in anchors(linked), f"{page.name}: {target} names no heading of {linked.name}"
