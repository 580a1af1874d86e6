"""The load generator measures what it claims: nearest-rank percentiles, latency from the due
time in the open model (so a slow server cannot hide its tail), and dropped starts counted."""

import asyncio
from typing import Any

import pytest

from loadtests.generator import Stats, closed_model, open_model


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    stats = Stats(name="t", latencies=[n / 1000 for n in range(1, 101)], seconds=1)
    assert stats.percentile(0.50) == pytest.approx(50)
    assert stats.percentile(0.99) == pytest.approx(99)
    assert stats.percentile(0.999) == pytest.approx(100)
    assert stats.throughput == 100


def test_only_server_and_transport_failures_count_as_errors() -> None:
    stats = Stats(name="t")
    stats.outcomes.update({"ok": 5, "insufficient_points": 3, "http_503": 2, "transport_error": 1})
    assert stats.errors == 3


async def test_open_model_counts_starts_it_could_not_make_as_dropped() -> None:
    async def slow(_: Any) -> list[str]:
        await asyncio.sleep(1.0)  # longer than the whole schedule: no slot frees up
        return ["ok"]

    stats = await open_model("slow", slow, None, rate=100, seconds=0.3, in_flight_max=5)  # type: ignore[arg-type]
    assert len(stats.latencies) == 5
    assert stats.dropped == 25
    assert stats.outcomes == {"ok": 5}


async def test_open_model_measures_from_when_a_request_was_due() -> None:
    """One in-flight slot and a 50 ms task at 100/s: later starts wait, and that wait counts."""
    gate = asyncio.Lock()

    async def serialized(_: Any) -> list[str]:
        async with gate:
            await asyncio.sleep(0.05)
        return ["ok"]

    stats = await open_model("queued", serialized, None, rate=100, seconds=0.1)  # type: ignore[arg-type]
    assert len(stats.latencies) == 10
    assert max(stats.latencies) >= 0.40  # the tenth was due at 90 ms and ends at 500 ms or later


async def test_closed_model_runs_clients_back_to_back() -> None:
    async def quick(_: Any) -> list[str]:
        await asyncio.sleep(0.01)
        return ["ok"]

    stats = await closed_model("quick", quick, None, concurrency=4, seconds=0.2)  # type: ignore[arg-type]
    assert 10 <= len(stats.latencies) <= 4 * 21  # never more than four at a time
    assert stats.dropped == 0
