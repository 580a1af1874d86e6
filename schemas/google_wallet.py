"""Requests and replies of the Google Wallet routes (decision 0030)."""

from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.base import Reply, Request, non_space, whole

IssuerId = Annotated[
    str,
    Meta(
        pattern=whole("[0-9]{1,19}"),
        description="The issuer's number in the Google Pay & Wallet Console: digits only.",
    ),
]
ServiceAccountEmail = Annotated[
    str, Meta(pattern=whole("[^@\\s]{1,64}@[A-Za-z0-9.-]{1,189}\\.[A-Za-z]{2,63}"), max_length=254)
]
PrivateKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=10_000,
        description="The service account's RSA private key in PEM (from its JSON key file's "
        "private_key). Stored sealed and never shown again.",
    ),
]
ProgramName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        pattern=whole(rf"{non_space}([^\n\r\u2028\u2029]*{non_space})?"),
    ),
]
LogoUrl = Annotated[
    str,
    Meta(
        pattern=whole(r"https://\S+"),
        max_length=2000,
        description="An https URL of the program's logo.",
    ),
]
Colour = Annotated[str, Meta(pattern=whole("#[0-9A-Fa-f]{6}"), description="#rrggbb")]
Origin = Annotated[
    str,
    Meta(
        pattern=whole(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?"),
        description="An origin a Save to Google Wallet button is shown on: scheme://host[:port].",
    ),
]


class GoogleWalletSettingsPut(Request, frozen=True, kw_only=True):
    issuer_id: IssuerId
    service_account_email: ServiceAccountEmail
    private_key: PrivateKey
    program_name: ProgramName
    logo_url: LogoUrl
    background_color: Colour | None = None
    origins: Annotated[list[Origin], Meta(max_length=10)] = msgspec.field(default_factory=list)


class GoogleWalletSettings(Reply, frozen=True, kw_only=True):
    """The program's Google Wallet settings; the private key is never shown."""

    program_id: UUID
    issuer_id: str
    service_account_email: str
    program_name: str
    logo_url: str
    background_color: str | None
    origins: list[str]
    class_id: str


class GoogleWalletLink(Reply, frozen=True, kw_only=True):
    """A card's "Save to Google Wallet" link: a skinny JWT naming the object inserted for it."""

    card_number: str
    object_id: str
    class_id: str
    jwt: str
    url: str
