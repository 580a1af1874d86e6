"""Google Wallet (decision 0030): a program's issuer settings (admin) and a card's "Save to
Google Wallet" link (admin and CRM keys of the card's program)."""

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, put

from api.auth import admin_scopes, manager_scopes
from api.http import answer, mutation_for, renderer, respond
from processing.service.records import Actor
from processing.service.wallet.google import GoogleWallet, WalletCommand
from schemas.google_wallet import GoogleWalletLink, GoogleWalletSettings, GoogleWalletSettingsPut

AnyRequest = Request[Any, Any, Any]


class GoogleWalletController(Controller):
    path = "/v1"
    opt = {"scopes": admin_scopes}
    tags = ["google wallet"]

    @put("/programs/{program_id:uuid}/google-wallet", name="put_google_wallet", status_code=200)
    async def put_settings(
        self,
        request: AnyRequest,
        program_id: UUID,
        data: GoogleWalletSettingsPut,
        google_wallet: GoogleWallet,
    ) -> Response[GoogleWalletSettings]:
        """Stores the program's Google Wallet issuer settings, replacing any it had. The
        service account's private key is sealed at rest and never shown again."""
        command = WalletCommand(
            issuer_id=data.issuer_id,
            service_account_email=data.service_account_email,
            private_key=data.private_key,
            program_name=data.program_name,
            logo_url=data.logo_url,
            background_color=data.background_color,
            origins=list(data.origins),
        )
        stored = await google_wallet.configure(
            mutation_for(request, data, program_id),
            program_id,
            command,
            renderer(GoogleWalletSettings),
        )
        return respond(request, stored)

    @get("/programs/{program_id:uuid}/google-wallet", name="get_google_wallet")
    async def get_settings(
        self, request: AnyRequest, program_id: UUID, google_wallet: GoogleWallet, actor: Actor
    ) -> Response[GoogleWalletSettings]:
        """The program's Google Wallet settings, without the private key (409 when it has
        none)."""
        outcome = await google_wallet.settings(actor, program_id)
        return answer(request, outcome, GoogleWalletSettings)

    @get(
        "/cards/{number:str}/google-wallet",
        name="google_wallet_link",
        opt={"scopes": manager_scopes},
    )
    async def save_link(
        self, request: AnyRequest, number: str, google_wallet: GoogleWallet, actor: Actor
    ) -> Response[GoogleWalletLink]:
        """The card's "Save to Google Wallet" link. The program's class and the card's object
        are inserted at Google first when it has not got them (502 when Google fails); from
        then on the object follows the card's balance, tier and status."""
        return answer(request, await google_wallet.save_link(actor, number), GoogleWalletLink)
