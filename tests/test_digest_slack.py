"""``/lookout digest`` and its schedule from Slack, through the real Bolt app with signed requests and the recording
fake Slack; the schedule honoured by the daemon's scheduler in the team's time zone (the trigger's next fire time
computed from a fixed now, no sleeping); times shown in that zone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import messages
from bot.mrkdwn import local
from models.embedding import Encoder
from monitor.config.schema import Settings, TimeSettings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier
from monitor.daemon.schedule import stored_schedule
from monitor.enrich.build import build_pipeline
from monitor.store.db import Store
from tests.bot_helpers import Bot, served, strict_settings
from tests.fake_slack import FakeSlack
from tests.servers import wait_for

TOKYO = TimeSettings("Asia/Tokyo")
NOON_UTC = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # a Wednesday


def tokyo(settings: Settings, **sections: object) -> Settings:
    return dataclasses.replace(settings, time=TOKYO, **sections)  # type: ignore[arg-type]


async def test_digest_posts_todays_digest_in_the_channel_with_its_chart_in_the_thread(bot: Bot) -> None:
    status, answer = await bot.command("digest")
    assert status == 200 and answer == {"response_type": "ephemeral", "text": messages.DIGEST_BUILDING}
    await wait_for(lambda: bot.slack.calls["files.completeUploadExternal"], seconds=60)
    [post] = bot.slack.calls["chat.postMessage"]
    blocks = json.loads(post["blocks"]) if isinstance(post["blocks"], str) else post["blocks"]
    assert post["channel"] == "C0ALERTS" and post["text"].startswith("Lookout digest, ")
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"].endswith(" UTC")
    assert blocks[1]["elements"][0]["text"].startswith("8 items, against 0 in the 24 hours before")
    assert any(b.get("text", {}).get("text", "").startswith("*Busiest*\n• *#") for b in blocks)
    [upload] = bot.slack.calls["files.completeUploadExternal"]
    assert upload["thread_ts"] == "1700000001.000100" and upload["channel_id"] == "C0TEST"
    [png] = bot.slack.uploads.values()
    assert png.startswith(b"\x89PNG")


async def test_a_digest_that_cannot_be_posted_says_why(bot: Bot) -> None:
    bot.slack.unknown_channels.add("C0ALERTS")
    await bot.command("digest")
    await wait_for(lambda: bot.slack.responses, seconds=60)
    assert bot.slack.responses[0]["text"] == messages.digest_not_posted("channel_not_found")


@pytest.mark.parametrize(("text", "said"), [
    ("digest later", "Usage: `/lookout digest`"),
    ("digest schedule", "`` is not a digest schedule"),
    ("digest schedule hourly", "`hourly` is not a digest schedule"),
    ("digest schedule daily 25:00", "`daily 25:00` is not a digest schedule"),
    ("digest schedule weekly funday 08:00", "`funday` is not a day of the week"),
])
async def test_a_schedule_that_is_not_understood_says_what_was_expected(bot: Bot, text: str,
                                                                         said: str) -> None:
    _, answer = await bot.command(text)
    assert said in answer["text"] and "digest schedule weekly <day> HH:MM" in answer["text"]
    assert stored_schedule(bot.store) is None


async def test_only_admins_change_the_schedule_and_the_answer_gives_the_next_one_in_the_teams_zone(
        bot: Bot, slack: FakeSlack) -> None:
    slack.members = {"C0LOOKOUT": ["U0BOSS"]}
    async with served(tokyo(strict_settings()), bot.store, slack) as strict:
        _, answer = await strict.command("digest schedule daily 08:00")
        assert answer["text"] == messages.NOT_ADMIN.format(what="change the digest schedule")
        assert stored_schedule(bot.store) is None
        _, answer = await strict.command("digest schedule weekly Monday 8:30", user="U0BOSS")
        assert answer["response_type"] == "in_channel"
        assert answer["text"].startswith("<@U0BOSS> set the digest schedule to *weekly mon 08:30* (Asia/Tokyo): the "
                                         "next one goes out ") and answer["text"].endswith(" 08:30 JST.")
        stored = stored_schedule(bot.store)
        assert stored is not None and (stored.cron, stored.set_by) == ("30 8 * * mon", "U0BOSS")
        _, answer = await strict.command("status")
        assert answer["text"].endswith(" 08:30 JST") and "Digest: weekly mon 08:30 (Asia/Tokyo), next " in \
            answer["text"]
        _, answer = await strict.command("digest schedule off", user="U0BOSS")
        assert answer["text"].startswith("<@U0BOSS> turned the scheduled digest off")
        _, answer = await strict.command("status")
        assert answer["text"].endswith("Digest: not scheduled (`/lookout digest schedule daily 08:00` posts one "
                                       "every morning)")


async def test_a_tokyo_teams_0800_digest_fires_at_2300_utc_and_the_daemon_follows_a_change_from_slack(
        tmp_path: Path, tiny_model: str, slack: FakeSlack) -> None:
    store = Store(tmp_path / "l.db")
    base = strict_settings(())
    settings = tokyo(base, store=dataclasses.replace(base.store, path=str(tmp_path / "l.db")),
                     learning=dataclasses.replace(base.learning, cron="0 3 * * sun"))
    async with served(settings, store, slack) as team:
        await team.command("digest schedule daily 08:00", user="U0BOSS")
        daemon = Daemon(settings, store, build_pipeline(settings, store, Encoder(tiny_model)),
                        ConsoleNotifier(lambda _: None, "never"), [])
        running = asyncio.create_task(daemon.run())
        try:
            def job(name: str) -> object:
                return daemon._scheduler.get_job(name) if daemon._scheduler else None

            await wait_for(lambda: job("digest"), seconds=30)
            fires = job("digest").trigger.get_next_fire_time(None, NOON_UTC)  # type: ignore[union-attr]
            assert fires.astimezone(UTC) == datetime(2024, 5, 1, 23, 0, tzinfo=UTC)
            retrain = job("retrain-cron").trigger.get_next_fire_time(None, NOON_UTC)  # type: ignore[union-attr]
            assert retrain.astimezone(UTC) == datetime(2024, 5, 4, 18, 0, tzinfo=UTC), "Sunday 03:00 in Tokyo"
            await team.command("digest schedule weekly sun 08:00", user="U0BOSS")
            await wait_for(lambda: job("digest") and "sun" in str(job("digest").trigger), 30)  # type: ignore[union-attr]
            fires = job("digest").trigger.get_next_fire_time(None, NOON_UTC)  # type: ignore[union-attr]
            assert fires.astimezone(UTC) == datetime(2024, 5, 4, 23, 0, tzinfo=UTC)
            await team.command("digest schedule off", user="U0BOSS")
            await wait_for(lambda: job("digest") is None, seconds=30)
        finally:
            daemon.stop()
            await running
    store.close()


async def test_times_are_shown_in_the_teams_zone(bot: Bot, slack: FakeSlack) -> None:
    topic = bot.store.db.execute("select topic_id from items order by rowid limit 1").fetchone()[0]
    bot.store.db["topic_events"].insert({"kind": "split", "topic_id": topic, "other_id": 77, "size": 4,
                                         "at": 1_700_000_000.0})
    base = strict_settings(())
    settings = tokyo(base, store=dataclasses.replace(base.store, path=bot.store.path))
    async with served(settings, bot.store, slack) as team:
        _, answer = await team.command(f"topic {topic}")
        assert answer["text"].endswith("_<!date^1700000000^{date_short} {time}|2023-11-15 07:13 JST>: #77 split "
                                       "off it (4 items)_")
        await team.command("digest")
        await wait_for(lambda: slack.calls["chat.postMessage"], seconds=60)
    header = slack.calls["chat.postMessage"][0]["text"]
    assert header.startswith("Lookout digest, ") and header.endswith(" JST")
    assert local(1_700_000_000.0, "Asia/Tokyo") == "2023-11-15 07:13 JST"
