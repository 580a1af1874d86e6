"""Wire types of a program's public enrollment page settings and of card links."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta

from schemas.base import Reply, Request

Slug = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=64,
        pattern="^[a-z0-9][a-z0-9-]*[a-z0-9]$",
        description="The page's address: /join/{slug}.",
    ),
]
Wording = Annotated[str, Meta(min_length=1, max_length=200)]


class EnrollmentPagePut(Request, frozen=True, kw_only=True):
    """The page's address and words. ``terms``: the program's rules and the personal data
    notice shown beside the form; ``sms_wording`` and ``email_wording``: the exact text of each
    marketing consent's box, kept in the consent log with each consent given there."""

    slug: Slug
    enabled: bool
    display_name: Annotated[str, Meta(min_length=1, max_length=200)]
    terms: Annotated[str, Meta(min_length=1, max_length=4000)]
    sms_wording: Wording
    email_wording: Wording


class EnrollmentPageView(Reply, frozen=True, kw_only=True):
    program_id: UUID
    slug: str
    enabled: bool
    display_name: str
    terms: str
    sms_wording: str
    email_wording: str
    updated_at: datetime


class CardLinkPost(Request, frozen=True, kw_only=True):
    channel: Literal["sms", "email"]


class CardLinkView(Reply, frozen=True, kw_only=True):
    customer_id: UUID
    channel: str
    recipient: str
    expires_at: datetime
