"""Who may do what, in one place: ``RULES`` says which slash commands, buttons, menus, modal submissions and events
need one of Lookout's admins or a member of its channels, and one global Bolt middleware enforces it before any
listener runs. A request that no rule names is refused, so a new listener cannot forget its check; and what the bot
shows of a URL never carries its credentials."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.commands import UsageError, parse

log = logging.getLogger(__name__)


class Need(Enum):
    """What a request needs of the user who sends it."""

    ANYONE = "anyone"
    MEMBER = "member"
    """a member of one of ``bot.channels`` (everyone, when none are set)"""
    ADMIN = "admin"
    """one of ``bot.admins``; when none are set, one of the workspace's admins and owners"""


@dataclass(frozen=True)
class Rule:
    need: Need
    what: str = ""
    """what an admin may do, for the refusal: "Only Lookout's admins may {what}"."""


SUBCOMMANDS = ("watch", "digest")
"""commands whose first argument picks what is done (``watch add``, ``digest schedule``), each with its own rule"""
ANYONE = Rule(Need.ANYONE)
MEMBER = Rule(Need.MEMBER)
Key = tuple[str, str]
RULES: dict[Key, Rule] = {
    ("command", "/lookout help"): ANYONE,
    ("command", "/lookout status"): ANYONE,
    ("command", "/lookout topics"): ANYONE,
    ("command", "/lookout topic"): ANYONE,
    ("command", "/lookout trends"): ANYONE,
    ("command", "/lookout search"): ANYONE,
    ("command", "/lookout watch list"): ANYONE,
    ("command", "/lookout watch add"): Rule(Need.ADMIN, "change what is watched"),
    ("command", "/lookout watch remove"): Rule(Need.ADMIN, "change what is watched"),
    ("command", "/lookout label"): MEMBER,
    ("command", "/lookout mute"): Rule(Need.ADMIN, "mute topics"),
    ("command", "/lookout mutes"): ANYONE,
    ("command", "/lookout unmute"): Rule(Need.ADMIN, "unmute topics"),
    ("command", "/lookout retrain"): Rule(Need.ADMIN, "ask for a retrain"),
    ("command", "/lookout taxonomy"): Rule(Need.ADMIN, "propose a taxonomy"),
    ("command", "/lookout digest"): ANYONE,
    ("command", "/lookout digest schedule"): Rule(Need.ADMIN, "change the digest schedule"),
    ("action", "lookout_home_search"): ANYONE,
    ("action", "lookout_home_digest"): ANYONE,
    ("view", "lookout_search"): ANYONE,
    ("command", "/lookout subscriptions"): ANYONE,
    ("command", "/lookout subscribe"): Rule(Need.ADMIN, "change a channel's subscriptions"),
    ("command", "/lookout unsubscribe"): Rule(Need.ADMIN, "change a channel's subscriptions"),
    ("action", "lookout_open"): ANYONE,
    ("action", "lookout_confirm"): MEMBER,
    ("action", "lookout_relabel"): MEMBER,
    ("action", "lookout_answer"): MEMBER,
    ("action", "lookout_mute"): Rule(Need.ADMIN, "mute topics"),
    ("action", "lookout_unmute"): Rule(Need.ADMIN, "unmute topics"),
    ("action", "lookout_tax_label"): Rule(Need.ADMIN, "change a taxonomy"),
    ("action", "lookout_tax_discard"): Rule(Need.ADMIN, "change a taxonomy"),
    ("action", "lookout_tax_accept"): Rule(Need.ADMIN, "accept a taxonomy"),
    ("view", "lookout_tax_edit"): Rule(Need.ADMIN, "change a taxonomy"),
    ("view", "lookout_tax_accept"): Rule(Need.ADMIN, "accept a taxonomy"),
    ("event", "app_home_opened"): ANYONE,
    ("event", "app_mention"): ANYONE,
    ("event", "message"): ANYONE,
    ("event", "reaction_added"): MEMBER,
}


def key_of(body: dict[str, Any]) -> Key | None:
    """The rule a request is checked under: ``("command", "/lookout watch add")``, ``("action", "lookout_mute")``
    (an action id up to its first ``:``), ``("view", callback_id)`` or ``("event", type)``; ``None`` for a slash
    command that does not parse (its listener answers with the usage and changes nothing)."""
    if "command" in body:
        try:
            cmd = parse(str(body.get("text", "")))
        except UsageError:
            return None
        return "command", " ".join([str(body["command"]), cmd.name, *cmd.args[:1 if cmd.name in SUBCOMMANDS else 0]])
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return "action", str(actions[0].get("action_id", "")).split(":")[0]
    if kind == "view_submission":
        return "view", str((body.get("view") or {}).get("callback_id", ""))
    if kind == "event_callback":
        return "event", str((body.get("event") or {}).get("type", ""))
    return str(kind or "request"), ""


class MembersUnknown(Exception):
    """Slack did not say who is in a channel (an error or a dropped connection): the user should try again."""


class AdminsUnknown(Exception):
    """Slack did not say whether a user is a workspace admin (an error or a dropped connection)."""


