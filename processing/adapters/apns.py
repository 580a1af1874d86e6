"""APNs for pass updates (decision 0029, spec §3): HTTP/2 ``POST /3/device/<push token>`` with
``apns-topic`` = the pass type identifier and an empty JSON payload, authenticated by a token:
an ES256 JWT (``kid`` = the key's id, ``iss`` = the team, ``iat``) signed with the team's APNs
key. The JWT is made once and reused for ``token_seconds`` (Apple refuses refreshing more often
than every 20 minutes and tokens older than an hour), on one pooled HTTP/2 connection.
"""

import base64
import json
import ssl
import time
from collections.abc import Callable

import httpx
import structlog
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from processing.service.ports import PushResult

log = structlog.get_logger("apns")
# A JWT is reused this long: inside Apple's 20 to 60 minutes.
token_seconds = 30 * 60


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class ApnsKeyError(ValueError):
    """The APNs key configured is not an EC P-256 private key in PEM."""


class ApnsClient:
    """The ``PassPush`` port over httpx with HTTP/2."""

    def __init__(
        self,
        url: str,
        key_id: str,
        team_id: str,
        key_pem: bytes,
        timeout_seconds: float,
        ca_file: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ApnsKeyError("the APNs key is an EC P-256 private key (.p8, PEM)")
        self.url = url.rstrip("/")
        self.key_id = key_id
        self.team_id = team_id
        self.key = key
        self.clock = clock
        self.jwt: tuple[float, str] | None = None
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_file) if ca_file else True
        )
        self.client = httpx.AsyncClient(http2=True, timeout=timeout_seconds, verify=verify)

    def token(self) -> str:
        """The provider token, made again only when the one in use is ``token_seconds`` old."""
        now = self.clock()
        if self.jwt is not None and now - self.jwt[0] < token_seconds:
            return self.jwt[1]
        header = _segment(json.dumps({"alg": "ES256", "kid": self.key_id}).encode())
        claims = _segment(json.dumps({"iss": self.team_id, "iat": int(now)}).encode())
        signed = f"{header}.{claims}".encode()
        r, s = decode_dss_signature(self.key.sign(signed, ec.ECDSA(hashes.SHA256())))
        signature = _segment(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        self.jwt = (now, f"{header}.{claims}.{signature}")
        return self.jwt[1]

    async def push(self, push_token: str, topic: str) -> PushResult:
        headers = {
            "authorization": f"bearer {self.token()}",
            "apns-topic": topic,
            "apns-push-type": "background",
            "apns-priority": "5",
        }
        try:
            response = await self.client.post(
                f"{self.url}/3/device/{push_token}", content=b"{}", headers=headers
            )
        except httpx.HTTPError as error:
            log.warning("apns_unreachable", error=type(error).__name__)
            return PushResult.failed
        if response.status_code == 200:
            return PushResult.sent
        reason = _reason(response)
        if response.status_code == 410 or reason in ("BadDeviceToken", "DeviceTokenNotForTopic"):
            return PushResult.gone
        if reason in ("ExpiredProviderToken", "InvalidProviderToken"):
            self.jwt = None  # made again on the next attempt
        log.warning("apns_refused", status=response.status_code, reason=reason)
        return PushResult.failed

    async def close(self) -> None:
        await self.client.aclose()


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))
    except ValueError:
        return ""
