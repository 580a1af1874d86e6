"""A fake Google Wallet API over real HTTP: the OAuth token endpoint of the service-account flow
(a JWT assertion, checked as Google checks it: RS256 against the service account's public key,
``iss`` an account it knows, the wallet scope, ``aud`` this endpoint, a lifetime of at most an
hour) and the loyalty class and object resources (insert, get, update, patch) under
``/walletobjects/v1``, which take only a bearer token the endpoint issued and not yet expired.
Ids are checked (``<issuer>.<suffix>``, the suffix of letters, digits, ``.``, ``_``, ``-``), an
object's class must exist, and every request is recorded. The next answers can be made to fail
(``failures``: statuses such as 503 or 429 answered instead, one per request)."""

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.http import serve

scope = "https://www.googleapis.com/auth/wallet_object.issuer"
_id = re.compile(r"[0-9]+\.[A-Za-z0-9._-]+")


def new_key(bits: int = 2048) -> tuple[str, rsa.RSAPublicKey]:
    """A service account's private key in PEM, and its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(token: str, public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The claims of an RS256 JWT signed by ``public_key``'s private key; ValueError otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    header = json.loads(_decode(parts[0]))
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')!r}, not RS256")
    try:
        public_key.verify(
            _decode(parts[2]),
            f"{parts[0]}.{parts[1]}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise ValueError("bad signature") from None
    claims: dict[str, Any] = json.loads(_decode(parts[1]))
    return claims


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int


@dataclass
class FakeGoogleWallet:
    url: str = ""  # http://127.0.0.1:<port>, once started
    accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)  # e-mail -> public key
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    token_lifetime_seconds: int = 3600
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)  # the API's, in order
    assertions: list[dict[str, Any]] = field(default_factory=list)  # the token endpoint's
    refused_assertions: list[str] = field(default_factory=list)  # why each was refused
    failures: list[int] = field(default_factory=list)  # the next API answers, then normal
    runner: web.AppRunner | None = None

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def api_url(self) -> str:
        return f"{self.url}/walletobjects/v1"

    async def start(self) -> "FakeGoogleWallet":
        app = web.Application()
        app.router.add_post("/token", self.token)
        app.router.add_route("*", "/walletobjects/v1/{kind}", self.collection)
        app.router.add_route("*", "/walletobjects/v1/{kind}/{resource_id}", self.resource)
        self.runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def patches(self, object_id: str) -> list[Call]:
        return [
            call
            for call in self.calls
            if call.method == "PATCH" and call.path.endswith(f"/loyaltyObject/{object_id}")
        ]

    # The token endpoint.

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self.refuse_assertion("unsupported_grant_type")
        problem = self.assertion_problem(str(form.get("assertion", "")))
        if problem is not None:
            return self.refuse_assertion(problem)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_lifetime_seconds
        return web.json_response(
            {
                "access_token": token,
                "expires_in": self.token_lifetime_seconds,
                "token_type": "Bearer",
            }
        )

    def assertion_problem(self, assertion: str) -> str | None:
        try:
            unverified = json.loads(_decode(assertion.split(".")[1]))
        except (IndexError, ValueError):
            return "not a JWT"
        public_key = self.accounts.get(str(unverified.get("iss")))
        if public_key is None:
            return "unknown service account"
        try:
            claims = verify_jwt(assertion, public_key)
        except ValueError as error:
            return str(error)
        now = time.time()
        if claims.get("scope") != scope:
            return "wrong scope"
        if claims.get("aud") != self.token_url:
            return "wrong audience"
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return "iat and exp are integers"
        if iat > now + 60 or exp <= now or exp - iat > 3600:
            return "expired or too long"
        self.assertions.append(claims)
        return None

    def refuse_assertion(self, why: str) -> web.Response:
        self.refused_assertions.append(why)
        return web.json_response({"error": "invalid_grant", "error_description": why}, status=400)

    # The API.

    def authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        return header.startswith("Bearer ") and self.tokens.get(token, 0.0) > time.time()

    async def answered(self, request: web.Request, status: int, body: Any = None) -> web.Response:
        raw = await request.read()  # read once and kept by aiohttp: a handler may have read it
        try:
            sent = json.loads(raw) if raw else None
        except ValueError:
            sent = None
        self.calls.append(Call(request.method, request.path, sent, status))
        if status >= 400 and body is None:
            body = {"error": {"code": status, "message": "fake refusal"}}
        return web.json_response(body, status=status)

    def store(self, kind: str) -> dict[str, dict[str, Any]] | None:
        return {"loyaltyClass": self.classes, "loyaltyObject": self.objects}.get(kind)

    async def collection(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        store = self.store(kind)
        if store is None or request.method != "POST":
            return await self.answered(request, 404)
        if not self.authorized(request):
            return await self.answered(request, 401)
        if self.failures:
            return await self.answered(request, self.failures.pop(0))
        body = await request.json()
        resource_id = str(body.get("id", ""))
        if _id.fullmatch(resource_id) is None:
            return await self.answered(request, 400)
        if kind == "loyaltyObject" and body.get("classId") not in self.classes:
            return await self.answered(request, 404)
        if resource_id in store:
            return await self.answered(request, 409)
        store[resource_id] = body
        return await self.answered(request, 200, body)

    async def resource(self, request: web.Request) -> web.Response:
        kind, resource_id = request.match_info["kind"], request.match_info["resource_id"]
        store = self.store(kind)
        if store is None:
            return await self.answered(request, 404)
        if not self.authorized(request):
            return await self.answered(request, 401)
        if self.failures:
            return await self.answered(request, self.failures.pop(0))
        if resource_id not in store:
            return await self.answered(request, 404)
        if request.method == "GET":
            return await self.answered(request, 200, store[resource_id])
        body = await request.json()
        if request.method == "PUT":
            store[resource_id] = body
        elif request.method == "PATCH":
            store[resource_id] = {**store[resource_id], **body}
        else:
            return await self.answered(request, 405)
        return await self.answered(request, 200, store[resource_id])
