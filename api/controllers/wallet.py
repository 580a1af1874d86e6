"""Apple Wallet (decision 0029): a program's pass settings and images (admin), a card's signed
pass (crm, admin) and the PassKit web service that devices call (public: each call carries the
pass's own token, or the device's identifier is the secret, as Apple's protocol says)."""

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import Parameter

from api.auth import admin_scopes, manager_scopes
from api.errors import ProblemError
from api.http import accepted, answer, attachment, mutation_for, renderer, respond
from processing.core.passes import wallet_media_type
from processing.core.rejections import Rejection
from processing.service.records import Accepted, Actor, Refused, refuse
from processing.service.wallet.apple import AppleWallet, PassPackage, WalletCommand
from processing.service.wallet.devices import NotModified, PassKit
from schemas.wallet import (
    AppleWalletSet,
    AppleWalletSettings,
    DeviceLog,
    DeviceRegistration,
    ImageUpload,
    UpdatedSerials,
)

AnyRequest = Request[Any, Any, Any]
_image_kinds = ("logo", "icon")


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def pass_response(package: PassPackage) -> Response[bytes]:
    """A signed pass as Wallet takes it: its media type, the time it last changed, a file."""
    return Response(
        content=package.content,
        media_type=wallet_media_type,
        headers={"Last-Modified": _http_date(package.updated_at)}
        | attachment(f"{package.serial_number}.pkpass"),
    )


def _refused(outcome: Accepted | Refused) -> Accepted:
    if isinstance(outcome, Refused):
        raise ProblemError(outcome)
    return outcome


class AppleWalletController(Controller):
    path = "/v1"
    tags = ["apple wallet"]

    @put(
        "/programs/{program_id:uuid}/apple-wallet",
        name="set_apple_wallet",
        status_code=200,
        opt={"scopes": admin_scopes},
    )
    async def set_apple_wallet(
        self, request: AnyRequest, program_id: UUID, data: AppleWalletSet, apple_wallet: AppleWallet
    ) -> Response[AppleWalletSettings]:
        """Sets the program's Apple Wallet pass: its type and team, colours and terms, and the
        pass type certificate with its private key and Apple's WWDR intermediate (PEM; kept
        sealed, never answered). Each field that is wrong is refused by name and nothing is
        written: a PEM that is not one, a key not the certificate's, an intermediate that did
        not issue it, a colour not rgb(r, g, b)."""
        command = WalletCommand(**{name: getattr(data, name) for name in data.__struct_fields__})
        stored = await apple_wallet.configure(
            mutation_for(request, data, program_id),
            program_id,
            command,
            renderer(AppleWalletSettings),
        )
        return respond(request, stored)

    @get(
        "/programs/{program_id:uuid}/apple-wallet",
        name="get_apple_wallet",
        opt={"scopes": admin_scopes},
    )
    async def get_apple_wallet(
        self, request: AnyRequest, program_id: UUID, apple_wallet: AppleWallet, actor: Actor
    ) -> Response[AppleWalletSettings]:
        """The program's Apple Wallet settings, without the credentials (409
        ``wallet_not_configured`` before they are set)."""
        outcome = await apple_wallet.settings(actor, program_id)
        return answer(request, outcome, AppleWalletSettings)

    @put(
        "/programs/{program_id:uuid}/apple-wallet/images/{kind:str}",
        name="upload_apple_wallet_image",
        status_code=200,
        opt={"scopes": admin_scopes},
    )
    async def upload_apple_wallet_image(
        self,
        request: AnyRequest,
        program_id: UUID,
        kind: str,
        data: ImageUpload,
        apple_wallet: AppleWallet,
    ) -> Response[AppleWalletSettings]:
        """Sets the pass's ``logo`` (at most 320x100 pixels) or ``icon`` (29 to 87 pixels each
        way; a pass does not open without one): a PNG, base64, checked by its header."""
        if kind not in _image_kinds:
            raise ProblemError(
                refuse(Rejection.validation_error, "kind is logo or icon.", field="kind")
            )
        stored = await apple_wallet.upload_image(
            mutation_for(request, data, program_id, kind),
            program_id,
            kind,
            data.png,
            renderer(AppleWalletSettings),
        )
        return respond(request, stored)

    @get(
        "/cards/{number:str}/apple-wallet-pass",
        name="apple_wallet_pass",
        media_type=wallet_media_type,
        opt={"scopes": manager_scopes},
        response_description="The card's signed pass (.pkpass).",
    )
    async def apple_wallet_pass(
        self, number: str, apple_wallet: AppleWallet, actor: Actor
    ) -> Response[bytes]:
        """The card's Apple Wallet pass, signed: balance, tier, card number as QR and PDF417
        barcodes (what the till's identify takes), terms and the last operations on the back.
        Made the first time it is asked for; later ones are the same pass, as it is now."""
        return pass_response(accepted(await apple_wallet.card_pass(actor, number), PassPackage))


