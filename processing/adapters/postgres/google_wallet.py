"""Google Wallet settings and the cards' objects (``sql/google_wallet.sql``; decision 0030).
Mixed into ``PostgresStore``. The service account's key is sealed on the way in and opened
only for the calls that sign with it."""

from datetime import datetime
from typing import Any
from uuid import UUID

from processing.adapters.postgres.named import NamedQueries
from processing.core.google_wallet import GoogleWalletSettings
from processing.service.ports import (
    Answer,
    GoogleWalletCredentials,
    GoogleWalletFacts,
    LeasedGoogleWalletObject,
)


def key_context(program_id: UUID) -> str:
    return f"google-wallet:{program_id}"


def _settings(row: Any) -> GoogleWalletSettings:
    return GoogleWalletSettings(
        program_id=row["program_id"],
        issuer_id=row["issuer_id"],
        service_account_email=row["service_account_email"],
        program_name=row["program_name"],
        logo_url=row["logo_url"],
        background_color=row["background_color"],
        origins=list(row["origins"]),
    )


class GoogleWalletQueries(NamedQueries):
    async def google_wallet_facts(
        self, program_id: UUID, scope: UUID | None
    ) -> GoogleWalletFacts | None:
        row = await self._fetchrow("google_wallet_facts", program_id, scope)
        return None if row is None else GoogleWalletFacts(**dict(row))

    async def put_google_wallet_settings(
        self,
        settings: GoogleWalletSettings,
        private_key: str,
        key_id: UUID,
        now: datetime,
        answer: Answer,
    ) -> bool:
        row = await self._answered(
            "put_google_wallet_settings",
            answer,
            settings.program_id,
            settings.issuer_id,
            settings.service_account_email,
            self.keyring.seal(private_key, key_context(settings.program_id)),
            settings.program_name,
            settings.logo_url,
            settings.background_color,
            settings.origins,
            key_id,
            now,
        )
        return row is not None

    async def google_wallet_settings(
        self, program_id: UUID, scope: UUID | None
    ) -> GoogleWalletSettings | None:
        row = await self._fetchrow("google_wallet_settings", program_id, scope)
        return None if row is None else _settings(row)

    async def google_wallet_credentials(self, program_id: UUID) -> GoogleWalletCredentials | None:
        row = await self._fetchrow("google_wallet_settings", program_id, None)
        if row is None:
            return None
        key = self.keyring.open(row["private_key_sealed"], key_context(program_id))
        return GoogleWalletCredentials(settings=_settings(row), private_key=key)

    async def claim_wallet_object(
        self, program_id: UUID, card_number: str, object_id: str, class_id: str
    ) -> bool:
        row = await self._fetchrow(
            "claim_wallet_object", program_id, card_number, object_id, class_id
        )
        return bool(row and row["inserted"])

    async def wallet_object_inserted(self, program_id: UUID, card_number: str) -> None:
        await self._execute("wallet_object_inserted", program_id, card_number)

    async def lease_wallet_objects(
        self, limit: int, lease_seconds: float
    ) -> list[LeasedGoogleWalletObject]:
        rows = await self._fetch("lease_wallet_objects", limit, lease_seconds)
        return [LeasedGoogleWalletObject(**dict(row)) for row in rows]

    async def wallet_object_patched(
        self, program_id: UUID, card_number: str, changes: int, status: int
    ) -> None:
        await self._execute("wallet_object_patched", program_id, card_number, changes, status)

    async def wallet_object_failed(
        self,
        program_id: UUID,
        card_number: str,
        delay_seconds: float,
        status: int | None,
        error: str,
    ) -> None:
        await self._execute(
            "wallet_object_failed", program_id, card_number, delay_seconds, status, error
        )

    async def google_wallet_backlog_counts(self) -> dict[str, int]:
        row = await self._fetchrow("google_wallet_backlog_counts")
        return {} if row is None else {name: int(value) for name, value in dict(row).items()}

    async def reseal_wallet_keys(self, rotate: bool) -> int:
        """Re-seals each program's key sealed under an older master key (rotation)."""
        written = 0
        for row in await self._fetch("google_wallet_keys_for_sealing"):
            stored, context = row["private_key_sealed"], key_context(row["program_id"])
            if self.keyring.current(stored) or not rotate:
                continue
            clear = self.keyring.open(stored, context)
            await self._execute(
                "seal_google_wallet_key", row["program_id"], self.keyring.seal(clear, context)
            )
            written += 1
        return written
