"""Apple Wallet settings, passes and device registrations (``sql/wallet.sql``; decision 0029).
Mixed into ``PostgresStore``: the credentials and each pass's token are sealed here on the way
in and opened on the way out, so the service sees them in clear and never a key."""

import json
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from processing.adapters.postgres.named import NamedQueries
from processing.core.invariants import InvariantViolation
from processing.core.passes import PassOperation
from processing.service.ports import (
    Answer,
    PassCredentials,
    WalletCard,
    WalletChange,
    WalletDevice,
    WalletFacts,
    WalletPass,
    WalletSettings,
)

reseal_page_rows = 1000  # passes re-sealed per statement by `bonus rotate-secrets`


def _credentials_context(program_id: UUID) -> str:
    return f"apple-wallet:{program_id}"


def _token_context(serial_number: UUID) -> str:
    return f"wallet-pass:{serial_number}"


class WalletQueries(NamedQueries):
    def _settings(self, row: Any) -> WalletSettings:
        opened = self.keyring.open(
            row["credentials_sealed"], _credentials_context(row["program_id"])
        )
        values = {
            name: row[name] for name in WalletSettings.__struct_fields__ if name != "credentials"
        }
        return WalletSettings(**values, credentials=PassCredentials(**json.loads(opened)))

    def _pass(self, row: Any) -> WalletPass:
        serial = row["serial_number"]
        token = self.keyring.open(row["authentication_token_sealed"], _token_context(serial))
        values = {
            name: row[name]
            for name in WalletPass.__struct_fields__
            if name != "authentication_token"
        }
        return WalletPass(**values, authentication_token=token)

    def _resealed(self, stored: str, context: str) -> str | None:
        """``stored`` sealed again under the current master key, or None if it already is."""
        if self.keyring.current(stored):
            return None
        return self.keyring.seal(self.keyring.open(stored, context), context)

    async def reseal_apple_wallet(self, rotate: bool) -> dict[str, int]:
        """With ``rotate``, re-seals under the current master key each program's pass
        credentials and each pass's authentication token sealed under an older one (they are
        sealed from the first write, so a start, without ``rotate``, has nothing to do)."""
        credentials = tokens = 0
        if not rotate:
            return {"apple_wallet_credentials": 0, "wallet_pass_tokens": 0}
        for row in await self._fetch("apple_wallet_credentials_for_sealing"):
            program_id = row["program_id"]
            context = _credentials_context(program_id)
            if resealed := self._resealed(row["credentials_sealed"], context):
                await self._execute("seal_apple_wallet_credentials", program_id, resealed)
                credentials += 1
        after: UUID | None = None
        while rows := await self._fetch("wallet_pass_tokens_for_sealing", after, reseal_page_rows):
            after = rows[-1]["serial_number"]
            stale = {
                row["serial_number"]: resealed
                for row in rows
                if (
                    resealed := self._resealed(
                        row["authentication_token_sealed"], _token_context(row["serial_number"])
                    )
                )
            }
            if stale:
                await self._execute("seal_wallet_pass_tokens", list(stale), list(stale.values()))
                tokens += len(stale)
        return {"apple_wallet_credentials": credentials, "wallet_pass_tokens": tokens}

    async def wallet_facts(self, program_id: UUID, scope: UUID | None) -> WalletFacts | None:
        row = await self._fetchrow("wallet_facts", program_id, scope)
        if row is None:
            return None
        settings = None if row["pass_type_identifier"] is None else self._settings(row)
        return WalletFacts(program_id=row["program_id"], settings=settings, now=row["now"])

    async def save_wallet_settings(
        self, settings: WalletSettings, key_id: UUID, answer: Answer
    ) -> bool:
        sealed = self.keyring.seal(
            json.dumps(
                {
                    "certificate_pem": settings.credentials.certificate_pem,
                    "private_key_pem": settings.credentials.private_key_pem,
                    "wwdr_pem": settings.credentials.wwdr_pem,
                }
            ),
            _credentials_context(settings.program_id),
        )
        row = await self._answered(
            "save_wallet_settings",
            answer,
            settings.program_id,
            settings.pass_type_identifier,
            settings.team_identifier,
            settings.organization_name,
            settings.description,
            settings.background_color,
            settings.foreground_color,
            settings.label_color,
            settings.terms,
            sealed,
            settings.certificate_subject,
            settings.certificate_not_after,
            key_id,
            settings.updated_at,
        )
        return row is not None

    async def save_wallet_image(
        self, program_id: UUID, kind: str, png: bytes, at: datetime, answer: Answer
    ) -> bool:
        row = await self._answered("save_wallet_image", answer, program_id, kind, png, at)
        return row is not None

    async def wallet_settings(self, program_id: UUID) -> WalletSettings | None:
        row = await self._fetchrow("wallet_settings", program_id)
        return None if row is None else self._settings(row)

    async def wallet_card(self, program_id: UUID, number: str) -> WalletCard | None:
        row = await self._fetchrow("wallet_card", program_id, number)
        return None if row is None else WalletCard(**dict(row))

    async def wallet_operations(self, customer_id: UUID, limit: int) -> list[PassOperation]:
        rows = await self._fetch("wallet_operations", customer_id, limit)
        return [PassOperation(**dict(row)) for row in rows]

    async def issue_wallet_pass(
        self, program_id: UUID, number: str, token: str, content_sha256: bytes
    ) -> WalletPass:
        serial = uuid4()
        sealed = self.keyring.seal(token, _token_context(serial))
        row = await self._fetchrow(
            "issue_wallet_pass", serial, program_id, number, sealed, content_sha256
        )
        if row is None:
            raise InvariantViolation("a card's pass is made or found")
        return self._pass(row)

    async def wallet_pass(self, serial_number: UUID) -> WalletPass | None:
        row = await self._fetchrow("wallet_pass", serial_number)
        return None if row is None else self._pass(row)

    async def move_wallet_tag(
        self, serial_number: UUID, seen_sha256: bytes, content_sha256: bytes
    ) -> WalletPass | None:
        row = await self._fetchrow("move_wallet_tag", serial_number, seen_sha256, content_sha256)
        return None if row is None else self._pass(row)

    async def register_wallet_device(
        self, device: str, serial_number: UUID, pass_type_identifier: str, push_token: str
    ) -> bool:
        row = await self._fetchrow(
            "register_wallet_device", device, serial_number, pass_type_identifier, push_token
        )
        if row is None:
            raise InvariantViolation("an upsert returns its row")
        return bool(row["created"])

    async def unregister_wallet_device(self, device: str, serial_number: UUID) -> bool:
        return await self._fetchrow("unregister_wallet_device", device, serial_number) is not None

    async def wallet_device_passes(
        self, device: str, pass_type_identifier: str, limit: int
    ) -> list[WalletPass]:
        rows = await self._fetch("wallet_device_passes", device, pass_type_identifier, limit)
        return [self._pass(row) for row in rows]

    async def lease_wallet_changes(self, limit: int, lease_seconds: float) -> list[WalletChange]:
        rows = await self._fetch("lease_wallet_changes", limit, lease_seconds)
        return [WalletChange(**dict(row)) for row in rows]

    async def finish_wallet_change(self, change_id: int) -> None:
        await self._execute("finish_wallet_change", change_id)

    async def retry_wallet_change(self, change_id: int, seconds: float) -> None:
        await self._execute("retry_wallet_change", change_id, seconds)

    async def customer_wallet_passes(self, customer_id: UUID, program_id: UUID) -> list[WalletPass]:
        rows = await self._fetch("customer_wallet_passes", customer_id, program_id)
        return [self._pass(row) for row in rows]

    async def wallet_devices_behind(self, serial_number: UUID, tag: int) -> list[WalletDevice]:
        rows = await self._fetch("wallet_devices_behind", serial_number, tag)
        return [WalletDevice(**dict(row)) for row in rows]

    async def wallet_device_pushed(self, device: str, serial_number: UUID, tag: int) -> None:
        await self._execute("wallet_device_pushed", device, serial_number, tag)