class PassKitController(Controller):
    """Apple's PassKit web service, under ``webServiceURL`` (public URL + ``/passkit``)."""

    path = "/passkit/v1"
    opt = {"public": True}
    tags = ["passkit"]

    @post(
        "/devices/{device:str}/registrations/{pass_type:str}/{serial:str}",
        name="passkit_register",
        status_code=201,
    )
    async def register(
        self,
        device: str,
        pass_type: str,
        serial: str,
        data: DeviceRegistration,
        passkit: PassKit,
        authorization: str | None = Parameter(header="Authorization", default=None),
    ) -> Response[None]:
        """A device registers for the pass's updates (201; 200 when it was already)."""
        outcome = _refused(
            await passkit.register(device, pass_type, serial, authorization, data.pushToken)
        )
        return Response(content=None, status_code=201 if outcome.created else 200)

    @delete(
        "/devices/{device:str}/registrations/{pass_type:str}/{serial:str}",
        name="passkit_unregister",
        status_code=200,
    )
    async def unregister(
        self,
        device: str,
        pass_type: str,
        serial: str,
        passkit: PassKit,
        authorization: str | None = Parameter(header="Authorization", default=None),
    ) -> Response[None]:
        """The device no longer wants the pass's updates."""
        _refused(await passkit.unregister(device, pass_type, serial, authorization))
        return Response(content=None, status_code=200)

    @get("/devices/{device:str}/registrations/{pass_type:str}", name="passkit_updated_serials")
    async def updated_serials(
        self,
        device: str,
        pass_type: str,
        passkit: PassKit,
        passes_updated_since: str | None = Parameter(query="passesUpdatedSince", default=None),
    ) -> Response[UpdatedSerials]:
        """The serial numbers of the device's passes of this type that changed since the tag
        (all of them without one), and the tag to send next time; 204 when none changed."""
        outcome = _refused(await passkit.updated_serials(device, pass_type, passes_updated_since))
        if outcome.value is None:
            return Response(content=b"", status_code=204)  # type: ignore[arg-type]
        return answer_value(outcome.value)

    @get(
        "/passes/{pass_type:str}/{serial:str}",
        name="passkit_latest_pass",
        media_type=wallet_media_type,
        response_description="The pass as it is now (.pkpass), with Last-Modified.",
    )
    async def latest_pass(
        self,
        pass_type: str,
        serial: str,
        passkit: PassKit,
        authorization: str | None = Parameter(header="Authorization", default=None),
        if_modified_since: str | None = Parameter(header="If-Modified-Since", default=None),
    ) -> Response[bytes]:
        """The pass as it is now; 304 when it has not changed since ``If-Modified-Since``."""
        outcome = _refused(
            await passkit.latest(pass_type, serial, authorization, _since(if_modified_since))
        )
        if isinstance(outcome.value, NotModified):
            return Response(
                content=b"",
                status_code=304,
                headers={"Last-Modified": _http_date(outcome.value.updated_at)},
            )
        return pass_response(outcome.value)

    @post("/log", name="passkit_log", status_code=200)
    async def device_log(self, data: DeviceLog, passkit: PassKit) -> Response[None]:
        """What devices report of their trouble with our passes, written to our log."""
        passkit.device_log(data.logs)
        return Response(content=None, status_code=200)


def _since(header: str | None) -> datetime | None:
    """An HTTP date; one that is not is ignored, as HTTP says (the pass is sent whole)."""
    if not header:
        return None
    try:
        parsed = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def answer_value(value: Any) -> Response[UpdatedSerials]:
    reply = msgspec.convert(value, UpdatedSerials, from_attributes=True)
    return Response(content=reply, status_code=200)


__all__ = ["AppleWalletController", "PassKitController"]
