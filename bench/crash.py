"""Crash benchmark (issue 13): does a ``lookout run`` killed with SIGKILL at random moments lose or repeat anything?

    .venv/bin/python bench/crash.py --kills 20 --seed 13

A real ``lookout run --config CFG`` process (``python -m bot.cli``, the bundled model) is killed ``--kills`` times
at seeded random moments (every ``--mid-send-every``-th kill waits, after its random moment, for a
``chat.postMessage`` the fake Slack holds unanswered, so that kill lands mid-send) while it takes in

- a real-size feed from a local FeedServer that grows every second (``tests/feeds.make_feed``, newest first),
- signed webhook batches (``POST /ingest``) of items with known ids, each batch retried while the daemon is down;
  an item counts as offered once a 202 came back,

and delivers the alerts of two keyword rules (two channels, default ``slack.messages_per_second``) to the recording
fake Slack. After the last kill a daemon takes the last webhook batch and is stopped with SIGTERM, then
``lookout run --until-idle`` settles everything. Printed: items offered / stored / lost / duplicated (by item id and
by feed guid / webhook id) and alerts expected / delivered / unknown / missing / duplicated (delivered: posts the
fake Slack recorded, matched by rule and item id; unknown: alerts the store marks ``unknown``), with PASS/MISS for
the goals 0 lost, 0 duplicated, at most one unknown alert per kill.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.ingest.item import make_id  # noqa: E402
from monitor.ingest.webhook import SIGNATURE_HEADER, sign  # noqa: E402
from tests.cli import env  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.feed_server import FeedServer, Route  # noqa: E402
from tests.feeds import feed_guid, make_feed  # noqa: E402
from tests.servers import sample_rows  # noqa: E402

SECRET = "crash-bench-secret"
FEED, HOOK = "list", "hook"
STALL_WAIT = 30.0
TOP = 1_000_000
"""Feed entries are numbered down from ``TOP``, so each new entry goes on top of the feed with its own fixed date."""
NEWEST = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RULES = {"alpha": (r"\(#\d*7\)|crash-alpha-marker", "#alpha"), "beta": (r"\(#\d*5\)|crash-beta-marker", "#beta")}
ITEM_IN_POST = re.compile(r"item ([0-9a-f]{20})")
RULE_IN_POST = re.compile(r"^\[([^\]]+)\]")


def feed_body(size: int) -> bytes:
    """The feed with ``size`` entries: numbers ``TOP - size`` (newest) to ``TOP - 1`` (oldest)."""
    return make_feed(size, start=TOP - size, newest=NEWEST + timedelta(minutes=7 * size))


def config(tmp: Path, feed_url: str, slack_url: str, port: int) -> Path:
    rules = "".join(f'[[alerts]]\nname = "{name}"\nkind = "keyword"\npattern = \'{pattern}\'\ncooldown_minutes = 0\n'
                    f'channel = "{channel}"\n' for name, (pattern, channel) in RULES.items())
    cfg = tmp / "lookout.toml"
    cfg.write_text(f'[store]\npath = "{tmp / "lookout.db"}"\n[model]\nembedding = "bundled"\n'
                   f'[http]\nport = {port}\n[slack]\nchannel = "#alpha"\nbase_url = "{slack_url}"\n'
                   f'[[feeds]]\nname = "{FEED}"\nurl = "{feed_url}"\ninterval_seconds = 1\n{rules}')
    return cfg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Offer:
    """The feed's growth and the webhook poster, running in the bench's own event loop while daemons come and go."""

    def __init__(self, feed: FeedServer, url: str, rng: random.Random, start_size: int, grow: int, batch: int) -> None:
        self.feed, self.url, self.rng, self.grow, self.batch = feed, url, rng, grow, batch
        self.size = start_size
        self.feed.routes["/feed"] = Route(body=feed_body(self.size), etag=f'"{self.size}"')
        self.rows = sample_rows(400)
        self.hook_ids: list[str] = []
        self.posting = True
        self.retries = 0

    async def grow_feed(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            self.size += self.grow
            body = await asyncio.to_thread(feed_body, self.size)
            self.feed.routes["/feed"] = Route(body=body, etag=f'"{self.size}"')

    def hook_row(self, k: int) -> dict[str, str]:
        row = self.rows[k % len(self.rows)]
        marker = {3: " crash-alpha-marker", 5: " crash-beta-marker"}.get(k % 8, "")
        return {"id": f"wh-{k}", "source": HOOK, "title": f"{row['title'] or 'Untitled'} [wh-{k}]",
                "text": f"{row['text'][:800]}{marker}", "url": f"https://hooks.example.org/{k}"}

    async def post(self) -> None:
        """Post batches until ``posting`` is cleared; each batch is retried until a 202 answers it."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            k = 0
            while self.posting:
                ids = [f"wh-{n}" for n in range(k, k + self.batch)]
                body = json.dumps([self.hook_row(n) for n in range(k, k + self.batch)]).encode()
                while True:
                    try:
                        async with http.post(f"{self.url}/ingest", data=body, headers={
                                SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}) as resp:
                            if resp.status == 202:
                                break
                            raise RuntimeError(f"webhook answered {resp.status}: {await resp.text()}")
                    except (TimeoutError, aiohttp.ClientError):
                        self.retries += 1
                        await asyncio.sleep(0.2)
                self.hook_ids += ids
                k += self.batch
                await asyncio.sleep(self.rng.uniform(1.0, 3.0))


