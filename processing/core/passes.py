"""Apple Wallet store cards (decision 0029): what a card's pass shows, as the files of a
``.pkpass`` package, and the checks of what an operator configures for it.

Pure: the pass is built from values read before (the card, its balance and tier, the last
operations, the program's settings); the signature over the manifest is made by an adapter, and
is the only part of a package that is not a function of these values. So two builds of an
unchanged card give the same manifest, and the manifest's digest is what a pass's update tag
follows: the tag moves exactly when what the pass shows moves.
"""

import hashlib
import io
import json
import re
import struct
import zipfile
from collections.abc import Mapping
from datetime import datetime

import msgspec

from processing.core import limits

png_signature = b"\x89PNG\r\n\x1a\n"
wallet_media_type = "application/vnd.apple.pkpass"
_rgb = re.compile(r"rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)")
_pass_type = re.compile(r"pass(\.[A-Za-z0-9][A-Za-z0-9-]*){2,}")
_team = re.compile(r"[A-Z0-9]{10}")


class ImageRule(msgspec.Struct, frozen=True, kw_only=True):
    """The pixels an uploaded image may have (an @2x image, shipped as ``@2x`` and scaled for
    ``@1x`` by the device) and the files it becomes in the package."""

    width_min: int
    width_max: int
    height_min: int
    height_max: int
    files: tuple[str, ...]


# Apple's sizes in points (spec §1.2): icon 29×29, logo at most 160×50; uploaded at @2x.
image_rules: Mapping[str, ImageRule] = {
    "icon": ImageRule(
        width_min=29, width_max=87, height_min=29, height_max=87, files=("icon.png", "icon@2x.png")
    ),
    "logo": ImageRule(
        width_min=1, width_max=320, height_min=1, height_max=100, files=("logo.png", "logo@2x.png")
    ),
}


def rgb_refusal(text: str) -> str | None:
    """Why ``text`` is not a colour as a pass takes it (``rgb(r, g, b)``, each 0 to 255)."""
    found = _rgb.fullmatch(text)
    if found is None or any(int(part) > 255 for part in found.groups()):
        return "is a colour as rgb(r, g, b), each 0 to 255"
    return None


def pass_type_refusal(text: str) -> str | None:
    if len(text) > limits.pass_type_identifier_length_max or not _pass_type.fullmatch(text):
        return (
            "is a pass type identifier: reverse DNS starting with 'pass.' "
            f"(e.g. pass.com.example.loyalty), at most {limits.pass_type_identifier_length_max}"
            " characters"
        )
    return None


def team_refusal(text: str) -> str | None:
    return None if _team.fullmatch(text) else "is an Apple Team ID: 10 capital letters or digits"


def png_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header (its signature and IHDR chunk), or None when the
    bytes are not a PNG."""
    if len(data) < 24 or not data.startswith(png_signature) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def image_refusal(kind: str, data: bytes) -> str | None:
    """Why ``data`` cannot be the program's ``kind`` image: not a PNG, too many bytes or pixels
    out of Apple's bounds."""
    rule = image_rules[kind]
    if len(data) > limits.pass_image_bytes_max:
        return f"is at most {limits.pass_image_bytes_max} bytes (pass_image_bytes_max)"
    size = png_dimensions(data)
    if size is None:
        return "is not a PNG image"
    width, height = size
    if not (rule.width_min <= width <= rule.width_max) or not (
        rule.height_min <= height <= rule.height_max
    ):
        return (
            f"is {width}x{height} pixels; a {kind} is {rule.width_min}-{rule.width_max} wide "
            f"and {rule.height_min}-{rule.height_max} high (@2x)"
        )
    return None


class PassLook(msgspec.Struct, frozen=True, kw_only=True):
    """What the program's settings give every one of its passes."""

    pass_type_identifier: str
    team_identifier: str
    organization_name: str
    description: str
    background_color: str
    foreground_color: str
    label_color: str
    terms: str
    images: Mapping[str, bytes]  # kind → PNG


