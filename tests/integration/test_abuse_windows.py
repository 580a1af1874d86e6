"""The fixed windows the public pages' abuse limits count in, against a real Redis: racing
counters in several clients never lose a count, each window and each key counts apart, the
window's key expires with it, and a Redis that does not answer fails closed (the page refuses
rather than sending SMS unmetered)."""

import asyncio
from uuid import uuid4

import pytest

from processing.adapters.redis.locks import create_client
from processing.adapters.redis.windows import RedisAbuseWindows
from processing.service.ports import AbuseWindowsUnavailable
from tests.servers import free_port


async def test_racing_counts_across_clients_are_all_counted(redis_server: str) -> None:
    clients = [create_client(redis_server, 5_000) for _ in range(3)]
    try:
        windows = [RedisAbuseWindows(client) for client in clients]
        key = f"test:{uuid4()}"
        counts = await asyncio.gather(*(windows[i % 3].count(key, 3600) for i in range(30)))
        assert sorted(counts) == list(range(1, 31))
        assert await windows[0].count(f"test:{uuid4()}", 3600) == 1  # another key, apart
        assert await windows[0].count(key, 86400) == 1  # another window length, apart
        ttl = max([await clients[0].ttl(k) async for k in clients[0].scan_iter(f"*{key}:3600:*")])
        assert 0 < ttl <= 3600
    finally:
        for client in clients:
            await client.aclose()


async def test_a_redis_that_does_not_answer_fails_closed() -> None:
    client = create_client(f"redis://127.0.0.1:{free_port()}/0", 200)
    try:
        with pytest.raises(AbuseWindowsUnavailable):
            await RedisAbuseWindows(client).count("test:anything", 60)
    finally:
        await client.aclose()
