"""The shape of the project: dependencies flow bot -> monitor -> models, the README opens with the two commands, and
the Slack manifest asks for what the app handles (tests/test_docs.py checks the documentation itself)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def imported_packages(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(("package", "forbidden"), [
    ("models", {"monitor", "bot", "slack_sdk", "slack_bolt", "sqlite_utils", "sqlite3", "asyncio", "aiohttp"}),
    ("monitor", {"bot", "slack_sdk", "slack_bolt"}),
])
def test_dependencies_flow_one_way(package: str, forbidden: set[str]) -> None:
    assert imported_packages(package) & forbidden == set()


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README.split("\n\n")[1] + README.split("\n\n")[2]
    assert "make demo" in README[:1500]


def test_the_slack_manifest_asks_for_what_the_app_handles() -> None:
    manifest = yaml.safe_load((ROOT / "slack-manifest.yml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/lookout" and command["url"].endswith("/slack/events")
    for word in ("help", "status", "topics", "topic <id>", "search", "label", "mute"):
        assert word in command["usage_hint"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {"chat:write", "commands", "app_mentions:read",
                                                              "im:history", "channels:read", "groups:read",
                                                              "reactions:read", "users:read", "files:write",
                                                              "chat:write.public"}
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {"app_home_opened", "app_mention",
                                                                             "message.im", "reaction_added"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
