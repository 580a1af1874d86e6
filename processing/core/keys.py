"""Who may mint which API key (docs/decisions/0002-key-hierarchy.md): a minted key is never
broader than the key that minted it, and never outlives it."""

from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.model import Rejected, reject
from processing.core.rejections import Rejection

# What a program's admin key stands for: it may mint keys for its program's channels, but
# another admin key only the operator may mint.
program_admin_grants = frozenset({"pos", "shop", "crm"})


class Minter(msgspec.Struct, frozen=True, kw_only=True):
    operator: bool  # a key of no program: the operator's
    scopes: frozenset[str]
    store_id: str | None
    expires_at: datetime | None
    merchant_id: UUID | None = None


class Mint(msgspec.Struct, frozen=True, kw_only=True):
    expires_at: datetime | None  # the minted key's, after the minter's bound


def decide_mint(
    minter: Minter,
    scopes: frozenset[str],
    store_id: str | None,
    expires_at: datetime | None,
    now: datetime,
    merchant_id: UUID | None = None,
    store_merchant_id: UUID | None = None,
) -> Mint | Rejected:
    """``store_merchant_id``: the merchant ``store_id`` belongs to now (None: none)."""
    if expires_at is not None and not now < expires_at <= now + timedelta(
        days=limits.api_key_days_max
    ):
        return reject(
            Rejection.validation_error,
            f"expires_at must be in the future and at most {limits.api_key_days_max} days ahead.",
            field="expires_at",
        )
    if merchant_id is not None and "admin" in scopes:
        return reject(
            Rejection.validation_error,
            "A merchant's key reads its merchant's side only: it has no admin scope.",
            field="scopes",
        )
    if merchant_id is not None and store_id is not None and store_merchant_id != merchant_id:
        return reject(
            Rejection.validation_error,
            f"Store {store_id} is not one of merchant {merchant_id}'s stores now: a merchant's "
            "key acts at its own stores only (assign the store to the merchant first).",
            field="store_id",
        )
    if minter.operator:
        return Mint(expires_at=expires_at)
    grantable = (minter.scopes | (program_admin_grants if "admin" in minter.scopes else set())) - {
        "admin"
    }
    if not scopes <= grantable:
        return reject(
            Rejection.forbidden_scope,
            f"This key may mint keys with the scopes {sorted(grantable)} only; admin keys of a "
            "program are minted by the operator.",
            field="scopes",
        )
    if minter.merchant_id is not None and merchant_id != minter.merchant_id:
        return reject(
            Rejection.forbidden_scope,
            f"A key of merchant {minter.merchant_id} mints keys of that merchant only.",
            field="merchant_id",
        )
    if minter.store_id is not None and store_id != minter.store_id:
        return reject(
            Rejection.forbidden_scope,
            f"A key of store {minter.store_id} mints keys of that store only.",
            field="store_id",
        )
    if minter.expires_at is None:
        return Mint(expires_at=expires_at)
    if expires_at is not None and expires_at > minter.expires_at:
        return reject(
            Rejection.validation_error,
            "A minted key may not outlive the key that mints it.",
            field="expires_at",
        )
    return Mint(expires_at=expires_at or minter.expires_at)
