"""Email parsing (the standard email package, policy default) and mailbox-file imports through the CLI."""

from __future__ import annotations

import gzip
import mailbox
import sqlite3
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.sources.mail import MailError, parse_message, trim_reply
from monitor.sources.mailbox_file import MailboxSource
from tests.cli import lookout
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