async def life(cfg: Path, log: Path, *args: str) -> asyncio.subprocess.Process:
    """Start ``lookout run --config CFG ARGS`` as tests/cli.py does, its output appended to ``log`` (a pipe left
    unread would stall it)."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--config", str(cfg), *args, cwd=ROOT, stdout=out, stderr=out,
            env=env(SLACK_BOT_TOKEN="xoxb-test-token", LOOKOUT_WEBHOOK_SECRET=SECRET))


async def until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.05)


async def healthy(http: aiohttp.ClientSession, url: str) -> bool:
    """Whether the daemon's HTTP face answers (it is past loading the model)."""
    try:
        async with http.get(f"{url}/healthz") as resp:
            return resp.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False


async def until_healthy(http: aiohttp.ClientSession, url: str) -> None:
    while not await healthy(http, url):
        await asyncio.sleep(0.2)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def bench(kills: int, seed: int, start_size: int, grow: int, batch: int, min_life: float,
                max_life: float, every: int) -> bool:
    from tqdm import tqdm

    rng = random.Random(seed)
    feed, slack = await FeedServer().start(), await FakeSlack().start()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg = config(tmp, feed.url("/feed"), slack.base_url, port)
        log = tmp / "lookout.log"
        offer = Offer(feed, f"http://127.0.0.1:{port}", rng, start_size, grow, batch)
        stop_growing = asyncio.Event()
        grower = asyncio.create_task(offer.grow_feed(stop_growing))
        poster = asyncio.create_task(offer.post())
        started = time.perf_counter()
        lives: list[float] = []
        up_at_kill = mid_send = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            for n in tqdm(range(kills), desc="kills", unit="kill"):
                proc = await life(cfg, log)
                lives.append(rng.uniform(min_life, max_life))
                stalling = every > 0 and n % every == every - 1
                await asyncio.sleep(lives[-1])
                if proc.returncode is not None:
                    raise RuntimeError(f"the daemon exited by itself ({proc.returncode}): {tail(log)}")
                if stalling:  # hold the next chat.postMessage unanswered and kill while it waits
                    stalled, slack.stall_after = slack.stalled, len(slack.calls["chat.postMessage"])
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(until(lambda held=stalled: slack.stalled > held), STALL_WAIT)
                    mid_send += slack.stalled > stalled
                up_at_kill += await healthy(http, offer.url)
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                if stalling:
                    slack.stall_after = -1
                    slack.unstall.set()
                    slack.unstall.clear()
        stop_growing.set()
        await grower
        offer.posting = False
        proc = await life(cfg, log)
        await asyncio.wait_for(poster, 300)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            await asyncio.wait_for(until_healthy(http, offer.url), 300)  # past loading, so SIGTERM stops it cleanly
        proc.send_signal(signal.SIGTERM)
        if await asyncio.wait_for(proc.wait(), 1800) != 0:  # it first delivers every pending alert, paced
            raise RuntimeError(f"the stopped daemon exited {proc.returncode}: {tail(log)}")
        settle = time.perf_counter()
        proc = await life(cfg, log, "--until-idle")
        if await asyncio.wait_for(proc.wait(), 1800) != 0:
            raise RuntimeError(f"lookout run --until-idle exited {proc.returncode}: {tail(log)}")
        elapsed, settled = time.perf_counter() - started, time.perf_counter() - settle
        marked = len(re.findall(r"(\d+) alerts were being sent when Lookout stopped", log.read_text(errors="replace")))
        print(f"kills with the daemon up (past loading the model): {up_at_kill} of {kills}; kills while Slack held "
              f"a post unanswered: {mid_send}; restarts that marked alerts unknown: {marked}")
        db = sqlite3.connect(tmp / "lookout.db")
        ok = report(db, offer, slack, kills, lives, elapsed, settled)
        db.close()
    await feed.stop()
    await slack.stop()
    return ok


