"""Requests and replies of charities and donations (decision 0034):
``/v1/programs/{id}/charities`` and ``/v1/customers/{id}/donations``."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta

from schemas.base import Name, Points, Reply, Request

Details = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=2000,
        description="What the customer is told about the charity: its purpose, its registration.",
    ),
]


class CharityCreate(Request, frozen=True, kw_only=True):
    """A charity the program's customers may give points to."""

    name: Name
    details: Details | None = None


class Charity(Reply, frozen=True, kw_only=True):
    """A charity; ``received_points``: what its account received in all."""

    id: UUID
    program_id: UUID
    name: str
    details: str | None
    created_at: datetime
    received_points: int


class CharityPage(Reply, frozen=True, kw_only=True):
    items: list[Charity]
    next_cursor: str | None


class CharityReport(Reply, frozen=True, kw_only=True):
    """What the charity received from ``starts_at`` (included) to ``ends_at`` (excluded):
    ``points``, distinct customers (``donors``) and ``donations``."""

    charity_id: UUID
    name: str
    starts_at: datetime
    ends_at: datetime
    points: int
    donors: int
    donations: int


class DonationCreate(Request, frozen=True, kw_only=True):
    """Gives ``points`` of the customer's available points to charity ``charity_id`` (of the
    customer's program): the soonest-expiring points go first, as when spending."""

    charity_id: UUID
    points: Points


class Donation(Reply, frozen=True, kw_only=True):
    """The donation made: its ledger operation (type ``donation``), and the points the customer
    has left to spend."""

    operation_id: UUID
    customer_id: UUID
    charity_id: UUID
    points: int
    available_after: int
    created_at: datetime
