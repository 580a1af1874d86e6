"""What Apple issues for Wallet passes, made in the test: a root CA, a WWDR-like intermediate it
signs, and a pass type certificate the intermediate signs (UID = the pass type identifier, OU =
the team, as Apple writes them); PNG images of any size; and the strict reading of a .pkpass
that the tests hold the server's to (spec §1)."""

import io
import json
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha1
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

pass_type = "pass.com.example.loyalty"
team = "ABCDE12345"


def _name(common: str, **more: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if "uid" in more:
        attributes.append(x509.NameAttribute(NameOID.USER_ID, more["uid"]))
    if "unit" in more:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, more["unit"]))
    return x509.Name(attributes)


def _certificate(
    subject: x509.Name,
    key: Any,
    issuer: x509.Name,
    issuer_key: Any,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    usage = dict.fromkeys(
        (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    builder = builder.add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, **usage),
        critical=True,
    )
    return builder.sign(issuer_key, hashes.SHA256())


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class Chain:
    root: x509.Certificate
    wwdr: x509.Certificate
    certificate: x509.Certificate
    key: Any

    @property
    def credentials(self) -> dict[str, str]:
        return {
            "certificate_pem": pem(self.certificate),
            "private_key_pem": key_pem(self.key),
            "wwdr_pem": pem(self.wwdr),
        }


def make_chain(*, uid: str = pass_type, unit: str = team, elliptic: bool = False) -> Chain:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Test Root CA")
    root = _certificate(root_name, root_key, root_name, root_key, ca=True)
    wwdr_key = ec.generate_private_key(ec.SECP256R1())
    wwdr_name = _name("Test WWDR Intermediate")
    wwdr = _certificate(wwdr_name, wwdr_key, root_name, root_key, ca=True)
    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if elliptic
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    subject = _name(f"Pass Type ID: {uid}", uid=uid, unit=unit)
    certificate = _certificate(subject, key, wwdr_name, wwdr_key, ca=False)
    return Chain(root=root, wwdr=wwdr, certificate=certificate, key=key)


def png(width: int, height: int) -> bytes:
    """A valid PNG of one grey colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


_colour = re.compile(r"rgb\(\d{1,3}, \d{1,3}, \d{1,3}\)")
_field_keys = {"key", "value", "label", "changeMessage", "textAlignment", "attributedValue"}
_barcode_formats = {"PKBarcodeFormatQR", "PKBarcodeFormatPDF417", "PKBarcodeFormatAztec"}


def parse_pass(document: dict[str, Any]) -> dict[str, Any]:
    """pass.json read as Wallet reads a store card (spec §1.1), strictly: every required key of
    its type, known barcode formats with message and encoding, field dicts with unique keys,
    rgb() colours, a token of at least 16 characters. Returns the fields by key."""
    required = {
        "formatVersion": int,
        "passTypeIdentifier": str,
        "serialNumber": str,
        "teamIdentifier": str,
        "organizationName": str,
        "description": str,
        "storeCard": dict,
    }
    for key, kind in required.items():
        assert isinstance(document.get(key), kind), f"pass.json {key} missing or not {kind}"
    assert document["formatVersion"] == 1
    assert document["passTypeIdentifier"].startswith("pass.")
    assert "barcode" not in document, "the deprecated single barcode"
    for key in ("backgroundColor", "foregroundColor", "labelColor"):
        assert _colour.fullmatch(document[key]), (key, document[key])
    assert len(document["authenticationToken"]) >= 16
    assert document["webServiceURL"].startswith(("https://", "http://"))
    for barcode in document["barcodes"]:
        assert barcode["format"] in _barcode_formats
        assert isinstance(barcode["message"], str)
        assert barcode["message"]
        assert barcode["messageEncoding"] == "iso-8859-1"
        barcode["message"].encode("iso-8859-1")
    fields: dict[str, Any] = {}
    style = document["storeCard"]
    assert set(style) <= {
        "headerFields",
        "primaryFields",
        "secondaryFields",
        "auxiliaryFields",
        "backFields",
    }
    assert len(style.get("primaryFields", [])) <= 1
    assert len(style.get("headerFields", [])) <= 3
    assert len(style.get("secondaryFields", [])) + len(style.get("auxiliaryFields", [])) <= 4
    for group in style.values():
        for field in group:
            assert set(field) <= _field_keys, field
            assert isinstance(field["key"], str), field
            assert field["key"] not in fields, field
            assert isinstance(field["value"], str | int | float), field
            if "changeMessage" in field:
                assert "%@" in field["changeMessage"]
            fields[field["key"]] = field["value"]
    return fields


@dataclass
class Opened:
    files: dict[str, bytes]
    document: dict[str, Any]
    fields: dict[str, Any]


def open_package(content: bytes) -> Opened:
    """The .pkpass unzipped, every manifest hash checked, pass.json parsed strictly."""
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        files = {name: package.read(name) for name in package.namelist()}
    assert {"pass.json", "manifest.json", "signature", "icon.png"} <= set(files)
    listed = json.loads(files["manifest.json"])
    assert set(listed) == set(files) - {"manifest.json", "signature"}
    for name, digest in listed.items():
        assert sha1(files[name], usedforsecurity=False).hexdigest() == digest, name
    document = json.loads(files["pass.json"])
    return Opened(files=files, document=document, fields=parse_pass(document))


def verify_signature(opened: Opened, chain: Chain, folder: Path) -> str:
    """The detached signature checked by the OpenSSL command line against the test root (the
    WWDR intermediate must come from the signature itself), and its signed attributes printed;
    returns that print."""
    (folder / "manifest.json").write_bytes(opened.files["manifest.json"])
    (folder / "signature").write_bytes(opened.files["signature"])
    (folder / "root.pem").write_text(pem(chain.root))
    openssl = shutil.which("openssl")
    assert openssl is not None, "the OpenSSL command line verifies the signature: install openssl"
    verified = subprocess.run(  # noqa: S603 (the test's own files)
        [
            openssl,
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(folder / "signature"),
            "-content",
            str(folder / "manifest.json"),
            "-CAfile",
            str(folder / "root.pem"),
            "-purpose",
            "any",
            "-out",
            str(folder / "verified"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert "Verification successful" in verified.stderr
    printed = subprocess.run(  # noqa: S603 (the test's own files)
        [openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(folder / "signature")],
        capture_output=True,
        text=True,
        check=True,
    )
    return printed.stdout
