"""What an operator sees: one structured log line per request, and Prometheus metrics per
operation (counts, latency, rejections, points moved, lock waits) on ``/metrics``."""

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from tests.conftest import Api


async def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def delta(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_every_request_logs_one_line_with_its_id_operation_and_outcome(api: Api) -> None:
    customer = await api.customer(points=10)
    with capture_logs() as logs:
        headers = {**api.headers(), "X-Request-Id": "till-7-req-42"}
        accepted = await api.client.post(
            f"/v1/customers/{customer}/holds",
            json={"points": 5, "document": {"id": "cart-1"}},
            headers=headers,
        )
        refused = await api.reserve(customer, 500)

    lines = [line for line in logs if line["event"] == "request"]
    assert len(lines) == 2
    first, second = lines
    assert accepted.headers["x-request-id"] == "till-7-req-42"
    assert first["request_id"] == "till-7-req-42"
    assert (first["operation"], first["status"], first["outcome"]) == ("reserve", 201, "ok")
    assert (second["status"], second["outcome"]) == (409, "insufficient_points")
    assert second["request_id"] == refused.headers["x-request-id"]
    assert len(second["request_id"]) == 32
    for line in lines:
        assert line["duration_ms"] > 0
        assert line["key_id"]
        assert line["method"] == "POST"


async def test_metrics_count_operations_rejections_points_and_lock_waits(api: Api) -> None:
    customer = await api.customer()
    before = await scrape(api)

    await api.accrue(customer, 40)
    hold = (await api.reserve(customer, 30)).json()
    await api.post(f"/v1/holds/{hold['id']}/commit", {"points": 25})
    await api.reserve(customer, 1000)  # refused: insufficient points
    after = await scrape(api)

    assert delta(before, after, "bonus_requests_total", operation="reserve", outcome="ok") == 1
    assert (
        delta(
            before, after, "bonus_requests_total",
            operation="reserve", outcome="insufficient_points",
        )
        == 1
    )  # fmt: skip
    assert delta(before, after, "bonus_request_duration_seconds_count", operation="commit") == 1
    assert delta(before, after, "bonus_rejections_total", code="insufficient_points") == 1
    assert delta(before, after, "bonus_points_total", movement="issued") == 40
    assert delta(before, after, "bonus_points_total", movement="redeemed") == 25
    assert delta(before, after, "bonus_lock_wait_seconds_count") >= 4
    assert ("bonus_db_pool_connections_max", ()) in after


async def test_a_replay_moves_no_points_in_the_metrics(api: Api) -> None:
    customer = await api.customer()
    body = {"points": 7, "document": {"id": "receipt-77"}}
    await api.post(f"/v1/customers/{customer}/accruals", body, idempotency_key="once")
    before = await scrape(api)
    await api.post(f"/v1/customers/{customer}/accruals", body, idempotency_key="once")
    after = await scrape(api)
    assert delta(before, after, "bonus_points_total", movement="issued") == 0
    assert delta(before, after, "bonus_idempotent_replays_total") == 1
    assert delta(before, after, "bonus_requests_total", operation="accrue", outcome="replayed") == 1


async def test_bonus_points_granted_inside_a_purchase_are_counted_too(api: Api) -> None:
    rules = {
        "earning": {"base_bp": 1000},
        "bonuses": {"welcome": 5, "referral": {"referrer": 30, "referred": 20}},
    }
    answer = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert answer.status_code == 200, answer.text
    friend = (await api.post("/v1/customers", {"phone": "+79120000001"})).json()["id"]
    newcomer = await api.post("/v1/customers", {"phone": "+79120000002", "referred_by": friend})
    before = await scrape(api)
    bought = await api.post(
        f"/v1/customers/{newcomer.json()['id']}/purchases",
        {
            "document": {"id": "R-1"},
            "lines": [{"line_id": "1", "sku": "x", "quantity": 1, "unit_price_minor": 10_000}],
        },
    )
    assert bought.status_code == 201, bought.text
    after = await scrape(api)
    # 10 % of 100 rubles earned, plus both sides of the referral bonus.
    assert delta(before, after, "bonus_points_total", movement="issued") == 10 + 20 + 30
