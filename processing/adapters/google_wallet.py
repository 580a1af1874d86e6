"""Google's Wallet API for a program's service account (decision 0030): RS256 signing with the
account's key (``cryptography``, already our sealing library), the OAuth service-account flow
(a signed assertion exchanged at the token endpoint for an access token, kept until
``google_wallet_token_margin_seconds`` before it expires), and the loyalty class and object
calls, over the address-checked client every outbound request uses (decision 0003).

Failures are raised as ``GoogleWalletFailed`` with Google's status and the failure's class, never
with a token, a key or the socket's own words."""

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from processing.adapters.outbound_http import checked_client, count_failure, failure_class
from processing.core import limits
from processing.core.google_wallet import assertion_claims, class_differs
from processing.core.outbound import FailureClass, OutboundPolicy
from processing.service.ports import GoogleWalletCredentials, GoogleWalletFailed

rsa_bits_min = 2048
jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def encoded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def compact(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def rsa_key(private_key: str) -> rsa.RSAPrivateKey | str:
    """The key, or why it is not a usable one."""
    try:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "private_key is not an unencrypted private key in PEM."
    if not isinstance(key, rsa.RSAPrivateKey):
        return "private_key is not an RSA private key (RS256 needs one)."
    if key.key_size < rsa_bits_min:
        return f"private_key has {key.key_size} bits, fewer than {rsa_bits_min}."
    return key


def sign_rs256(private_key: str, claims: dict[str, Any]) -> str:
    key = rsa_key(private_key)
    if isinstance(key, str):
        raise ValueError(key)
    header = encoded(compact({"alg": "RS256", "typ": "JWT"}))
    signing_input = f"{header}.{encoded(compact(claims))}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{encoded(signature)}"


class HttpGoogleWallet:
    def __init__(
        self,
        api_url: str,
        token_url: str,
        timeout_seconds: float,
        policy: OutboundPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self.clock = clock
        self.client = checked_client(
            policy,
            timeout_seconds,
            httpx.Limits(max_connections=10, max_keepalive_connections=5),
            {"User-Agent": "bonus-processing-wallet/1", "Accept": "application/json"},
        )
        # Access tokens by service account and key: (token, when to stop using it).
        self.tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def key_problem(self, private_key: str) -> str | None:
        key = rsa_key(private_key)
        return key if isinstance(key, str) else None

    def sign(self, private_key: str, claims: dict[str, Any]) -> str:
        return sign_rs256(private_key, claims)

    async def ensure_class(
        self, credentials: GoogleWalletCredentials, body: dict[str, Any]
    ) -> None:
        path = f"/loyaltyClass/{body['id']}"
        status, shown = await self.call(credentials, "GET", path)
        if status == 404:
            status, _ = await self.call(credentials, "POST", "/loyaltyClass", body)
            if status != 409:  # inserted meanwhile by another call: there it is
                self.succeeded("POST /loyaltyClass", status)
        else:
            self.succeeded(f"GET {path}", status)
            if isinstance(shown, dict) and class_differs(shown, body):
                status, _ = await self.call(credentials, "PUT", path, body)
                self.succeeded(f"PUT {path}", status)

    async def ensure_object(
        self, credentials: GoogleWalletCredentials, body: dict[str, Any]
    ) -> None:
        path = f"/loyaltyObject/{body['id']}"
        status, _ = await self.call(credentials, "GET", path)
        if status != 404:
            self.succeeded(f"GET {path}", status)
            return
        status, _ = await self.call(credentials, "POST", "/loyaltyObject", body)
        if status != 409:
            self.succeeded("POST /loyaltyObject", status)

    async def patch_object(
        self, credentials: GoogleWalletCredentials, body: dict[str, Any], values: dict[str, Any]
    ) -> int:
        path = f"/loyaltyObject/{body['id']}"
        status, _ = await self.call(credentials, "PATCH", path, values)
        if status == 404:  # deleted at Google's side: put it back with today's values
            status, _ = await self.call(credentials, "POST", "/loyaltyObject", body)
            self.succeeded("POST /loyaltyObject", status)
            return status
        self.succeeded(f"PATCH {path}", status)
        return status

    @staticmethod
    def succeeded(what: str, status: int) -> None:
        if not 200 <= status < 300:
            count_failure(FailureClass.http_status)
            raise GoogleWalletFailed(what, status, FailureClass.http_status.value)

    async def call(
        self,
        credentials: GoogleWalletCredentials,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        """One call with the account's token; a token Google no longer takes (401) is dropped
        and the call made once more with a new one."""
        for fresh in (False, True):
            token = await self.access_token(credentials, fresh=fresh)
            try:
                response = await self.client.request(
                    method,
                    f"{self.api_url}{path}",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                raise self.unreachable(f"{method} {path}", error) from None
            if response.status_code != 401 or fresh:
                break
        try:
            answer = response.json()
        except ValueError:
            answer = None
        return response.status_code, answer

    async def access_token(
        self, credentials: GoogleWalletCredentials, *, fresh: bool = False
    ) -> str:
        email = credentials.settings.service_account_email
        cache_key = (email, credentials.private_key)
        cached = self.tokens.get(cache_key)
        now = self.clock()
        if cached is not None and not fresh and now < cached[1]:
            return cached[0]
        claims = assertion_claims(email, self.token_url, int(now))
        form = {"grant_type": jwt_bearer, "assertion": sign_rs256(credentials.private_key, claims)}
        try:
            response = await self.client.post(self.token_url, data=form)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise self.unreachable("token", error) from None
        self.succeeded("token", response.status_code)
        try:
            answer = response.json()
            token, lifetime = str(answer["access_token"]), int(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise GoogleWalletFailed("token", response.status_code, "no_token") from None
        keep_until = now + max(0, lifetime - limits.google_wallet_token_margin_seconds)
        self.tokens[cache_key] = (token, keep_until)
        return token

    @staticmethod
    def unreachable(what: str, error: Exception) -> GoogleWalletFailed:
        kind = failure_class(error)
        count_failure(kind)
        return GoogleWalletFailed(what, None, kind.value)

    async def close(self) -> None:
        await self.client.aclose()