def report(db: sqlite3.Connection, offer: Offer, slack: FakeSlack, kills: int, lives: list[float], elapsed: float,
           settled: float) -> bool:
    """Print the figures; True when every goal is met."""
    feed_keys = {make_id(FEED, feed_guid(n)): feed_guid(n) for n in range(TOP - offer.size, TOP)}
    hook_keys = {make_id(HOOK, key): key for key in offer.hook_ids}
    offered = {**feed_keys, **hook_keys}
    rows = db.execute("select id, source, title, text, state, json_extract(raw, '$.guid'), json_extract(raw, '$.id') "
                      "from items").fetchall()
    stored = Counter(r[0] for r in rows)
    keys = Counter(r[5] if r[1] == FEED else r[6] for r in rows)
    lost = sorted(set(offered) - set(stored))
    dup_ids = sum(n - 1 for n in stored.values() if n > 1)
    dup_keys = sum(n - 1 for n in keys.values() if n > 1)
    states = Counter(r[4] for r in rows)
    patterns = {name: re.compile(pattern) for name, (pattern, _) in RULES.items()}
    expected = {(name, r[0]) for r in rows for name, p in patterns.items() if p.search(f"{r[2]}\n{r[3]}")}
    posts = Counter()
    for payload in slack.calls["chat.postMessage"]:
        rule, item = RULE_IN_POST.search(payload.get("text", "")), ITEM_IN_POST.search(json.dumps(payload))
        posts[(rule.group(1) if rule else "?", item.group(1) if item else "?")] += 1
    statuses = dict(db.execute("select status, count(*) from alerts group by status").fetchall())
    unknown_rows = db.execute("select rule, item_id, channel from alerts where status = 'unknown'").fetchall()
    unknown = {(rule, item) for rule, item, _ in unknown_rows}
    delivered = set(posts) & expected
    missing = expected - delivered - unknown
    dup_alerts = sum(n - 1 for n in posts.values() if n > 1)
    stray = set(posts) - expected

    print(f"\ncrash benchmark: {kills} SIGKILLs, lives {min(lives):.1f}-{max(lives):.1f} s, whole run {elapsed:.0f} s "
          f"(settling with --until-idle: {settled:.0f} s); feed grew to {offer.size} entries "
          f"({len(feed_body(offer.size)) / 1024:.0f} KiB), {len(offer.hook_ids)} webhook items "
          f"({offer.retries} posts retried while the daemon was down)")
    print(f"items  offered {len(offered):6d}  (feed {len(feed_keys)}, webhook {len(hook_keys)})")
    print(f"       stored  {len(stored):6d}  (states {dict(states)}; not offered {len(set(stored) - set(offered))})")
    print(f"       lost    {len(lost):6d}  {lost[:5] if lost else ''}")
    print(f"       duplicated by item id {dup_ids}, by feed guid / webhook id {dup_keys}")
    print(f"alerts expected {len(expected):5d}  (store: {statuses})")
    print(f"       delivered {len(delivered):4d}  (posts recorded {sum(posts.values())}, not expected {len(stray)})")
    print(f"       unknown   {len(unknown):4d}  (at most {kills}: one per kill; by channel "
          f"{dict(Counter(channel for *_, channel in unknown_rows))}; posted anyway {len(unknown & set(posts))})")
    print(f"       missing   {len(missing):4d}  (expected, neither delivered nor unknown)")
    print(f"       duplicated {dup_alerts:3d}  (an item's alert posted more than once)")
    goals = {"0 items lost": not lost, "0 items duplicated": dup_ids == dup_keys == 0,
             "0 alerts missing": not missing and not stray, "0 alerts duplicated": dup_alerts == 0,
             "at most one unknown alert per kill": len(unknown) <= kills}
    for goal, met in goals.items():
        print(f"  {'PASS' if met else 'MISS'}  {goal}")
    return all(goals.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs (default 20)")
    parser.add_argument("--seed", type=int, default=13, help="random seed of the kill moments and posts")
    parser.add_argument("--start-entries", type=int, default=300, help="feed entries at the start (default 300)")
    parser.add_argument("--grow", type=int, default=2, help="feed entries added each second (default 2)")
    parser.add_argument("--batch", type=int, default=5, help="items per webhook post (default 5)")
    parser.add_argument("--mid-send-every", type=int, default=4,
                        help="every Nth kill waits for a post the fake Slack holds unanswered (0: none; default 4)")
    parser.add_argument("--min-life", type=float, default=4.0, help="shortest daemon life in seconds (default 4)")
    parser.add_argument("--max-life", type=float, default=20.0, help="longest daemon life in seconds (default 20)")
    args = parser.parse_args()
    ok = asyncio.run(bench(args.kills, args.seed, args.start_entries, args.grow, args.batch, args.min_life,
                           args.max_life, args.mid_send_every))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
