"""Email parsing (the standard email package, policy default) and mailbox-file imports through the CLI."""

from __future__ import annotations

import gzip
import mailbox
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.ingest.sources.mail import Limits, MailError, parse_message, trim_reply
from monitor.ingest.sources.mailbox_file import MailboxSource
from tests.cli import ROOT, env, lookout
from tests.servers import sample_rows

SHARED_MBOXES = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "spamassassin" / "mbox"


def message(subject: str = "Build broken", body: str = "The nightly build fails.", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "Ada <ada@example.org>"
    msg["To"] = "team@example.org"
    msg["Date"] = "Thu, 22 Aug 2002 18:26:25 +0700"
    msg["Message-ID"] = headers.pop("message_id", "<1@example.org>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def encoded_word_subject(words: int = 50_000, fold: bool = False) -> bytes:
    """The Subject of issue 13: RFC 2047 encoded words by the ten thousand (20,000 took the parser past 3 GB)."""
    subject = (b"\r\n " if fold else b" ").join(b"=?utf-8?q?caf=C3=A9_%d?=" % i for i in range(words))
    return (b"Subject: " + subject + b"\r\nMessage-ID: <words-%d@hostile>\r\nFrom: eve@example.org\r\n\r\n"
            b"The body after the subject.\r\n" % fold)


def nested_multipart(depth: int = 2_000) -> bytes:
    """A multipart nested ``depth`` levels deep (2,000 raised RecursionError in the parser)."""
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="level%d"\r\n\r\n--level%d\r\n' % (i, i)
                       for i in range(depth))
    closing = b"".join(b"\r\n--level%d--\r\n" % i for i in reversed(range(depth)))
    return (b"Subject: Nested\r\nMessage-ID: <nested@hostile>\r\nMIME-Version: 1.0\r\n" + opening
            + b"Content-Type: text/plain\r\n\r\nThe innermost words." + closing)


def many_parts(parts: int = 100_000) -> bytes:
    """A multipart of ``parts`` empty parts."""
    return (b"Subject: Parts\r\nMessage-ID: <parts@hostile>\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n"
            b"--p\r\nContent-Type: text/plain\r\n\r\nThe first part.\r\n" + b"--p\r\n\r\n" * parts + b"--p--\r\n")


def many_lines(n: int = 1, lines: int = 1_200_000) -> bytes:
    """A body of ``lines`` one-letter lines: each line costs the parser an object, so these are the dearest bytes."""
    return b"Subject: Lines %d\nMessage-ID: <lines-%d@hostile>\n\nFirst line.\n" % (n, n) + b"a\n" * lines


def many_fields(fields: int = 200_000) -> bytes:
    """A header block of ``fields`` fields, with the Subject and Message-ID after them."""
    return b"X-A: b\n" * fields + b"Subject: Fields\nMessage-ID: <fields@hostile>\n\nThe body.\n"


@pytest.mark.parametrize("raw, title, note", [
    (encoded_word_subject(), "café 0café 1café 2", "a Subject header was cut after 500 encoded words"),
    (encoded_word_subject(fold=True), "café 0café 1café 2", "a Subject header was cut after 500 encoded words"),
    (nested_multipart(), "Nested", "more than 50 multipart or message parts: the further ones were read as plain"),
    (many_parts(), "Parts", "more than 500 MIME parts: reading stopped there"),
    (many_lines(), "Lines 1", "more than 1000000 lines: only the first ones were read"),
    (many_fields(), "", "the header block is larger than 262144 bytes"),
], ids=["encoded-words", "encoded-words-folded", "nested", "parts", "lines", "fields"])
def test_hostile_messages_are_read_within_the_limits_and_say_what_was_left_out(raw: bytes, title: str,
                                                                                note: str) -> None:
    item = parse_message(raw, "inbox")
    assert item.title.startswith(title) and note in item.raw["note"]
    assert len(item.raw["attachments"]) <= 500


def test_what_is_kept_of_a_hostile_message() -> None:
    words = parse_message(encoded_word_subject(), "inbox")
    assert words.raw["message_id"] == "<words-0@hostile>" and words.text == "The body after the subject."
    assert words.title.endswith("café 499")
    parts = parse_message(many_parts(), "inbox")
    assert parts.text == "The first part." and len(parts.raw["attachments"]) == 500
    lines = parse_message(many_lines(), "inbox", max_chars=100)
    assert lines.text.startswith("First line.\na\na") and "more characters not kept" in lines.text
    big = parse_message(message(body="x" * 5000).as_bytes(), "inbox", limits=Limits(max_bytes=1000))
    assert big.title == "Build broken" and big.raw["note"] == ("the message is larger than 1000 bytes: only its "
                                                               "start was read")
    html = message()
    html.set_content("<p>" + "word " * 1000 + "</p>", subtype="html")
    cut_html = parse_message(html.as_bytes(), "inbox", limits=Limits(max_html_chars=100))
    assert cut_html.text.startswith("word word") and "of the HTML body were read" in cut_html.raw["note"]
    long_name = message()
    long_name.add_attachment(b"data", maintype="application", subtype="pdf", filename="report " * 1000 + ".pdf")
    named = parse_message(long_name.as_bytes(), "inbox", limits=Limits(max_fields=12))
    assert named.raw["attachments"][0]["name"].startswith("report report") and named.raw["note"] == (
        "a Content-Disposition header longer than 2048 characters was cut; more than 12 header fields: reading "
        "stopped there")
    assert "note" not in parse_message(message().as_bytes(), "inbox").raw


def test_a_message_the_parser_still_fails_on_keeps_its_headers_and_says_why() -> None:
    item = parse_message(nested_multipart(), "inbox", limits=Limits(max_containers=10_000, max_parts=10_000))
    assert (item.title, item.text, item.raw["message_id"]) == ("Nested", "", "<nested@hostile>")
    assert item.raw["note"].startswith("only the headers were read: the body failed with RecursionError")


def test_a_multipart_message_keeps_its_plain_text_and_lists_attachments() -> None:
    msg = message(body="Plain words here.", in_reply_to="<0@example.org>", references="<0@example.org>")
    msg.add_alternative("<p>HTML <b>words</b></p>", subtype="html")
    msg.add_attachment(b"\x00" * 1234, maintype="application", subtype="octet-stream", filename="dump.bin")
    item = parse_message(msg.as_bytes(), "inbox")
    assert (item.title, item.text, item.author) == ("Build broken", "Plain words here.", "Ada <ada@example.org>")
    assert item.published.isoformat() == "2002-08-22T18:26:25+07:00"
    assert item.raw["attachments"] == [{"name": "dump.bin", "size": 1234, "type": "application/octet-stream"}]
    assert item.raw["in_reply_to"] == "<0@example.org>" and item.raw["message_id"] == "<1@example.org>"
    assert parse_message(msg.as_bytes(), "inbox").id == item.id


def test_an_html_only_message_is_reduced_to_text() -> None:
    msg = message()
    msg.set_content("<html><body><h1>Sale</h1><p>Only <b>today</b></p><script>x()</script></body></html>",
                    subtype="html")
    assert parse_message(msg.as_bytes(), "inbox").text == "Sale\nOnly today"


@pytest.mark.parametrize("charset", ["utf-8", "x-no-such-charset"])
def test_a_wrong_or_unknown_charset_falls_back_and_keeps_the_text(charset: str) -> None:
    raw = (f"Subject: caf\xe9\nMessage-ID: <c@x>\nContent-Type: text/plain; charset={charset}\n\n"
           "Caf\xe9 cr\xe8me br\xfbl\xe9e\n").encode("latin-1")
    item = parse_message(raw, "inbox")
    assert item.text == "Café crème brûlée" and item.raw["charset_fallback"] is True


def test_quoted_replies_and_signatures_are_trimmed() -> None:
    text = "Yes, merged.\n\nOn Mon, 1 Jul 2002, Bob wrote:\n> can you merge?\n> thanks\n\nCheers\n-- \nAda\nCTO"
    assert trim_reply(text) == "Yes, merged.\n\nCheers"


def test_broken_messages_are_rejected_with_a_reason_or_read_as_far_as_possible() -> None:
    with pytest.raises(MailError, match="empty message"):
        parse_message(b"  \n", "inbox")
    garbage = parse_message(bytes(range(256)) * 4, "inbox")
    assert garbage.id
    truncated = message().as_bytes()[:60]
    assert parse_message(truncated, "inbox").title == "Build broken"
    no_date = parse_message(b"Subject: hi\nDate: Tue, 31 Feb 20022 99:99\n\nbody", "inbox")
    assert no_date.published is None and no_date.text == "body"
    huge = parse_message(message(body="word " * 10_000).as_bytes(), "inbox", max_chars=1000)
    assert huge.text.endswith("[… 48999 more characters not kept]") and len(huge.text) < 1100


@pytest.mark.shared
def test_every_message_of_the_spamassassin_corpus_parses() -> None:
    counted = 0
    for path in sorted(SHARED_MBOXES.glob("*.mbox.gz")):
        source = MailboxSource(path.stem, path)
        items = source._read(0, source.total or 0)
        assert len(items) == source.total, path.name
        counted += len(items)
        source._box.close()
    assert counted == 6046


def write_mbox(path: Path, rows: list[dict], gz: bool = False) -> None:
    plain = path.with_suffix("") if gz else path
    box = mailbox.mbox(plain)
    for i, r in enumerate(rows):
        box.add(message(subject=r["title"], body=r["text"], message_id=f"<{i}@sample>").as_bytes())
    box.close()
    if gz:
        path.write_bytes(gzip.compress(plain.read_bytes()))


def test_lookout_import_mbox_stores_each_message_once_and_resumes(tmp_path: Path, tiny_model: str) -> None:
    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[model]\nembedding = "{tiny_model}"\n')
    archive = tmp_path / "archive.mbox.gz"
    write_mbox(archive, sample_rows(30), gz=True)
    first = lookout("import", "mbox", str(archive), "--config", str(cfg), "--limit", "10")
    assert first.returncode == 0, first.stderr
    assert "Enriched 10 new messages; the store now holds 10 items" in first.stdout
    second = lookout("import", "mbox", str(archive), "--config", str(cfg))
    assert "Enriched 20 new messages; the store now holds 30 items" in second.stdout
    db = sqlite3.connect(tmp_path / "l.db")
    assert db.execute("select count(distinct id), min(source) from items").fetchone() == (30, "archive")
    missing = lookout("import", "mbox", str(tmp_path / "nope.mbox"), "--config", str(cfg))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_lookout_import_maildir(tmp_path: Path, tiny_model: str) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for i, r in enumerate(sample_rows(5)):
        box.add(message(subject=r["title"], body=r["text"], message_id=f"<m{i}@sample>").as_bytes())
    box.add(b"")
    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[model]\nembedding = "{tiny_model}"\n')
    result = lookout("import", "maildir", str(tmp_path / "Maildir"), "--config", str(cfg), "--name", "inbox")
    assert result.returncode == 0, result.stderr
    assert "Enriched 5 new messages" in result.stdout
    assert "skipped message" in result.stderr and "empty message" in result.stderr
    not_maildir = lookout("import", "maildir", str(tmp_path), "--config", str(cfg))
    assert not_maildir.returncode == 2 and "is not a Maildir" in not_maildir.stderr


def _high_water_mark(pid: int) -> int:
    """The peak resident set of process ``pid`` since it became ``lookout`` (VmHWM, bytes); 0 before its exec (the
    forked child still shows the parent's memory) and once it has exited."""
    try:
        if b"bot.cli" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return 0
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def lookout_with_peak_rss(*args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``lookout ARGS`` like ``tests.cli.lookout`` and also return the peak RSS of its process, in bytes.

    Read from VmHWM while it runs, not from ``wait4``'s ``ru_maxrss``, which also counts the pytest process the
    child was forked from, before its exec."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env(), stdout=out, stderr=err,
                                text=True)
        deadline = time.monotonic() + timeout
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _high_water_mark(proc.pid))
            if time.monotonic() > deadline:
                proc.send_signal(signal.SIGKILL)
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read()), peak


