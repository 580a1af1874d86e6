"""The fault drill's own parts do what its report claims: the till retries what may not have
happened with the same Idempotency-Key and records what was acknowledged, and "recovered after"
is measured from the fault to the first steady run of normal seconds."""

from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from loadtests.faults import (
    RetryingClient,
    Window,
    normal_p99_bound,
    recovered_after,
    windows,
)
from loadtests.generator import Stats
from loadtests.summarize import median_or_none


@pytest.fixture
async def flaky_server() -> AsyncIterator[tuple[str, list[str]]]:
    """Answers a hold with 503 twice, then with a hold; a refund with a business refusal."""
    seen: list[str] = []

    async def hold(request: web.Request) -> web.Response:
        seen.append(request.headers["Idempotency-Key"])
        if len(seen) <= 2:
            return web.json_response({"code": "internal_error"}, status=503)
        return web.json_response({"id": "hold-1", "status": "active"}, status=201)

    async def refund(request: web.Request) -> web.Response:
        seen.append(request.headers["Idempotency-Key"])
        return web.json_response({"code": "refund_exceeds_original"}, status=409)

    app = web.Application()
    app.router.add_post("/v1/customers/c1/holds", hold)
    app.router.add_post("/v1/operations/o1/refunds", refund)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_the_till_retries_with_the_same_key_and_records_the_acknowledgement(
    flaky_server: tuple[str, list[str]],
) -> None:
    base, seen = flaky_server
    async with aiohttp.ClientSession(base_url=base) as session:
        till = RetryingClient(session, "secret")
        status, body = await till.post("/v1/customers/c1/holds", {"points": 1}, "key-1")
        assert (status, body["id"]) == (201, "hold-1")
        assert seen == ["key-1"] * 3
        assert till.retries == Counter({"reserve": 2})
        [acknowledged] = till.acknowledged
        assert (acknowledged.operation, acknowledged.answer_id) == ("reserve", "hold-1")
        assert acknowledged.retried

        # A business refusal is an answer: not retried, not acknowledged.
        status, body = await till.post("/v1/operations/o1/refunds", {"points": 1}, "key-2")
        assert (status, body["code"]) == (409, "refund_exceeds_original")
        assert seen[3:] == ["key-2"]
        assert len(till.acknowledged) == 1


def test_windows_group_tasks_by_the_second_they_were_due() -> None:
    stats = Stats(name="t")
    stats.timeline = [(0.1, 0.010, False), (0.9, 0.030, True), (1.5, 0.020, False)]
    assert windows(stats) == [Window(0, 2, 1, 30.0), Window(1, 1, 0, 20.0)]


def calm(second: int, p99_ms: float = 10.0, due: int = 10, failed: int = 0) -> Window:
    return Window(second, due, failed, p99_ms)


def test_the_normal_bound_is_twice_the_median_p99_and_at_least_25_ms_more() -> None:
    assert normal_p99_bound([calm(0, 8), calm(1, 10), calm(2, 400)]) == 35.0
    assert normal_p99_bound([calm(0, 40), calm(1, 50), calm(2, 60)]) == 100.0


def test_recovery_counts_from_the_fault_to_the_first_three_normal_seconds() -> None:
    timeline = [
        calm(10),
        calm(11, failed=3),  # the fault at 11.5 hurts second 11
        calm(12, p99_ms=900),
        calm(13),  # normal, but only one second before another bad one
        calm(14, due=5),  # starts were dropped
        calm(15),
        calm(16),
        calm(17),
    ]
    assert recovered_after(timeline, 11.5, bound_ms=50, rate=10) == 3.5
    # A fault nobody noticed has recovered at once.
    assert recovered_after(timeline, 15.0, bound_ms=50, rate=10) == 0.0
    # Not three normal seconds left before the run ended.
    assert recovered_after(timeline, 16.0, bound_ms=50, rate=10) is None


def test_a_run_that_never_recovered_counts_as_unbounded_in_the_median() -> None:
    assert median_or_none([4.0, None, 2.0]) == "4"
    assert median_or_none([None, None, 1.0]) == "not within the run"
    assert median_or_none([0.0, 2.0, 1.0]) == "1"
