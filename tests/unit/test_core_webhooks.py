"""Webhook signing and the retry backoff, table by table."""

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from processing.core.webhooks import delivered, retry_delay, signature

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("attempts", "jitter", "seconds"),
    [
        pytest.param(1, 0.0, 5.0, id="first-retry-half-the-base-at-least"),
        pytest.param(1, 0.5, 7.5, id="first-retry-jittered"),
        pytest.param(2, 0.0, 10.0, id="doubles"),
        pytest.param(4, 0.0, 40.0, id="doubles-again"),
        pytest.param(10, 0.0, 1800.0, id="capped"),
        pytest.param(10_000, 0.999, 1800.0 + 1798.2, id="no-overflow-at-absurd-attempts"),
    ],
)
def test_retries_back_off_exponentially_with_half_of_each_step_jittered(
    attempts: int, jitter: float, seconds: float
) -> None:
    assert retry_delay(attempts, 10.0, 3600.0, jitter) == pytest.approx(seconds)


def test_a_signature_is_what_the_reference_verifier_accepts_and_nothing_else() -> None:
    body = b'{"id":"e1","type":"points.accrued"}'
    now = int(time.time())  # the verifier refuses timestamps far from its clock
    headers = {
        "webhook-id": "e1",
        "webhook-timestamp": str(now),
        "webhook-signature": signature(SECRET, "e1", now, body),
    }
    assert headers["webhook-signature"].startswith("v1,")
    verifier = Webhook(SECRET)
    assert verifier.verify(body, headers) == {"id": "e1", "type": "points.accrued"}
    for tampered in (
        {**headers, "webhook-id": "e2"},
        {**headers, "webhook-timestamp": str(now + 1)},
    ):
        with pytest.raises(WebhookVerificationError, match="signature"):
            verifier.verify(body, tampered)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verifier.verify(body + b" ", headers)


@pytest.mark.parametrize(
    ("status", "acknowledged"), [(200, True), (204, True), (299, True), (301, False), (500, False)]
)
def test_only_a_2xx_acknowledges(status: int, acknowledged: bool) -> None:
    assert delivered(status) is acknowledged
