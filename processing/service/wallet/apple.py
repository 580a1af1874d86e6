"""A program's Apple Wallet settings and its cards' passes (decision 0029).

An operator sets the pass type, team, colours, terms and the signing credentials (kept sealed,
never answered), and uploads the logo and the icon. A card's pass is made the first time it is
asked for: a serial number and an authentication token that never change. Each time a pass is
built, the digest of its manifest is compared with the one its update tag was given for; when
the pass shows something new (balance, tier, card status, the program's look), the tag moves to
the next of one sequence. Devices ask by that tag what changed (``devices.py``).
"""

import hashlib
import secrets
from datetime import datetime
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.balances import balance_of
from processing.core.invariants import InvariantViolation
from processing.core.passes import (
    CardPass,
    PassLook,
    content_digest,
    image_refusal,
    manifest,
    package_files,
    pass_type_refusal,
    rgb_refusal,
    team_refusal,
    zip_package,
)
from processing.core.rejections import Rejection
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.ports import (
    Database,
    PassCredentials,
    PassSigning,
    Store,
    Unsigned,
    WalletFacts,
    WalletPass,
    WalletSettings,
)
from processing.service.records import Accepted, Actor, Outcome, Refused, StoredResponse, refuse
from processing.service.rules import standing_now

_no_program = refuse(Rejection.not_found, "No program with this id.")
_not_configured = refuse(
    Rejection.wallet_not_configured,
    "The program has no Apple Wallet settings yet: PUT /v1/programs/{id}/apple-wallet.",
)
_no_icon = refuse(
    Rejection.wallet_not_configured,
    "The program's pass has no icon yet (a pass does not open without one): "
    "PUT /v1/programs/{id}/apple-wallet/images/icon.",
)
# Before a pass is first built its content is unknown: its first build moves its tag.
_unbuilt = bytes(32)


class WalletCommand(msgspec.Struct, frozen=True, kw_only=True):
    pass_type_identifier: str
    team_identifier: str
    organization_name: str
    description: str
    background_color: str
    foreground_color: str
    label_color: str
    terms: str
    # All three, or none to keep the ones the program has.
    certificate_pem: str | None = None
    private_key_pem: str | None = None
    wwdr_pem: str | None = None


class ImageView(msgspec.Struct, frozen=True, kw_only=True):
    bytes: int
    sha1: str