class Admins:
    """Who may do what ``Need.ADMIN`` guards: the users of ``bot.admins`` when it names any; otherwise the
    workspace's admins and owners, as ``users.info`` tells (``is_admin``, ``is_owner``), each user's answer kept
    for ``ttl`` seconds of ``clock``."""

    def __init__(self, admins: Sequence[str], ttl: float = 300.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.admins = set(admins)
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, bool]] = {}

    async def include(self, client: AsyncWebClient, user: str) -> bool:
        """Whether ``user`` is an admin; raises ``AdminsUnknown`` when Slack cannot tell."""
        if self.admins:
            return user in self.admins
        cached = self._cache.get(user)
        if cached is None or self.clock() - cached[0] > self.ttl:
            try:
                found = (await client.users_info(user=user)).get("user") or {}
            except SlackApiError as exc:
                error = str(exc.response.get("error"))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                error = type(exc).__name__
            else:
                cached = self.clock(), bool(found.get("is_admin") or found.get("is_owner"))
                self._cache[user] = cached
                return cached[1]
            log.error("cannot tell whether %s is a workspace admin: %s", user, error)
            raise AdminsUnknown(error)
        return cached[1]


class ChannelMembers:
    """Who belongs to the configured channels (``conversations.members``, each channel's list kept for ``ttl``
    seconds of ``clock``); with no channels configured, everyone does."""

    def __init__(self, channels: Sequence[str], ttl: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.channels = list(channels)
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, set[str]]] = {}

    async def include(self, client: AsyncWebClient, user: str) -> bool:
        """Whether ``user`` is in one of the channels; raises ``MembersUnknown`` when that cannot be told."""
        if not self.channels:
            return True
        failed: list[str] = []
        for channel in self.channels:
            cached = self._cache.get(channel)
            if cached is None or self.clock() - cached[0] > self.ttl:
                try:
                    cached = self.clock(), await self._fetch(client, channel)
                except MembersUnknown as exc:
                    failed.append(str(exc))
                    continue
                self._cache[channel] = cached
            if user in cached[1]:
                return True
        if failed:
            raise MembersUnknown(", ".join(failed))
        return False

    @staticmethod
    async def _fetch(client: AsyncWebClient, channel: str) -> set[str]:
        found: set[str] = set()
        cursor = None
        try:
            while True:
                page = await client.conversations_members(channel=channel, cursor=cursor, limit=1000)
                found |= set(page.get("members", []))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return found
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = type(exc).__name__
        log.error("cannot list the members of %s: %s", channel, error)
        raise MembersUnknown(error)


Next = Callable[[], Awaitable[None]]


def enforce(app: AsyncApp, admins: Sequence[str], members: ChannelMembers) -> None:
    """Check every request against ``RULES`` before any listener of ``app`` sees it; with no ``admins``, the
    workspace's admins and owners are (``Admins``)."""
    guards = Admins(admins, clock=members.clock)

    async def check(body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient, ack: AsyncAck,
                    respond: AsyncRespond | None, next_: Next) -> BoltResponse | None:
        key = key_of(body)
        if key is None:
            return await next_()
        rule, user = RULES.get(key), context.user_id or ""
        refusal = None
        if rule is None:
            log.error("refused a %s %r: no rule in bot.access.RULES says who may send it", *key)
            refusal = messages.NOT_ALLOWED
        elif rule.need is Need.ADMIN:
            refusal = await _admin_refusal(guards, client, user, rule.what)
        elif rule.need is Need.MEMBER:
            try:
                if not await members.include(client, user):
                    refusal = messages.WRONG_CHANNEL
            except MembersUnknown as exc:
                refusal = messages.members_unknown(str(exc))
        if refusal is None:
            return await next_()
        return await _refuse(key[0], body, ack, respond, refusal)

    app.use(check)


async def _admin_refusal(admins: Admins, client: AsyncWebClient, user: str, what: str) -> str | None:
    """Why ``user`` may not do an admin's ``what``, or None when they may."""
    try:
        if await admins.include(client, user):
            return None
    except AdminsUnknown as exc:
        return messages.admins_unknown(str(exc))
    return (messages.NOT_ADMIN if admins.admins else messages.NOT_WORKSPACE_ADMIN).format(what=what)


async def _refuse(kind: str, body: dict[str, Any], ack: AsyncAck, respond: AsyncRespond | None, text: str
                  ) -> BoltResponse:
    """Answer a refused request where its user sees it, changing nothing."""
    if kind == "command":
        return await ack(response_type="ephemeral", text=text)
    if kind == "view":
        blocks = list(((body.get("view") or {}).get("state") or {}).get("values") or {})
        return await ack(response_action="errors", errors={blocks[0]: text}) if blocks else await ack()
    answered = await ack()
    if kind == "action" and respond is not None:
        await respond(response_type="ephemeral", replace_original=False, text=text)
    return answered


SECRET_PARAMETER = re.compile(r"token|key|secret|pass|auth|sig|session|credential", re.I)
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/?#]*@", re.I)
PARAMETER = re.compile(r"(?<=[?&#;])([^=&#;]*)=([^&#;]*)")


def redact_url(target: str) -> str:
    """``target`` with the credentials a URL may carry masked: ``https://user:pass@host/feed?token=abc&page=2`` ->
    ``https://***@host/feed?token=***&page=2`` (any query or fragment parameter whose name sounds secret); what is
    not a URL (a path, a pattern) is returned as it is."""
    if not URL.match(target):
        return target
    return PARAMETER.sub(lambda m: f"{m[1]}=***" if SECRET_PARAMETER.search(m[1]) and m[2] else m[0],
                         USERINFO.sub(r"\1***@", target))
