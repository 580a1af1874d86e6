"""Google Wallet loyalty cards (decision 0030), the pure part: what a program's settings must
be, the ids Google knows a program's class and a card's object by, the class's and the object's
bodies, and the claims of the two JWTs (the service account's token assertion and the "Save to
Google Wallet" link). No I/O, no clock: the time comes in as seconds since the epoch.
"""

import hashlib
import re
from typing import Any
from uuid import UUID

import msgspec

from processing.core import limits

scope = "https://www.googleapis.com/auth/wallet_object.issuer"
save_url_prefix = "https://pay.google.com/gp/v/save/"
token_lifetime_seconds = 3600  # the longest an assertion may ask for

_issuer = re.compile(r"[0-9]{1,19}")
_email = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,63}")
_origin = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")
_colour = re.compile(r"#[0-9A-Fa-f]{6}")
_plain_suffix = re.compile(r"[A-Za-z0-9_-]{1,64}")
_url_characters_max = 2000


class GoogleWalletSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A program's Google Wallet issuer, without the key (which only the adapters see)."""

    program_id: UUID
    issuer_id: str
    service_account_email: str
    program_name: str
    logo_url: str
    background_color: str | None = None
    origins: list[str] = []

    @property
    def class_id(self) -> str:
        return class_id(self.issuer_id, self.program_id)


class CardFace(msgspec.Struct, frozen=True, kw_only=True):
    """What a card's object shows: read when it is inserted or patched, never queued."""

    number: str
    status: str  # the card's: active, blocked, deleted
    name: str | None
    balance: int  # points available now
    tier: str | None


def settings_problem(settings: GoogleWalletSettings) -> tuple[str, str] | None:
    """The field a program's settings get wrong first, and why; None when they are usable.
    The private key is checked where it can be parsed (the signing adapter)."""
    if _issuer.fullmatch(settings.issuer_id) is None:
        return "issuer_id", "issuer_id is the issuer's number from the Google Pay & Wallet Console."
    if _email.fullmatch(settings.service_account_email) is None:
        return "service_account_email", "service_account_email is not an e-mail address."
    name = settings.program_name
    if not name.strip() or len(name) > limits.google_wallet_program_name_characters_max:
        return "program_name", (
            f"program_name is 1 to {limits.google_wallet_program_name_characters_max} characters."
        )
    logo = settings.logo_url
    if not logo.startswith("https://") or len(logo) > _url_characters_max or _blank(logo):
        return "logo_url", "logo_url is an https URL Google can fetch the logo from."
    if settings.background_color is not None and not _colour.fullmatch(settings.background_color):
        return "background_color", "background_color is #rrggbb."
    if len(settings.origins) > limits.google_wallet_origins_max:
        return "origins", f"at most {limits.google_wallet_origins_max} origins."
    for index, origin in enumerate(settings.origins):
        if _origin.fullmatch(origin) is None:
            return f"origins[{index}]", "an origin is scheme://host[:port], with no path."
    return None


def _blank(text: str) -> bool:
    return any(character.isspace() for character in text)


def class_id(issuer_id: str, program_id: UUID) -> str:
    return f"{issuer_id}.program-{program_id.hex}"


def object_id(issuer_id: str, program_id: UUID, card_number: str) -> str:
    """``<issuer>.<suffix>``, the suffix of allowed characters only (letters, digits, ``.``,
    ``_``, ``-``) and unique across the issuer's programs: a card number that is not plain is
    named by its digest, under a marker no plain number can take."""
    if _plain_suffix.fullmatch(card_number):
        return f"{issuer_id}.{program_id.hex}-c-{card_number}"
    digest = hashlib.sha256(card_number.encode()).hexdigest()[:40]
    return f"{issuer_id}.{program_id.hex}-h-{digest}"


def loyalty_class(settings: GoogleWalletSettings) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": class_id(settings.issuer_id, settings.program_id),
        "issuerName": settings.program_name,
        "programName": settings.program_name,
        "programLogo": {
            "sourceUri": {"uri": settings.logo_url},
            "contentDescription": {
                "defaultValue": {"language": "ru", "value": settings.program_name}
            },
        },
        "reviewStatus": "UNDER_REVIEW",
    }
    if settings.background_color is not None:
        body["hexBackgroundColor"] = settings.background_color.lower()
    return body


def class_differs(shown: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether the class Google has shows other values than the settings: then it is updated."""
    fields = ("issuerName", "programName", "hexBackgroundColor")
    if any(shown.get(name) != wanted.get(name) for name in fields):
        return True
    uri = (shown.get("programLogo") or {}).get("sourceUri", {}).get("uri")
    return bool(uri != wanted["programLogo"]["sourceUri"]["uri"])


def object_values(face: CardFace) -> dict[str, Any]:
    """The fields of a card's object that change with the card: the balance, the tier (a text
    module: LoyaltyObject has no tier field of its own), the state and the account name."""
    name = (face.name or face.number)[: limits.google_wallet_account_name_characters_max]
    return {
        "state": "ACTIVE" if face.status == "active" else "INACTIVE",
        "accountName": name,
        "loyaltyPoints": {"label": "Points", "balance": {"int": face.balance}},
        "textModulesData": [{"id": "tier", "header": "Tier", "body": face.tier or "—"}],
    }


def loyalty_object(settings: GoogleWalletSettings, face: CardFace) -> dict[str, Any]:
    """The whole object: its ids, the card number as the account and as a QR code the till's
    ``/pos/v1/identify`` reads (``type: qr``), and the values that change."""
    return {
        "id": object_id(settings.issuer_id, settings.program_id, face.number),
        "classId": class_id(settings.issuer_id, settings.program_id),
        "accountId": face.number,
        "barcode": {"type": "QR_CODE", "value": face.number, "alternateText": face.number},
        **object_values(face),
    }


def assertion_claims(email: str, token_url: str, now_seconds: int) -> dict[str, Any]:
    """The service account's JWT assertion, exchanged at the token endpoint for a token."""
    return {
        "iss": email,
        "scope": scope,
        "aud": token_url,
        "iat": now_seconds,
        "exp": now_seconds + token_lifetime_seconds,
    }


def save_claims(
    settings: GoogleWalletSettings, card_number: str, now_seconds: int
) -> dict[str, Any]:
    """A skinny save-link JWT: only the ids of an object already inserted through the API."""
    return {
        "iss": settings.service_account_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": now_seconds,
        "origins": list(settings.origins),
        "payload": {
            "loyaltyObjects": [
                {
                    "id": object_id(settings.issuer_id, settings.program_id, card_number),
                    "classId": class_id(settings.issuer_id, settings.program_id),
                }
            ]
        },
    }
