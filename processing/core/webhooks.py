"""Webhook deliveries: how they are signed, and when a failed one is tried again.

The format is Standard Webhooks (the specification several webhook senders share, so
receivers can verify with an off-the-shelf library): the headers ``webhook-id`` (the event's
stable id, the same on every attempt), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), where the
key is the base64 part of the ``whsec_…`` secret. Retries back off exponentially with jitter, so
a receiver that comes back is not hit by every sender at once.
"""

import base64
import hashlib
import hmac

from processing.core.invariants import invariant

secret_prefix = "whsec_"  # noqa: S105 - a format marker, not a secret


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    invariant(secret.startswith(secret_prefix), "webhook secrets carry their prefix")
    key = base64.b64decode(secret.removeprefix(secret_prefix))
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def retry_delay(attempts: int, base_seconds: float, cap_seconds: float, jitter: float) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: the exponential step
    ``base × 2^(attempts-1)`` capped at ``cap``, half of it fixed and half scaled by ``jitter``
    (uniform in [0, 1)), so retries spread out but never come sooner than half the step."""
    invariant(attempts >= 1, "a delay follows a failed attempt")
    invariant(0.0 <= jitter < 1.0, "jitter is a uniform draw in [0, 1)")
    step = min(cap_seconds, base_seconds * (1 << min(attempts - 1, 62)))
    return step / 2 + step / 2 * jitter


def delivered(status_code: int) -> bool:
    """Any 2xx acknowledges an event; everything else (3xx included) is tried again."""
    return 200 <= status_code < 300