class PassOperation(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    points: int
    created_at: datetime


class CardPass(msgspec.Struct, frozen=True, kw_only=True):
    """What one card's pass shows, and how a device reaches us for its updates."""

    serial_number: str
    authentication_token: str
    web_service_url: str
    card_number: str
    card_status: str
    customer_name: str | None
    available: int
    tier: str | None
    operations: tuple[PassOperation, ...]


_operation_words = {
    "accrual": "Earned",
    "purchase": "Purchase",
    "commit": "Spent",
    "refund": "Refund",
    "expire": "Expired",
    "adjustment": "Adjustment",
}


def _operation_line(operation: PassOperation) -> str:
    word = _operation_words.get(operation.type, operation.type.capitalize())
    return f"{operation.created_at:%Y-%m-%d %H:%M} UTC  {word}  {operation.points}"


def pass_document(card: CardPass, look: PassLook) -> dict[str, object]:
    """pass.json as a store card (spec §1.1): balance primary, tier in the header, card number
    and status beside them, QR and PDF417 barcodes carrying the card number exactly as the
    till's identify takes it, terms and the last operations on the back."""
    barcode = {"message": card.card_number, "messageEncoding": "iso-8859-1"}
    history = "\n".join(_operation_line(operation) for operation in card.operations)
    back = [{"key": "terms", "label": "Terms", "value": look.terms}]
    back.append({"key": "operations", "label": "Recent operations", "value": history or "None"})
    return {
        "formatVersion": 1,
        "passTypeIdentifier": look.pass_type_identifier,
        "serialNumber": card.serial_number,
        "teamIdentifier": look.team_identifier,
        "organizationName": look.organization_name,
        "description": look.description,
        "logoText": look.organization_name,
        "backgroundColor": look.background_color,
        "foregroundColor": look.foreground_color,
        "labelColor": look.label_color,
        "webServiceURL": card.web_service_url,
        "authenticationToken": card.authentication_token,
        "barcodes": [
            {"format": "PKBarcodeFormatQR", **barcode, "altText": card.card_number},
            {"format": "PKBarcodeFormatPDF417", **barcode, "altText": card.card_number},
        ],
        "storeCard": {
            "headerFields": [
                {
                    "key": "tier",
                    "label": "Tier",
                    "value": card.tier or "—",
                    "changeMessage": "Your tier is now %@",
                }
            ],
            "primaryFields": [
                {
                    "key": "balance",
                    "label": "Points",
                    "value": card.available,
                    "changeMessage": "Your balance is now %@ points",
                }
            ],
            "secondaryFields": [
                {"key": "card", "label": "Card", "value": card.card_number},
                {
                    "key": "status",
                    "label": "Status",
                    "value": card.card_status,
                    "changeMessage": "Your card is now %@",
                },
            ],
            "auxiliaryFields": [
                {"key": "name", "label": "Member", "value": card.customer_name or ""},
            ],
            "backFields": back,
        },
    }


def package_files(card: CardPass, look: PassLook) -> dict[str, bytes]:
    """Every file of the package but the manifest and the signature, in a fixed order."""
    document = json.dumps(pass_document(card, look), ensure_ascii=False, indent=1)
    files = {"pass.json": document.encode()}
    for kind, rule in sorted(image_rules.items()):
        image = look.images.get(kind)
        if image is not None:
            files.update(dict.fromkeys(rule.files, image))
    return files


def manifest(files: Mapping[str, bytes]) -> bytes:
    """manifest.json: each file's lowercase hex SHA-1 (spec §1.2), keys sorted, so the same
    files always give the same bytes."""
    hashes = {
        name: hashlib.sha1(data, usedforsecurity=False).hexdigest()
        for name, data in sorted(files.items())
    }
    return json.dumps(hashes, indent=1, sort_keys=True).encode()


def content_digest(manifest_bytes: bytes) -> bytes:
    """What a pass's update tag follows: the manifest names every file by its hash."""
    return hashlib.sha256(manifest_bytes).digest()


def zip_package(files: Mapping[str, bytes], manifest_bytes: bytes, signature: bytes) -> bytes:
    """The ``.pkpass``: a ZIP with every file, manifest.json and signature at its top level."""
    buffer = io.BytesIO()
    entries = [*files.items(), ("manifest.json", manifest_bytes), ("signature", signature)]
    with zipfile.ZipFile(buffer, "w") as package:
        for name, data in entries:
            entry = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            package.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
