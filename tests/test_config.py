"""Settings: defaults, the committed examples, environment overrides, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.load import load_settings
from monitor.config.reference import reference
from monitor.config.schema import ConfigError
from tests.cli import lookout_here

ROOT = Path(__file__).resolve().parent.parent
TASK = '[[tasks]]\nname = "spam"\n[[tasks.labels]]\nname = "spam"\n[[tasks.labels]]\nname = "ham"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lookout.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file_and_the_committed_examples_are_valid() -> None:
    settings = load_settings(None, env={})
    assert settings.store.path == "lookout.db" and settings.model.embedding == "bundled"
    example = load_settings(ROOT / "lookout.example.toml", env={})
    assert example.feeds and example.tasks and example.alerts
    demo = load_settings(ROOT / "monitor" / "demo" / "demo.toml", env={})
    assert [t.name for t in demo.tasks] == ["spam", "subject"]


def test_environment_overrides_scalars_and_carries_secrets(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[topics]\nthreshold = 0.3\n"),
                             env={"LOOKOUT_TOPICS_THRESHOLD": "0.6", "LOOKOUT_STORE_PATH": "/tmp/x.db",
                                  "SLACK_BOT_TOKEN": "xoxb-1"})
    assert settings.topics.threshold == 0.6
    assert settings.store.path == "/tmp/x.db"
    assert settings.slack_bot_token == "xoxb-1"
    assert "xoxb" not in repr(settings)


@pytest.mark.parametrize(("text", "env", "message"), [
    ("[topics]\nthreshold = 'high'\n", {}, "topics.threshold = 'high': expected a number"),
    ("[topics]\nthreshold = 2\n", {}, "topics.threshold = 2.0: expected a number between 0.01 and 1.0"),
    ("[topics]\nthreshhold = 0.5\n", {}, "topics.threshhold: unknown setting; did you mean `threshold`?"),
    ("[console]\ncolor = 'pink'\n", {}, "console.color = 'pink': expected one of auto, always, never"),
    ("[slack]\ntoken = 'xoxb'\n", {}, "slack.token: unknown setting; secrets are not read from the file: set "
                                       "SLACK_BOT_TOKEN in the environment"),
    ("slack_token = 'xoxb'\n", {}, "slack_token: unknown section; secrets are not read from the file: set "
                                "SLACK_BOT_TOKEN in the environment"),
    ("[[feeds]]\nname = 'a'\n", {}, 'feeds "a".url: missing'),
    ("[[feeds]]\nname = 'a'\nurl = 'ftp://x'\n", {}, 'feeds "a".url = \'ftp://x\': expected an http'),
    ("[[feeds]]\nname='a'\nurl='http://x'\n[[feeds]]\nname='a'\nurl='http://y'\n", {},
     "feeds[1].name = 'a': used twice"),
    (TASK + "[[alerts]]\nname='r'\nkind='label'\ntask='spam'\nlabel='eggs'\n", {}, 'alerts "r".label = \'eggs\''),
    (TASK + "[[alerts]]\nname='r'\nkind='label'\ntask='nope'\nlabel='spam'\n", {}, 'alerts "r".task = \'nope\''),
    ("[[alerts]]\nname='r'\nkind='keyword'\npattern='(unclosed'\n", {}, "not a valid regular expression"),
    ("[[alerts]]\nname='r'\nkind='sometimes'\n", {}, 'alerts "r".kind = \'sometimes\': expected one of'),
    (TASK + "[[alerts]]\nname='r'\nkind='label_rate'\ntask='spam'\nlabel='eggs'\n", {}, 'alerts "r".label = \'eggs\''),
    ("[[alerts]]\nname='r'\nkind='topic_burst'\nfactor=0.5\n", {},
     'alerts "r".factor = 0.5: expected a number at least 1.0'),
    ("[topics]\nsplit_threshold = 0.9\n", {}, "topics.split_threshold: expected less than topics.merge_threshold"),
    ("[[tasks]]\nname = 'one'\n[[tasks.labels]]\nname = 'only'\n", {}, 'tasks "one".labels: expected two or more'),
    ("[store\n", {}, "not valid TOML"),
    ("[[mastodon]]\nname = 'm'\nbase_url = 'https://x'\n", {}, 'mastodon "m".tag: missing'),
    ("[[bluesky]]\nname = 'b'\nkeywords = 'outage'\n", {},
     'bluesky "b".keywords = \'outage\': expected a list of strings'),
    ("[[imap]]\nname = 'm'\nhost = 'h'\nuser = 'u'\n", {},
     'imap "m".password_env: the environment variable LOOKOUT_IMAP_PASSWORD is not set'),
    ("[[imap]]\nname = 'm'\nhost = 'h'\nuser = 'u'\nsecurity = 'ssl'\n", {"LOOKOUT_IMAP_PASSWORD": "x"},
     'imap "m".security = \'ssl\': expected one of tls, starttls, none'),
    ("", {"LOOKOUT_PIPELINE_BATCH_SIZE": "many"}, "LOOKOUT_PIPELINE_BATCH_SIZE='many': expected a whole number"),
])
def test_a_bad_setting_names_the_key_and_what_was_expected(tmp_path: Path, text: str, env: dict[str, str],
                                                           message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env=env)
    assert message in str(err.value)


def test_every_setting_has_help_and_only_identifying_settings_are_required() -> None:
    rows = reference()
    assert all(help_text for _, _, help_text in rows)
    required = {key for key, default, _ in rows if default == "(required)"}
    assert required == {"[[feeds]] name", "[[feeds]] url", "[[replays]] name", "[[replays]] path",
                        "[[imap]] name", "[[imap]] host", "[[imap]] user", "[[reddit]] name",
                        "[[reddit]] subreddit", "[[mastodon]] name", "[[mastodon]] base_url", "[[bluesky]] name",
                        "[[tasks]] name", "[[alerts]] name", "[[alerts]] kind", "[[tasks.labels]] name"}


@pytest.mark.parametrize(("text", "message"), [
    ("[slack]\ntoken = 'x'\n", "slack.token: unknown setting; secrets are not read from the file: set SLACK_BOT_TOKEN"),
    ("[slack]\nsigning_secret = 'x'\n", "slack.signing_secret: unknown setting; secrets are not read from the file: "
                                        "set SLACK_SIGNING_SECRET"),
    ("[bot]\napp_token = 'x'\n", "bot.app_token: unknown setting; secrets are not read from the file: set "
                                 "SLACK_APP_TOKEN"),
    ("[http]\nport = 8080\nwebhook_secret = 'x'\n", "http.webhook_secret: unknown setting; secrets are not read from "
                                                    "the file: set LOOKOUT_WEBHOOK_SECRET"),
    ("[http]\ntoken = 'x'\n", "http.token: unknown setting; secrets are not read from the file: set "
                              "LOOKOUT_WEBHOOK_TOKEN"),
    ("[llm]\napi_key = 'x'\napi_key_env = 'MY_KEY'\n", "llm.api_key: unknown setting; secrets are not read from the "
                                                       "file: set MY_KEY"),
    ("[[imap]]\nname = 'box'\nhost = 'h'\nuser = 'u'\npassword = 'x'\n",
     'imap "box".password: unknown setting; secrets are not read from the file: set LOOKOUT_IMAP_PASSWORD'),
    ("[[mastodon]]\nname = 'm'\nbase_url = 'https://x'\ntag = 't'\naccess_token = 'x'\n",
     'mastodon "m".access_token: unknown setting; secrets are not read from the file: set LOOKOUT_MASTODON_TOKEN'),
    ("[[reddit]]\nname = 'r'\nsubreddit = 's'\nclient_secret = 'x'\n",
     'reddit "r".client_secret: unknown setting; Lookout reads Reddit\'s public listings and needs no Reddit '
     'credentials: remove it'),
    ("[[bluesky]]\nname = 'b'\napp_password = 'x'\n",
     'bluesky "b".app_password: unknown setting; Lookout reads Bluesky\'s public Jetstream and needs no Bluesky '
     'credentials: remove it'),
    ("slack_signing_secret = 'x'\n", "slack_signing_secret: unknown section; secrets are not read from the file: set "
                                     "SLACK_SIGNING_SECRET"),
    ("[alert]\nname = 'x'\n", "alert: unknown section; did you mean `alerts`?"),
    ("[[feeds]]\nname = 'f'\nurl = 'https://x'\ninterval = 60\n",
     'feeds "f".interval: unknown setting; did you mean `interval_seconds`?'),
    ("[topics]\nzzz = 1\n", "topics.zzz: unknown setting; expected one of adaptive, contrast, max_share, threshold"),
])
def test_an_unknown_key_gets_the_likeliest_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={"LOOKOUT_IMAP_PASSWORD": "p"})
    assert message in str(err.value)


def test_every_problem_is_reported_once_together(tmp_path: Path) -> None:
    text = ("[topics]\nthreshold = 2\nkeywords = 'many'\n[[feeds]]\nname = 'a'\n[[feeds]]\nname = 'b'\nurl = 'ftp://x'\n"
            + TASK + "[[alerts]]\nname = 'r'\nkind = 'label'\ntask = 'spam'\nlabel = 'eggs'\n")
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={"LOOKOUT_CONSOLE_COLOR": "pink"})
    assert err.value.problems == (
        "topics.threshold = 2.0: expected a number between 0.01 and 1.0",
        "topics.keywords = 'many': expected a whole number",
        "console.color = 'pink': expected one of auto, always, never",
        'feeds "a".url: missing; http(s) URL of an RSS or Atom feed.',
        "feeds \"b\".url = 'ftp://x': expected an http:// or https:// URL",
        "alerts \"r\".label = 'eggs': not a label of task 'spam'",
    )
    assert str(err.value).startswith(f"6 configuration problems in {tmp_path / 'lookout.toml'}:\n  topics.threshold")


@pytest.mark.parametrize("path", ["lookout.example.toml", "monitor/demo/demo.toml"])
def test_settings_written_back_as_toml_read_to_the_same_settings(tmp_path: Path, path: str) -> None:
    from monitor.config.dump import to_toml

    settings = load_settings(ROOT / path, env={})
    written = write(tmp_path, to_toml(settings, "a header\n\nof two paragraphs"))
    assert written.read_text().startswith("# a header\n#\n# of two paragraphs\n")
    assert load_settings(written, env={}) == settings


def test_settings_check_says_which_settings_the_others_leave_unused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    adaptive = write(tmp_path, "[topics]\nthreshold = 0.5\ncontrast = 0.3\n")
    shown = lookout_here(capsys, monkeypatch, "settings", "--check", str(adaptive))
    assert shown.returncode == 0 and shown.stdout == (
        f"{adaptive}: valid\nnote: topics.threshold = 0.5 is not used: topics.adaptive is on (the default) and sets "
        "its own bar; set topics.adaptive = false to use a fixed threshold\n")
    fixed = write(tmp_path, "[topics]\nadaptive = false\nthreshold = 0.5\nmax_share = 0.2\n")
    shown = lookout_here(capsys, monkeypatch, "settings", "--check", str(fixed))
    assert shown.stdout == (f"{fixed}: valid\nnote: topics.max_share = 0.2 is not used: it applies only to the "
                            "adaptive topics (topics.adaptive = true)\n")
    from_env = lookout_here(capsys, monkeypatch, "settings", "--check", str(write(tmp_path, "")),
                            LOOKOUT_TOPICS_THRESHOLD="0.4")
    assert "note: topics.threshold = 0.4 is not used" in from_env.stdout
    assert lookout_here(capsys, monkeypatch, "settings", "--check", str(write(tmp_path, ""))).stdout.count("\n") == 1
