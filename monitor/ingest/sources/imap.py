"""Email over IMAP (aioimaplib): new messages pushed by IDLE, or polled where the server has no IDLE.

The position is the folder's UIDVALIDITY and the last UID stored, so a restart neither skips nor repeats a message.
When UIDVALIDITY changes the folder is read again from the start; item ids come from Message-ID, so what was
already stored is not stored twice. Messages are fetched in chunks of bounded count and size, at most
``LIMITS.max_bytes`` of each, and parsed in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.config.fields import setting
from monitor.ingest.item import Item
from monitor.ingest.sources import Batch, Source, SourceKind
from monitor.ingest.sources.mail import LIMITS, parse_each

if TYPE_CHECKING:
    import aioimaplib

log = logging.getLogger(__name__)
FETCH_CHUNK = 50
FETCH_BYTES = 64 * 2**20
_FETCH = re.compile(rb"FETCH \(.*UID (\d+).*\{\d+\}$")
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class ImapError(Exception):
    """The IMAP server refused or broke off; the message says how."""


def _ok(response: Any, what: str) -> Any:
    if response.result != "OK":
        detail = b" ".join(line for line in response.lines if isinstance(line, bytes)).decode(errors="replace")
        raise ImapError(f"{what} failed: {response.result} {detail}".strip())
    return response


def _chunks(sizes: dict[int, int]) -> Iterator[list[int]]:
    """The UIDs in order, in chunks of at most ``FETCH_CHUNK`` messages and ``FETCH_BYTES`` (each message counted
    up to ``LIMITS.max_bytes``, all that is fetched of it)."""
    chunk: list[int] = []
    used = 0
    for uid in sorted(sizes):
        size = min(sizes[uid], LIMITS.max_bytes)
        if chunk and (len(chunk) == FETCH_CHUNK or used + size > FETCH_BYTES):
            yield chunk
            chunk, used = [], 0
        chunk.append(uid)
        used += size
    if chunk:
        yield chunk


class ImapSource:
    """One IMAP folder, followed live; see the module docstring."""

    kind = "imap"
    live = True
    total: int | None = None

    def __init__(self, name: str, host: str, port: int, user: str, password: str, folder: str = "INBOX",
                 security: str = "tls", idle: bool = True, poll_seconds: float = 60.0, reidle_seconds: float = 600.0,
                 timeout: float = 30.0, max_chars: int = 20_000, interval: float = 5.0,
                 max_backoff: float = 600.0, ca_file: str = "") -> None:
        self.name = name
        self.host, self.port, self.user, self.password = host, port, user, password
        self.folder = folder
        self.security = security
        self.use_idle = idle
        self.poll_seconds = poll_seconds
        self.reidle_seconds = reidle_seconds
        self.timeout = timeout
        self.max_chars = max_chars
        self.interval = interval
        self.max_backoff = max_backoff
        self.ca_file = ca_file
        self._client: aioimaplib.IMAP4 | None = None
        self._lost = False

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        """Upgrade the plain connection with STARTTLS (aioimaplib sends the command; asyncio swaps the transport)."""
        import aioimaplib

        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError(f"{self.host}:{self.port} does not offer STARTTLS")
        _ok(await asyncio.wait_for(protocol.execute(aioimaplib.Command("STARTTLS", protocol.new_tag(),
                                                                       loop=protocol.loop)), self.timeout),
            "STARTTLS")
        try:
            protocol.transport = await protocol.loop.start_tls(protocol.transport, protocol, self._tls(),
                                                               server_hostname=self.host)
        except (ssl.SSLError, OSError) as exc:
            raise ImapError(f"TLS handshake with {self.host}:{self.port} failed: {exc}") from None
        await asyncio.wait_for(protocol.capability(), self.timeout)
    async def _hello(self, client: aioimaplib.IMAP4, gone: asyncio.Event) -> None:
        """Wait for the server's greeting and its first answer, at most ``timeout`` seconds and no longer than the
        connection lives. aioimaplib's own timeout cannot end a wait it makes after the greeting (it holds its
        state lock), so the wait is abandoned and the connection closed instead."""
        hello = asyncio.ensure_future(client.wait_hello_from_server())
        hello.add_done_callback(lambda task: task.cancelled() or task.exception())
        closed = asyncio.ensure_future(gone.wait())
        done, _ = await asyncio.wait({hello, closed}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if hello not in done:
            hello.cancel()
            transport = getattr(client.protocol, "transport", None)
            if transport is not None:
                transport.close()
            why = "closed the connection" if gone.is_set() else f"did not answer within {self.timeout:g} s"
            raise ImapError(f"{self.host}:{self.port} greeted but {why}; is it an IMAP server?")
        error = hello.exception()
        if isinstance(error, (OSError, TimeoutError)):
            raise ImapError(f"cannot reach {self.host}:{self.port}: {error or type(error).__name__}") from None
        if error is not None:
            raise error

    async def _connect(self) -> tuple[aioimaplib.IMAP4, int, bool]:
        import aioimaplib

        self._lost = False
        gone = asyncio.Event()

        def lost(_: Exception | None) -> None:
            self._lost = True
            gone.set()
            if self._client is not None:
                self._client.protocol.idle_queue.put_nowait(aioimaplib.STOP_WAIT_SERVER_PUSH)

        client = aioimaplib.IMAP4(self.host, self.port, timeout=self.timeout, conn_lost_cb=lost,
                                  ssl_context=self._tls() if self.security == "tls" else None)
        self._client = client
        await self._hello(client, gone)
        if self.security == "starttls":
            await self._starttls(client)
        login = await client.login(self.user, self.password)
        if login.result != "OK":
            raise ImapError(f"login as {self.user} refused")
        can_idle = any(b"IDLE" in line for line in login.lines if isinstance(line, bytes)) or \
            client.has_capability("IDLE")
        selected = _ok(await client.select(self.folder), f"SELECT {self.folder}")
        found = next((_UIDVALIDITY.search(line) for line in selected.lines
                      if isinstance(line, bytes) and _UIDVALIDITY.search(line)), None)
        if found is None:
            raise ImapError(f"{self.folder}: the server sent no UIDVALIDITY")
        return client, int(found.group(1)), can_idle

    async def _sizes_since(self, client: aioimaplib.IMAP4, last_uid: int) -> dict[int, int]:
        """The size of each message after ``last_uid``, by UID."""
        found = _ok(await client.uid("fetch", f"{last_uid + 1}:*", "(UID RFC822.SIZE)"), "UID FETCH")
        sizes = {}
        for line in found.lines:
            uid, size = (_UID.search(line), _SIZE.search(line)) if isinstance(line, bytes) else (None, None)
            if uid and size and int(uid.group(1)) > last_uid:
                sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    async def _fetch_since(self, client: aioimaplib.IMAP4, last_uid: int) -> tuple[list[Item], int]:
        sizes = await self._sizes_since(client, last_uid)
        items: list[Item] = []
        for chunk in _chunks(sizes):
            fetched = _ok(await client.uid("fetch", ",".join(map(str, chunk)),
                                           f"(UID BODY[]<0.{LIMITS.max_bytes + 1}>)"), "UID FETCH")
            lines = fetched.lines
            messages = [(f"UID {match.group(1).decode()}", bytes(lines[i + 1])) for i, line in enumerate(lines[:-1])
                        if isinstance(line, bytes) and (match := _FETCH.search(line))]
            items += await asyncio.to_thread(parse_each, messages, self.name, self.max_chars, f"imap {self.name}")
        return items, max([last_uid, *sizes])

    async def _wait_for_news(self, client: aioimaplib.IMAP4, can_idle: bool) -> None:
        import aioimaplib

        if not (self.use_idle and can_idle):
            await asyncio.sleep(self.poll_seconds)
            _ok(await client.noop(), "NOOP")
            return
        idle = await client.idle_start(timeout=self.reidle_seconds)
        try:
            while client.has_pending_idle():
                pushed = await client.wait_server_push()
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH or any(
                        isinstance(line, bytes) and line.endswith(b"EXISTS") for line in pushed):
                    break
        finally:
            if not self._lost:
                client.idle_done()
                await asyncio.wait_for(idle, self.timeout)
        if self._lost:
            raise ImapError(f"connection to {self.host}:{self.port} lost")

    async def stream(self, position: dict[str, Any]) -> AsyncIterator[Batch]:
        client, uidvalidity, can_idle = await self._connect()
        last_uid = int(position.get("last_uid", 0))
        if position.get("uidvalidity") not in (None, uidvalidity):
            log.warning("imap %s: UIDVALIDITY of %s changed (%s -> %s); reading the folder again, known messages "
                        "are recognised by Message-ID", self.name, self.folder, position["uidvalidity"], uidvalidity)
            last_uid = 0
        try:
            while True:
                items, last_uid = await self._fetch_since(client, last_uid)
                yield Batch(items, {"uidvalidity": uidvalidity, "last_uid": last_uid})
                await self._wait_for_news(client, can_idle)
        finally:
            await self.close()

    async def close(self) -> None:
        import aioimaplib

        client, self._client = self._client, None
        if client is not None and not self._lost:
            with contextlib.suppress(aioimaplib.AioImapException, OSError, TimeoutError, AttributeError):
                await asyncio.wait_for(client.logout(), 5)


@dataclass(frozen=True)
class ImapSettings:
    name: str = setting(help="Unique name of the mailbox source.")
    host: str = setting(help="IMAP server host name.")
    user: str = setting(help="Login name.")
    port: int = setting(993, "IMAP port (993 for TLS).", low=1, high=65535)
    password_env: str = setting("LOOKOUT_IMAP_PASSWORD", "Environment variable that holds the password.")
    folders: tuple[str, ...] = setting(factory=lambda: ("INBOX",),
                                       help="Folders to follow (each one is a source named `<name>/<folder>` "
                                            "when there are several).")
    security: str = setting("tls", "`tls` (implicit TLS, port 993), `starttls` (port 143) or `none` (plain text: "
                                   "only for a server on this machine).", choices=("tls", "starttls", "none"))
    ca_file: str = setting("", "PEM file of the CA to trust for this server; empty uses the system's trust store.")
    idle: bool = setting(True, "Use IMAP IDLE for push when the server offers it; else poll.")
    poll_seconds: float = setting(60.0, "Seconds between polls when IDLE is off or not offered.", low=0.05)
    reidle_minutes: float = setting(10.0, "Renew IDLE this often (servers drop IDLE after 30 minutes).", low=0.001)
    timeout_seconds: float = setting(30.0, "Seconds before an IMAP command is given up.", low=0.1)
    max_chars: int = setting(20_000, "Longest message text kept; longer text is cut with a marker.", low=100)
    max_backoff_seconds: float = setting(600.0, "Longest wait between reconnection attempts.", low=0.05)


def _check(box: ImapSettings) -> Iterator[str]:
    if not box.folders:
        yield "folders: expected at least one folder"


def _build(m: ImapSettings, secrets: Mapping[str, str]) -> list[Source]:
    """One source per folder, named ``<name>/<folder>`` when there are several."""
    return [ImapSource(m.name if len(m.folders) == 1 else f"{m.name}/{folder}", m.host, m.port, m.user,
                       secrets[m.password_env], folder=folder, security=m.security, idle=m.idle,
                       poll_seconds=m.poll_seconds, reidle_seconds=m.reidle_minutes * 60, timeout=m.timeout_seconds,
                       max_chars=m.max_chars, max_backoff=m.max_backoff_seconds, ca_file=m.ca_file)
            for folder in m.folders]


KIND = SourceKind("imap", "imap", ImapSettings, _build, target="host", secrets={"password_env": True}, check=_check)
