"""What Slack checks of a request before it acts, for the fake Web API: the scopes each method needs, and Block Kit's
limits for messages and views (a message or view over them is refused with ``invalid_blocks``, as Slack does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "slack-manifest.yml"

METHOD_SCOPES: dict[str, str] = {
    "auth.test": "",
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.getPermalink": "",
    "conversations.members": "channels:read",
    "conversations.info": "channels:read",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "conversations.join": "channels:join",
    "users.info": "users:read",
    "views.open": "",
    "views.publish": "",
    "views.update": "",
    "views.push": "",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
    "reactions.get": "reactions:read",
}
"""Web API method -> the bot-token scope it needs ("" for none), from each method's page on api.slack.com/methods
(``conversations.*`` on a public channel; a private one takes the ``groups:`` scope instead)."""

EVENT_SCOPES: dict[str, str] = {
    "app_home_opened": "",
    "app_mention": "app_mentions:read",
    "message.im": "im:history",
    "reaction_added": "reactions:read",
}
"""Bot event -> the scope its subscription needs, from api.slack.com/events."""


def manifest_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot scopes an app made from the manifest at ``path`` gets."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


TEXT_LIMITS = {"header": 150, "section": 3000, "context": 3000, "button": 75, "option": 75, "placeholder": 150,
               "field": 2000}
CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}
VIEW_LIMITS = {"title": 24, "submit": 24, "close": 24, "private_metadata": 3000}


def block_errors(blocks: Any, most: int = 50, where: str = "/blocks") -> list[str]:
    """Slack's complaints about ``blocks`` (a list, or its JSON) of a message (``most`` 50) or a view (100): one per
    limit broken, with a JSON pointer under ``where``."""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    errors = [f"must be no more than {most} items [json-pointer:{where}]"] if len(blocks) > most else []
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(ids) != len(set(ids)):
        errors.append(f"block_id must be unique [json-pointer:{where}]")
    for n, block in enumerate(blocks):
        errors += _block(block, f"{where}/{n}")
    return errors


def view_errors(view: Any) -> list[str]:
    """Slack's complaints about a modal or Home tab ``view`` (a dict, or its JSON): its title, submit and close
    texts, its private_metadata, and its blocks."""
    if isinstance(view, str):
        view = json.loads(view)
    errors = [e for part, limit in VIEW_LIMITS.items() for e in _over(view.get(part, ""), limit, f"/view/{part}")]
    return errors + block_errors(view.get("blocks", []), 100, "/view/blocks")


def _over(text: Any, limit: int, where: str) -> list[str]:
    value = text.get("text", "") if isinstance(text, dict) else str(text)
    return [f"must be less than {limit + 1} characters [json-pointer:{where}]"] if len(value) > limit else []


def _block(block: dict[str, Any], where: str) -> list[str]:
    kind, errors = block.get("type", ""), _over(block.get("block_id", ""), 255, f"{where}/block_id")
    if kind in ("header", "section", "context") and "text" in block:
        errors += _over(block["text"], TEXT_LIMITS[kind], f"{where}/text")
    if len(block.get("fields", [])) > 10:
        errors.append(f"must be no more than 10 items [json-pointer:{where}/fields]")
    for i, field in enumerate(block.get("fields", [])):
        errors += _over(field, TEXT_LIMITS["field"], f"{where}/fields/{i}")
    elements = block.get("elements", [])
    if len(elements) > {"actions": 25, "context": 10}.get(kind, 100):
        errors.append(f"too many elements [json-pointer:{where}/elements]")
    for i, element in enumerate([*elements, *([block["accessory"]] if "accessory" in block else [])]):
        errors += _element(element, f"{where}/elements/{i}")
    return errors


def _element(element: dict[str, Any], where: str) -> list[str]:
    kind = element.get("type", "")
    errors = _over(element.get("action_id", ""), 255, f"{where}/action_id")
    if kind == "mrkdwn" or kind == "plain_text":
        errors += _over(element, TEXT_LIMITS["context"], f"{where}/text")
    if kind == "button":
        errors += _over(element["text"], TEXT_LIMITS["button"], f"{where}/text")
        errors += _over(element.get("value", ""), 2000, f"{where}/value")
        errors += _over(element.get("url", ""), 3000, f"{where}/url")
    if "placeholder" in element:
        errors += _over(element["placeholder"], TEXT_LIMITS["placeholder"], f"{where}/placeholder")
    options = element.get("options", [])
    if len(options) > 100:
        errors.append(f"must be no more than 100 items [json-pointer:{where}/options]")
    for i, option in enumerate(options):
        errors += _over(option["text"], TEXT_LIMITS["option"], f"{where}/options/{i}/text")
        errors += _over(option.get("value", ""), 150, f"{where}/options/{i}/value")
    for part, limit in CONFIRM_LIMITS.items():
        if "confirm" in element:
            errors += _over(element["confirm"].get(part, ""), limit, f"{where}/confirm/{part}")
    return errors
