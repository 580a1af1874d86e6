"""Card links: a token that opens one customer's card page until it expires, signed so that
nobody reaches another customer's card by guessing, and good for nothing else.

``{customer}.{expires}.{key_id}.{mac}``: the MAC is HMAC-SHA256 (first 16 bytes, base64url) over
``card-link:``, the customer and the expiry (Unix seconds) under the links key derived from the
secrets key ``key_id``; the ``card-link`` domain keeps an unsubscribe MAC from ever passing as
one of these."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from uuid import UUID

from processing.service.ports import LinkKeys

mac_bytes = 16


def _mac(key: bytes, customer_id: UUID, expires: int) -> str:
    digest = hmac.new(key, f"card-link:{customer_id}:{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:mac_bytes]).decode().rstrip("=")


def card_link_token(keys: LinkKeys, customer_id: UUID, expires_at: datetime) -> str:
    key = keys.link_key(keys.current_id)
    if key is None:  # the current key is always in the ring
        raise LookupError("the current secrets key is not in the key ring")
    expires = int(expires_at.timestamp())
    return f"{customer_id.hex}.{expires}.{keys.current_id}.{_mac(key, customer_id, expires)}"


def read_card_link(keys: LinkKeys, token: str, now: datetime) -> UUID | None:
    """The customer a live token names, or None when it is not one we signed or it expired."""
    parts = token.split(".")
    if len(parts) != 4:
        return None
    customer, expires_text, key_id, mac = parts
    try:
        customer_id, expires = UUID(hex=customer), int(expires_text)
    except ValueError:
        return None
    key = keys.link_key(key_id)
    if key is None or not hmac.compare_digest(_mac(key, customer_id, expires), mac):
        return None
    if datetime.fromtimestamp(expires, UTC) <= now:
        return None
    return customer_id
