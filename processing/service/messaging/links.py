"""Unsubscribe links: a token that names a customer and a channel, signed so that nobody can
withdraw another customer's consent by guessing, and carrying no key of ours.

``{customer}.{channel}.{key_id}.{mac}``: the MAC is HMAC-SHA256 (first 16 bytes, base64url) over
the customer and channel under a key derived from the secrets key ``key_id``, so a link keeps
working after a rotation while the old key is still in the ring.
"""

import base64
import hashlib
import hmac
from uuid import UUID

import msgspec

from processing.core.triggers import Channel
from processing.service.ports import LinkKeys

mac_bytes = 16


class Unsubscribe(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: UUID
    channel: Channel


def _mac(key: bytes, customer_id: UUID, channel: str) -> str:
    digest = hmac.new(key, f"unsubscribe:{customer_id}:{channel}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:mac_bytes]).decode().rstrip("=")


def unsubscribe_token(keys: LinkKeys, customer_id: UUID, channel: Channel) -> str:
    key = keys.link_key(keys.current_id)
    if key is None:  # the current key is always in the ring
        raise LookupError("the current secrets key is not in the key ring")
    mac = _mac(key, customer_id, channel.value)
    return f"{customer_id.hex}.{channel.value}.{keys.current_id}.{mac}"


def read_token(keys: LinkKeys, token: str) -> Unsubscribe | None:
    """The customer and channel a token names, or None when it is not one we signed."""
    parts = token.split(".")
    if len(parts) != 4:
        return None
    customer, channel, key_id, mac = parts
    try:
        customer_id, named = UUID(hex=customer), Channel(channel)
    except ValueError:
        return None
    key = keys.link_key(key_id)
    if key is None or not hmac.compare_digest(_mac(key, customer_id, named.value), mac):
        return None
    return Unsubscribe(customer_id=customer_id, channel=named)
