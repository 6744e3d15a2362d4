"""`lookout backtest`: what the configured rules would have said over a stored period, printed, sending nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from models.embedding import Encoder
from monitor.config.load import load_settings
from tests.cli import start
from tests.daemon_helpers import run
from tests.fake_slack import FakeSlack
from tests.test_replay import STORY, config, write_days


async def backtest(slack: FakeSlack, cfg: Path, *args: str) -> str:
    proc = await start("backtest", "--config", str(cfg), *args, SLACK_BOT_TOKEN="xoxb-test-token",
                       LOOKOUT_SLACK_BASE_URL=slack.base_url)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_backtest_prints_what_the_rules_would_have_fired_and_sends_nothing(
        tmp_path: Path, tiny_model: str, slack: FakeSlack) -> None:
    data = tmp_path / "wire.csv"
    write_days(data, range(1, 11), burst_day=9)
    cfg = config(tmp_path, tiny_model, data)
    await run(load_settings(cfg, env={}), Encoder(tiny_model), [])
    db = sqlite3.connect(tmp_path / "lookout.db")
    assert db.execute("select count(*) from alerts").fetchone()[0] == 1

    out = await backtest(slack, cfg)
    assert "Backtest of 38 items from 2003-03-01 00:00 to 2003-03-10 00:00 UTC" in out
    [alert_line] = [line for line in out.splitlines() if line.startswith("2003-03-09 00:00  emerging")]
    assert STORY[:40] in alert_line
    assert "2003-03-09" in out.split("Alerts per day and rule:")[1]
    assert (await backtest(slack, cfg, "--end", "2003-03-09")).count("no rule would have fired") == 1
    late = json.loads(await backtest(slack, cfg, "--start", "2003-03-09", "--json"))
    assert late["items"] == 14 and late["per_rule_day"] == {"emerging": {"2003-03-09": 1}}
    assert late["alerts"][0]["reason"].endswith("5 items in this 1440 min window, from next to none")

    eager = cfg.parent / "eager.toml"
    eager.write_text(cfg.read_text().replace("min_count = 5", "min_count = 3"))
    [alert] = json.loads(await backtest(slack, eager, "--json"))["alerts"]
    assert "3 items in this 1440 min window" in alert["reason"], "the rules as configured now"
    assert slack.calls == {} and db.execute("select count(*) from alerts").fetchone()[0] == 1, "nothing sent"
