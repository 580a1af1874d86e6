"""The PassKit web service (decision 0029, spec §2): what devices holding a pass call.

A device registers for a pass's updates with the pass's authentication token (``ApplePass
<token>``), asks which of its passes changed since the tag we last gave it (no token: the
device library identifier is the secret), fetches a pass (304 when it has not changed since
``If-Modified-Since``), unregisters, and sends its logs. Asking what changed builds each of the
device's passes as it is now, so a pass's tag moves there too when a change reached it no other
way; a pass whose content did not change keeps its tag and is not listed.
"""

import hmac
from datetime import datetime
from uuid import UUID

import msgspec
import structlog

from processing.core import limits
from processing.core.rejections import Rejection
from processing.service.ports import Store, WalletPass, WalletSettings
from processing.service.records import Accepted, Outcome, Refused, refuse
from processing.service.wallet.apple import AppleWallet, PassPackage

log = structlog.get_logger("passkit")
_unauthorized = refuse(
    Rejection.unauthorized,
    "Authorization is ApplePass <the pass's authentication token> for this pass type and serial.",
)


class UpdatedSerials(msgspec.Struct, frozen=True, kw_only=True):
    serialNumbers: list[str]
    lastUpdated: str


class NotModified(msgspec.Struct, frozen=True, kw_only=True):
    updated_at: datetime


def _device_refusal(device: str) -> Refused | None:
    if 1 <= len(device) <= limits.pass_device_identifier_length_max and device.isprintable():
        return None
    return refuse(
        Rejection.validation_error,
        f"deviceLibraryIdentifier is 1 to {limits.pass_device_identifier_length_max} "
        "printable characters.",
        field="deviceLibraryIdentifier",
    )


def _token_of(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme == "ApplePass" and token.strip() else None


def _serial(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


class PassKit:
    def __init__(self, wallet: AppleWallet) -> None:
        self.wallet = wallet
        self.database = wallet.database

    async def _authorized(
        self, store: Store, pass_type: str, serial_text: str, authorization: str | None
    ) -> tuple[WalletSettings, WalletPass] | Refused:
        """The pass and its program's settings, when the token is the pass's own and the pass
        is of this type; otherwise one refusal for every case, so it tells nothing."""
        token, serial = _token_of(authorization), _serial(serial_text)
        if token is None or serial is None:
            return _unauthorized
        row = await store.wallet_pass(serial)
        if row is None or not hmac.compare_digest(
            token.encode(), row.authentication_token.encode()
        ):
            return _unauthorized
        settings = await store.wallet_settings(row.program_id)
        if settings is None or settings.pass_type_identifier != pass_type:
            return _unauthorized
        return settings, row

    async def register(
        self,
        device: str,
        pass_type: str,
        serial: str,
        authorization: str | None,
        push_token: str,
    ) -> Outcome:
        """201 registered, 200 registered already (its push token renewed)."""
        refused = _device_refusal(device)
        if refused is not None:
            return refused
        async with self.database.transaction() as store:
            found = await self._authorized(store, pass_type, serial, authorization)
            if isinstance(found, Refused):
                return found
            created = await store.register_wallet_device(
                device, found[1].serial_number, pass_type, push_token
            )
        return Accepted(value=None, created=created)

    async def unregister(
        self, device: str, pass_type: str, serial: str, authorization: str | None
    ) -> Outcome:
        refused = _device_refusal(device)
        if refused is not None:
            return refused
        async with self.database.transaction() as store:
            found = await self._authorized(store, pass_type, serial, authorization)
            if isinstance(found, Refused):
                return found
            await store.unregister_wallet_device(device, found[1].serial_number)
        return Accepted(value=None)

    async def updated_serials(self, device: str, pass_type: str, since: str | None) -> Outcome:
        """The serials of the device's passes of this type whose tag is past ``since`` (all of
        them without it), and the newest tag; None (204) when there are none."""
        refused = _device_refusal(device)
        if refused is not None:
            return refused
        after = 0
        if since is not None:
            if not since.isdigit() or len(since) > 18:
                return refuse(
                    Rejection.validation_error,
                    "passesUpdatedSince is a lastUpdated tag this server gave.",
                    field="passesUpdatedSince",
                )
            after = int(since)
        async with self.database.transaction() as store:
            rows = await store.wallet_device_passes(
                device, pass_type, limits.pass_device_passes_max
            )
            current = [await self._current(store, row) for row in rows]
        newest = max((row.updated_tag for row in current), default=0)
        changed = [str(row.serial_number) for row in current if row.updated_tag > after]
        if not changed:
            return Accepted(value=None)
        return Accepted(value=UpdatedSerials(serialNumbers=changed, lastUpdated=str(newest)))

    async def _current(self, store: Store, row: WalletPass) -> WalletPass:
        settings = await store.wallet_settings(row.program_id)
        if settings is None:
            return row
        return (await self.wallet.build(store, settings, row)).row

    async def latest(
        self,
        pass_type: str,
        serial: str,
        authorization: str | None,
        modified_since: datetime | None,
    ) -> Outcome:
        """The pass as it is now, or NotModified when it has not changed since
        ``modified_since`` (HTTP dates are whole seconds)."""
        async with self.database.transaction() as store:
            found = await self._authorized(store, pass_type, serial, authorization)
            if isinstance(found, Refused):
                return found
            settings, row = found
            built = await self.wallet.build(store, settings, row)
        updated_at = built.row.updated_at.replace(microsecond=0)
        if modified_since is not None and updated_at <= modified_since:
            return Accepted(value=NotModified(updated_at=updated_at))
        package: PassPackage = self.wallet.package(settings, built)
        return Accepted(value=package)

    def device_log(self, lines: list[str]) -> None:
        """What devices report of their trouble with our passes, in our log."""
        for line in lines[: limits.pass_log_lines_max]:
            log.warning("passkit_device_log", message=line[: limits.pass_log_line_length_max])
