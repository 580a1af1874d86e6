"""A local APNs: HTTP/2 over TLS (the ``h2`` state machine on an asyncio server, ALPN h2) that
answers ``POST /3/device/<token>`` as Apple does (spec §3) and checks what Apple checks: the
provider token is an ES256 JWT with our key id and team, not older than an hour, whose signature
verifies with the key's public half; the topic is the pass type; the payload is JSON. It records
each push it accepted; tokens in ``gone`` answer 410, and ``fail_next`` answers 503 that many
times."""

import asyncio
import base64
import json
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID


@dataclass
class Push:
    token: str
    topic: str
    jwt: str
    payload: Any


def _decoded(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake apns")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "apns-cert.pem", folder / "apns-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class FakeApns:
    public_key: ec.EllipticCurvePublicKey
    key_id: str
    team_id: str
    topic: str
    pushes: list[Push] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    fail_next: int = 0
    url: str = ""
    server: asyncio.Server | None = None

    async def start(self, cert_file: Path, key_file: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        context.set_alpn_protocols(["h2"])
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0, ssl=context)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        connection = h2.connection.H2Connection(config=config)
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        try:
            while data := await reader.read(65535):
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data or b"")
                        connection.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        status, reply = self.answer(headers, bytes(body))
                        connection.send_headers(
                            event.stream_id,
                            [(":status", str(status)), ("content-type", "application/json")],
                        )
                        connection.send_data(event.stream_id, reply, end_stream=True)
                writer.write(connection.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def refuse(self, status: int, reason: str) -> tuple[int, bytes]:
        self.refusals.append(reason)
        body: dict[str, Any] = {"reason": reason}
        if status == 410:
            body["timestamp"] = int(time.time() * 1000)
        return status, json.dumps(body).encode()

    def token_refusal(self, authorization: str) -> str | None:
        scheme, _, jwt = authorization.partition(" ")
        if scheme != "bearer" or jwt.count(".") != 2:
            return "MissingProviderToken"
        header_text, claims_text, signature_text = jwt.split(".")
        header = json.loads(_decoded(header_text))
        claims = json.loads(_decoded(claims_text))
        if header != {"alg": "ES256", "kid": self.key_id} or claims.get("iss") != self.team_id:
            return "InvalidProviderToken"
        if not time.time() - 3600 < claims.get("iat", 0) <= time.time() + 60:
            return "ExpiredProviderToken"
        raw = _decoded(signature_text)
        if len(raw) != 64:
            return "InvalidProviderToken"
        signature = encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )
        try:
            self.public_key.verify(
                signature, f"{header_text}.{claims_text}".encode(), ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            return "InvalidProviderToken"
        return None

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        path = headers.get(":path", "")
        if headers.get(":method") != "POST" or not path.startswith("/3/device/"):
            return self.refuse(405, "MethodNotAllowed")
        refusal = self.token_refusal(headers.get("authorization", ""))
        if refusal is not None:
            return self.refuse(403, refusal)
        if headers.get("apns-topic") != self.topic:
            return self.refuse(400, "BadTopic")
        try:
            payload = json.loads(body)
        except ValueError:
            return self.refuse(400, "PayloadEmpty")
        token = path.removeprefix("/3/device/")
        if token in self.gone:
            return self.refuse(410, "Unregistered")
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.refuse(503, "ServiceUnavailable")
        self.pushes.append(
            Push(
                token=token,
                topic=headers["apns-topic"],
                jwt=headers["authorization"],
                payload=payload,
            )
        )
        return 200, b""
