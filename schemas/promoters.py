"""Requests and replies of promoters (``/v1/programs/{id}/promoters``, decision 0034)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta

from schemas.base import Name, Reply, Request

PromoterCode = Annotated[
    str,
    Meta(
        min_length=4,
        max_length=40,
        description="4 to 32 letters and digits (any case; spaces and dashes are dropped).",
    ),
]


class PromoterCreate(Request, frozen=True, kw_only=True):
    """A promoter: ``customer_id`` is its customer record in the program (its bonus account,
    and the phone its SMS go to: enroll a promoter who does not shop first), ``code`` its
    referral code (made when left out). Its reward for each customer it brings, paid when
    that customer's first purchase completes: ``reward_points`` fixed, plus
    ``reward_share_bp`` of the money that purchase paid (in points at the program's point
    value); at least one of them."""

    customer_id: UUID
    name: Name
    code: PromoterCode | None = None
    reward_points: Annotated[int, Meta(ge=0, le=1_000_000_000)] = 0
    reward_share_bp: Annotated[int, Meta(ge=0, le=10_000)] = 0


class Promoter(Reply, frozen=True, kw_only=True):
    """A promoter with its link (the program's enrollment page carrying its code; null while
    the program has no page), what it brought (customers attributed, rewards standing and their
    points)."""

    id: UUID
    program_id: UUID
    customer_id: UUID
    name: str
    code: str
    reward_points: int
    reward_share_bp: int
    link: str | None
    customers: int
    rewards: int
    rewarded_points: int
    created_at: datetime


class PromoterPage(Reply, frozen=True, kw_only=True):
    items: list[Promoter]
    next_cursor: str | None