class WalletView(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator sees of the settings: never the credentials."""

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
    logo: ImageView | None
    icon: ImageView | None
    updated_at: datetime


class PassPackage(msgspec.Struct, frozen=True, kw_only=True):
    serial_number: UUID
    content: bytes
    updated_at: datetime


class BuiltPass(msgspec.Struct, frozen=True, kw_only=True):
    """A pass's files as they are now, and its row with the tag moved if they changed."""

    row: WalletPass
    files: dict[str, bytes]
    manifest: bytes


def _image(png: bytes | None) -> ImageView | None:
    if png is None:
        return None
    return ImageView(bytes=len(png), sha1=hashlib.sha1(png, usedforsecurity=False).hexdigest())


def view_of(settings: WalletSettings) -> WalletView:
    return WalletView(
        program_id=settings.program_id,
        pass_type_identifier=settings.pass_type_identifier,
        team_identifier=settings.team_identifier,
        organization_name=settings.organization_name,
        description=settings.description,
        background_color=settings.background_color,
        foreground_color=settings.foreground_color,
        label_color=settings.label_color,
        terms=settings.terms,
        certificate_subject=settings.certificate_subject,
        certificate_not_after=settings.certificate_not_after,
        logo=_image(settings.logo_png),
        icon=_image(settings.icon_png),
        updated_at=settings.updated_at,
    )


def _invalid(field: str, reason: str) -> Refused:
    return refuse(Rejection.validation_error, f"{field} {reason}.", field=field)


def command_refusal(command: WalletCommand) -> Refused | None:
    """The first field of the command that is wrong on its own, or None."""
    checks = [
        ("pass_type_identifier", pass_type_refusal(command.pass_type_identifier)),
        ("team_identifier", team_refusal(command.team_identifier)),
        ("background_color", rgb_refusal(command.background_color)),
        ("foreground_color", rgb_refusal(command.foreground_color)),
        ("label_color", rgb_refusal(command.label_color)),
    ]
    for field, reason in checks:
        if reason is not None:
            return _invalid(field, reason)
    return None


def credentials_of(
    command: WalletCommand, current: WalletSettings | None
) -> PassCredentials | Refused:
    given = {
        "certificate_pem": command.certificate_pem,
        "private_key_pem": command.private_key_pem,
        "wwdr_pem": command.wwdr_pem,
    }
    if all(value is None for value in given.values()):
        if current is None:
            return _invalid("certificate_pem", "is required the first time (with its key and WWDR)")
        return current.credentials
    for field, value in given.items():
        if value is None:
            return _invalid(field, "is required with the other two PEMs")
    return PassCredentials(**{field: value or "" for field, value in given.items()})


def look_of(settings: WalletSettings) -> PassLook:
    images = {"logo": settings.logo_png, "icon": settings.icon_png}
    return PassLook(
        pass_type_identifier=settings.pass_type_identifier,
        team_identifier=settings.team_identifier,
        organization_name=settings.organization_name,
        description=settings.description,
        background_color=settings.background_color,
        foreground_color=settings.foreground_color,
        label_color=settings.label_color,
        terms=settings.terms,
        images={kind: png for kind, png in images.items() if png is not None},
    )


class AppleWallet:
    def __init__(
        self, database: Database, runner: MutationRunner, signer: PassSigning, public_url: str
    ) -> None:
        self.database = database
        self.runner = runner
        self.signer = signer
        self.web_service_url = f"{public_url.rstrip('/')}/passkit"

    async def configure(
        self, mutation: Mutation, program_id: UUID, command: WalletCommand, render: Render
    ) -> StoredResponse:
        """Sets the program's pass settings; the credentials are checked (PEMs, the key is the
        certificate's, the WWDR intermediate issued it) before anything is written."""
        actor = mutation.actor

        async def load(store: Store) -> WalletFacts | None:
            return await store.wallet_facts(program_id, actor.program_id)

        def decide(facts: WalletFacts | None) -> Change | Outcome:
            if facts is None:
                return _no_program
            refused = command_refusal(command)
            if refused is not None:
                return refused
            credentials = credentials_of(command, facts.settings)
            if isinstance(credentials, Refused):
                return credentials
            info = self.signer.check(
                credentials, command.pass_type_identifier, command.team_identifier
            )
            if isinstance(info, Unsigned):
                return _invalid(info.field, info.reason)
            current = facts.settings
            settings = WalletSettings(
                program_id=facts.program_id,
                **{name: getattr(command, name) for name in _command_fields},
                certificate_subject=info.subject,
                certificate_not_after=info.not_after,
                logo_png=current.logo_png if current else None,
                icon_png=current.icon_png if current else None,
                updated_at=facts.now,
                credentials=credentials,
            )
            return Change(
                outcome=Accepted(value=view_of(settings)),
                write=lambda store, answer: store.save_wallet_settings(
                    settings, actor.key_id, answer
                ),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def upload_image(
        self, mutation: Mutation, program_id: UUID, kind: str, png: bytes, render: Render
    ) -> StoredResponse:
        """Sets the program's logo or icon: a PNG, read by its header, within Apple's sizes."""
        actor = mutation.actor

        async def load(store: Store) -> WalletFacts | None:
            return await store.wallet_facts(program_id, actor.program_id)

        def decide(facts: WalletFacts | None) -> Change | Outcome:
            if facts is None:
                return _no_program
            reason = image_refusal(kind, png)
            if reason is not None:
                return _invalid("png", reason)
            if facts.settings is None:
                return _not_configured
            settings = msgspec.structs.replace(
                facts.settings, updated_at=facts.now, **{f"{kind}_png": png}
            )
            return Change(
                outcome=Accepted(value=view_of(settings)),
                write=lambda store, answer: store.save_wallet_image(
                    program_id, kind, png, facts.now, answer
                ),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def settings(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return _no_program
            settings = await store.wallet_settings(program_id)
        return _not_configured if settings is None else Accepted(value=view_of(settings))

    async def card_pass(self, actor: Actor, number: str) -> Outcome:
        """The card's signed pass, made the first time it is asked for."""
        if actor.program_id is None:
            return refuse(
                Rejection.program_key_required,
                "A card number belongs to one program; use a key that belongs to a program.",
            )
        program_id = actor.program_id
        async with self.database.transaction() as store:
            settings = await store.wallet_settings(program_id)
            if settings is None:
                return _not_configured
            if settings.icon_png is None:
                return _no_icon
            if await store.wallet_card(program_id, number) is None:
                return refuse(Rejection.card_not_found, "No card with this number.")
            token = secrets.token_urlsafe(limits.pass_authentication_token_characters)
            row = await store.issue_wallet_pass(
                program_id, number, token[: limits.pass_authentication_token_characters], _unbuilt
            )
            built = await self.build(store, settings, row)
        return Accepted(value=self.package(settings, built))

    async def build(self, store: Store, settings: WalletSettings, row: WalletPass) -> BuiltPass:
        """The pass as it is now; its tag moved if what it shows changed since the tag was
        given (under the row's own condition: of two builders racing, one moves it)."""
        card = await store.wallet_card(row.program_id, row.card_number)
        if card is None:
            raise InvariantViolation("a pass's card is never removed")
        read = await store.read_account(card.customer_id, row.program_id)
        if read is None:
            raise InvariantViolation("a card's customer has an account")
        record, standing = await standing_now(store, read)
        tier = standing.tier(record.rules)
        operations = await store.wallet_operations(card.customer_id, limits.pass_operations_shown)
        shown = CardPass(
            serial_number=str(row.serial_number),
            authentication_token=row.authentication_token,
            web_service_url=self.web_service_url,
            card_number=row.card_number,
            card_status=card.status,
            customer_name=card.customer_name,
            available=balance_of(read.account, read.now).available,
            tier=tier.name if tier else None,
            operations=tuple(operations),
        )
        files = package_files(shown, look_of(settings))
        manifest_bytes = manifest(files)
        digest = content_digest(manifest_bytes)
        if digest != row.content_sha256:
            moved = await store.move_wallet_tag(row.serial_number, row.content_sha256, digest)
            row = moved or await store.wallet_pass(row.serial_number) or row
        return BuiltPass(row=row, files=files, manifest=manifest_bytes)

    def package(self, settings: WalletSettings, built: BuiltPass) -> PassPackage:
        signature = self.signer.sign(built.manifest, settings.credentials)
        return PassPackage(
            serial_number=built.row.serial_number,
            content=zip_package(built.files, built.manifest, signature),
            updated_at=built.row.updated_at,
        )


_command_fields = (
    "pass_type_identifier",
    "team_identifier",
    "organization_name",
    "description",
    "background_color",
    "foreground_color",
    "label_color",
    "terms",
)