def test_lookout_import_mbox_stores_the_messages_around_hostile_ones_in_bounded_memory(tmp_path: Path,
                                                                                       tiny_model: str) -> None:
    cfg = tmp_path / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[model]\nembedding = "{tiny_model}"\n')
    box = mailbox.mbox(tmp_path / "hostile.mbox")
    box.add(message(subject="Before", message_id="<before@x>").as_bytes())
    box.add(encoded_word_subject())
    box.add(nested_multipart())
    box.add(message(subject="After", message_id="<after@x>").as_bytes())
    box.close()
    result, peak = lookout_with_peak_rss("import", "mbox", str(tmp_path / "hostile.mbox"), "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "Enriched 4 new messages; the store now holds 4 items (0 failed)" in result.stdout
    assert "message 2 read in part: the header block is larger than" in result.stderr
    assert "message 3 read in part: more than 50 multipart or message parts" in result.stderr
    db = sqlite3.connect(tmp_path / "l.db")
    rows = db.execute("select title, json_extract(raw, '$.note') is not null, state from items "
                      "order by rowid").fetchall()
    assert [(t[:12], noted, state) for t, noted, state in rows] == [
        ("Before", 0, "done"), ("café 0café 1", 1, "done"), ("Nested", 1, "done"), ("After", 0, "done")]
    assert peak < 2**30, f"peak RSS {peak / 2**20:.0f} MiB"
