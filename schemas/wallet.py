"""Requests and replies of the Apple Wallet routes (decision 0029): the program's pass settings
(admin) and the PassKit web service that devices call (Apple's names, camelCase)."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.base import Name, Reply, Request, whole

# pass_pem_characters_max, pass_terms_length_max, pass_image_bytes_max in processing/core/limits.
Pem = Annotated[str, Meta(min_length=1, max_length=8 * 1024, description="PEM text.")]
Colour = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=40,
        description="A colour as Wallet takes it: rgb(r, g, b), each 0 to 255.",
        examples=["rgb(20, 60, 120)"],
    ),
]
PassTypeIdentifier = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        description="Reverse DNS starting with pass., as registered with Apple.",
        examples=["pass.com.example.loyalty"],
    ),
]
TeamIdentifier = Annotated[
    str, Meta(pattern=whole("[A-Z0-9]{10}"), description="The Apple Team ID.")
]
ImageKind = Literal["logo", "icon"]


class AppleWalletSet(Request, frozen=True, kw_only=True):
    """The program's pass settings. The three PEMs go together; leave all three out to keep
    the ones the program has. The private key is an unencrypted PEM (PKCS #8 or traditional)."""

    pass_type_identifier: PassTypeIdentifier
    team_identifier: TeamIdentifier
    organization_name: Name
    description: Name
    background_color: Colour
    foreground_color: Colour
    label_color: Colour
    terms: Annotated[str, Meta(max_length=4000)] = ""
    certificate_pem: Pem | None = None
    private_key_pem: Pem | None = None
    wwdr_pem: Pem | None = None


class ImageUpload(Request, frozen=True, kw_only=True):
    png: Annotated[
        bytes,
        Meta(
            min_length=1,
            max_length=40 * 1024,
            description="The PNG, base64: a logo at most 320x100 pixels, an icon 29 to 87 square.",
        ),
    ]


class ImageInfo(Reply, frozen=True, kw_only=True):
    bytes: int
    sha1: str


class AppleWalletSettings(Reply, frozen=True, kw_only=True):
    """The settings as kept: the credentials are never answered, only what the certificate
    says."""

    program_id: UUID
    pass_type_identifier: str
    team_identifier: str
    organization_name: str
    description: str
    background_color: str
    foreground_color: str
    label_color: str
    terms: str
    certificate_subject: str
    certificate_not_after: datetime
    logo: ImageInfo | None
    icon: ImageInfo | None
    updated_at: datetime


class DeviceRegistration(msgspec.Struct, frozen=True, kw_only=True):
    """What a device sends to register for a pass's updates (Apple's shape)."""

    pushToken: Annotated[str, Meta(min_length=1, max_length=256)]


class UpdatedSerials(Reply, frozen=True, kw_only=True):
    serialNumbers: list[str]
    lastUpdated: str


class DeviceLog(msgspec.Struct, frozen=True, kw_only=True):
    """What a device reports (pass_log_lines_max lines of pass_log_line_length_max characters:
    the most a body holds even when every character is escaped)."""

    logs: Annotated[list[Annotated[str, Meta(max_length=500)]], Meta(max_length=16)]
