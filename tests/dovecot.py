"""A real dovecot IMAP server on a free 127.0.0.1 port, with a passwd-file user and a Maildir in a temp folder."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

USER, PASSWORD = "lookout", "s3cret-pass"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    """Start with ``start()``, stop with ``stop()`` (the mail stays); ``root`` must be reachable by ``nobody``."""

    def __init__(self, root: Path, tls: bool = False) -> None:
        if not Path(DOVECOT).exists():
            raise RuntimeError("dovecot is not installed: `make test` installs dovecot-imapd with apt-get")
        self.root = root
        self.port = free_port()
        self.tls_port = free_port()
        self.tls = tls
        self.cert = root / "cert.pem"
        if tls:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-keyout", str(root / "key.pem"), "-out", str(self.cert), "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                           check=True, capture_output=True)
        self.proc: subprocess.Popen[bytes] | None = None
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        self.home = root / "home" / USER
        for folder in (root / "run", self.home):
            folder.mkdir(parents=True, exist_ok=True)
        for folder in (root, root / "home"):
            folder.chmod(0o755)
        os.chown(self.home, self.uid, self.gid)
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{self.uid}:{self.gid}::{self.home}\n")
        self.config = root / "dovecot.conf"
        self._write_config()

    def _write_config(self) -> None:
        r = self.root
        self.config.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {r}/run
state_dir = {r}/run/state
log_path = {r}/dovecot.log
ssl = {"yes" if self.tls else "no"}
{f"ssl_cert = <{r}/cert.pem" if self.tls else ""}
{f"ssl_key = <{r}/key.pem" if self.tls else ""}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {r}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port if self.tls else 0}
    ssl = {"yes" if self.tls else "no"}
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")

    def start(self) -> Dovecot:
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot did not start listening within 15 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text() if path.exists() else ""
