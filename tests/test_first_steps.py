"""A newcomer's first steps, each through the real command line: the demo's next commands run as printed, a command
that only reads refuses a store that does not exist, `make up`'s Procfile keeps the daemon without Slack tokens,
and a bad settings file gets every problem named at once."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.config.load import load_settings
from tests.cli import ROOT, env, lookout

READ_ONLY = [("status",), ("topics",), ("topic", "1"), ("item", "abcdef"), ("items",), ("trends",), ("digest",),
             ("models", "list"), ("search", "outage"), ("map",), ("label", "abcdef", "spam"), ("train",),
             ("taxonomy", "propose"), ("watch", "list")]


def shim(folder: Path) -> Path:
    """A ``lookout`` console script in ``folder`` (with ``activate`` beside it, as in a venv) running this
    checkout's code, as ``.venv/bin/lookout`` does after ``make install``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "lookout"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom bot.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    (folder / "activate").write_text("")
    return script


@pytest.mark.parametrize("args", READ_ONLY, ids=[" ".join(a) for a in READ_ONLY])
def test_a_command_that_only_reads_refuses_a_store_that_does_not_exist(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "nothing-here.db"
    done = lookout(*args, "--db", str(db))
    assert done.returncode == 2, done.stderr
    assert f"no store at {db} (from --db)" in done.stderr and "`lookout demo`" in done.stderr
    assert "`lookout run`" in done.stderr and "Traceback" not in done.stderr
    assert not db.exists()


def test_without_settings_the_default_store_is_named_and_a_command_that_collects_creates_it(tmp_path: Path) -> None:
    extra = {"PYTHONPATH": str(ROOT)}
    done = lookout("status", cwd=tmp_path, **extra)
    assert done.returncode == 2
    assert f"no store at {tmp_path / 'lookout.db'} (the default store.path; no --config and no ./lookout.toml)" in \
        done.stderr
    added = lookout("watch", "add", "https://example.org/feed.xml", cwd=tmp_path, **extra)
    assert added.returncode == 0, added.stderr
    status = lookout("status", cwd=tmp_path, **extra)
    assert status.returncode == 0 and status.stdout.startswith("store lookout.db: 0 items")


def test_the_demos_next_commands_run_as_printed_on_its_store(tmp_path: Path) -> None:
    script = shim(tmp_path / ".venv" / "bin")
    run_env = env(PYTHONPATH=str(ROOT))
    demo = subprocess.run([".venv/bin/lookout", "demo", "spam", "--limit", "80"], cwd=tmp_path, env=run_env,
                          capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stderr
    assert "The demo's settings are in lookout-demo.toml (its store: lookout-demo.db). Next:" in demo.stdout
    assert f"`source {script.parent.relative_to(tmp_path)}/activate` puts `lookout` on PATH" in demo.stdout
    commands = [line.strip() for line in demo.stdout.splitlines() if line.startswith("  .venv/bin/lookout ")]
    names = [shlex.split(c)[1] for c in commands]
    assert names == ["topics", "items", "label", "labels", "train"]
    assert str(ROOT / "monitor" / "demo" / "spamassassin_sample.jsonl") in commands[3], "this checkout's demo data"
    kept = load_settings(tmp_path / "lookout-demo.toml", env={})
    assert [t.name for t in kept.tasks] == ["spam", "subject"] and kept.store.path == str(tmp_path / "lookout-demo.db")
    outputs = {}
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=tmp_path, env=run_env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
        outputs[shlex.split(command)[1]] = done.stdout
    assert "most typical item" in outputs["topics"] and "spam=spam" in outputs["items"]
    assert "spam = " in outputs["label"] and "imported 240 labelled texts for spam: spam 80, ham 160" in \
        outputs["labels"]
    assert re.search(r"spam v1 \(head\): held-out macro_f1", outputs["train"])


def test_the_socket_mode_manifest_asks_for_what_the_http_one_does_and_needs_no_address() -> None:
    http = yaml.safe_load((ROOT / "slack-manifest.yml").read_text())
    socket = yaml.safe_load((ROOT / "slack-manifest-socket.yml").read_text())
    assert socket["settings"]["socket_mode_enabled"] is True and http["settings"]["socket_mode_enabled"] is False
    assert socket["oauth_config"] == http["oauth_config"]
    assert socket["settings"]["event_subscriptions"]["bot_events"] == \
        http["settings"]["event_subscriptions"]["bot_events"]
    assert socket["settings"]["interactivity"]["is_enabled"] is http["settings"]["interactivity"]["is_enabled"]
    assert [{k: v for k, v in c.items() if k != "url"} for c in http["features"]["slash_commands"]] == \
        socket["features"]["slash_commands"]
    assert {k: v for k, v in http["features"].items() if k != "slash_commands"} == \
        {k: v for k, v in socket["features"].items() if k != "slash_commands"}
    assert "url" not in json.dumps(socket["settings"]) and "example.org" not in json.dumps(socket)


def test_lookout_bot_without_tokens_says_so_and_exits_0_or_waits_until_stopped(tmp_path: Path) -> None:
    db = tmp_path / "lookout.db"
    done = lookout("bot", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("lookout bot: no Slack tokens in the environment") and not db.exists()
    partial = lookout("bot", "--db", str(db), SLACK_BOT_TOKEN="xoxb-1")
    assert partial.returncode == 2 and "needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in partial.stderr
    waiting = subprocess.Popen([sys.executable, "-m", "bot.cli", "bot", "--db", str(db), "--wait-without-tokens"],
                               cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert waiting.stdout is not None
    assert waiting.stdout.readline().rstrip().endswith("; waiting until stopped")
    assert waiting.poll() is None
    waiting.send_signal(signal.SIGTERM)
    assert waiting.wait(timeout=60) == 0


def test_make_ups_procfile_keeps_the_daemon_running_with_console_alerts_without_slack_tokens(
        tmp_path: Path, tiny_model: str) -> None:
    data = tmp_path / "stream.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": f"outage number {i} in the west"}) + "\n"
                            for i in range(400)))
    (tmp_path / "lookout.toml").write_text(
        f'[store]\npath = "lookout.db"\n[model]\nembedding = "{tiny_model}"\n'
        f'[[replays]]\nname = "stream"\npath = "{data}"\nrate = 4\n'
        '[[alerts]]\nname = "outage"\nkind = "keyword"\npattern = "outage"\ncooldown_minutes = 0\n')
    shim(tmp_path / "bin")
    honcho = subprocess.Popen([sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "-d", str(tmp_path),
                               "start"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env(PYTHONPATH=str(ROOT), PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"))
    assert honcho.stdout is not None
    seen: list[str] = []
    try:
        for line in honcho.stdout:
            seen.append(line)
            web = [i for i, x in enumerate(seen) if re.search(r"web\.1 +\| lookout bot: no Slack tokens", x)]
            if web and any(re.search(r"worker\.1 +\| ▲ outage", x) for x in seen[web[0]:]):
                break
            if re.search(r"(web|worker)\.1 stopped", line):
                break
    finally:
        honcho.send_signal(signal.SIGINT)
        honcho.wait(timeout=60)
    text = "".join(seen)
    assert not re.search(r"(web|worker)\.1 stopped", text), text[-3000:]
    assert re.search(r"web\.1 +\| lookout bot: no Slack tokens", text), text[-3000:]
    after = text[text.index("lookout bot: no Slack tokens"):]
    assert re.search(r"worker\.1 +\| ▲ outage", after), "the daemon still sends alerts after the Slack app declined"


def test_a_bad_settings_file_gets_every_problem_at_once_named_with_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "lookout.toml"
    bad.write_text('[topics]\nthreshhold = 0.5\n[slack]\ntoken = "xoxb-1"\n[llm]\napi_key = "sk-1"\n'
                   '[[replays]]\nname = "r"\npath = "x.jsonl"\n'
                   '[[alerts]]\nname = "security"\nkind = "keyword"\npattern = "(unclosed"\n'
                   '[[alerts]]\nname = "spammy"\nkind = "label"\ntask = "spam"\nlabel = "spam"\n')
    for args in (("settings", "--check", str(bad)), ("run", "-c", str(bad))):
        done = lookout(*args)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.splitlines()
        assert lines[0] == f"lookout: 5 configuration problems in {bad}:"
        assert lines[1:] == [
            "  topics.threshhold: unknown setting; did you mean `threshold`?",
            "  slack.token: unknown setting; secrets are not read from the file: set SLACK_BOT_TOKEN in the "
            "environment instead",
            "  llm.api_key: unknown setting; secrets are not read from the file: set LOOKOUT_LLM_API_KEY in the "
            "environment instead",
            "  alerts \"security\".pattern = '(unclosed': not a valid regular expression (missing ) at position 9)",
            "  alerts \"spammy\".task = 'spam': expected one of the configured tasks (none configured)",
        ]
