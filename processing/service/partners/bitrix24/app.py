"""The Bitrix24 application path: install links, the portal's install call, and the
application's own events (docs/decisions/0021).

An operator asks for an install link of a program (``create_install_link``): a one-time token,
kept as its SHA-256, in a URL the portal's administrator gives the application as its install
handler. The portal's install call (``install``) carries the OAuth pair, the application token
and the portal's ``member_id``; it is checked (the link unused and unexpired, the portal's
address one we may call, the pair accepted by the portal's ``app.info``), the tab placements
and events are bound on the portal, and only then, in one transaction, the connection is
written (or a reinstalled portal's taken again), the portal's row with its pair's expiry, and
the link spent. A portal that does not answer leaves nothing written and the link unspent: the
administrator installs again. ``ONAPPUNINSTALL``, verified by the application token stored at
install, deactivates the connection.
"""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
import structlog

from processing.core import limits
from processing.core.outbound import OutboundPolicy, check_url, refusal_details
from processing.core.rejections import Rejection
from processing.service.admin import create_key
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.partners.bitrix24.app_forms import (
    InstallForm,
    app_event_of,
    install_form_of,
)
from processing.service.partners.bitrix24.tokens import rest_call
from processing.service.partners.bitrix24.translation import deal_events, error_of
from processing.service.partners.translation import Unusable
from processing.service.ports import (
    Database,
    InstallGrantFacts,
    PartnerApi,
    PartnerUnavailable,
    Store,
)
from processing.service.records import (
    Accepted,
    Connection,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)

log = structlog.get_logger(__name__)
install_token_prefix = "b24i_"  # noqa: S105 (a prefix that says what the token is for)
placements = ("CRM_CONTACT_DETAIL_TAB", "CRM_DEAL_DETAIL_TAB")
placement_title = "Бонусы / Loyalty"
tab_path = "/apps/bitrix24/tab"
events_path = "/apps/bitrix24/events"


class InstallLink(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    install_url: str | None  # shown once; a replay answers without it
    expires_at: datetime


class Installed(msgspec.Struct, frozen=True, kw_only=True):
    connection_id: UUID
    program_id: UUID
    member_id: str
    domain: str
    reinstalled: bool
    offline_events: bool  # the portal took the offline binding of deal updates


class AppEventAnswer(msgspec.Struct, frozen=True, kw_only=True):
    received: bool


class PortalRefused(Exception):
    """The portal answered a binding with an error that is not "already bound"."""


class Abort(Exception):
    """A refusal decided inside the install's transaction: it rolls the transaction back."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.detail)
        self.refused = refused


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def already_bound(answer: Any) -> bool:
    error = error_of(answer)
    return error is not None and "already" in (error[1] or error[0]).lower()


class Bitrix24App:
    def __init__(
        self,
        database: Database,
        runner: MutationRunner,
        api: PartnerApi,
        outbound: OutboundPolicy,
        public_url: str | None = None,
    ) -> None:
        self.database = database
        self.runner = runner
        self.api = api
        self.outbound = outbound
        self.public_url = public_url  # where the portal reaches us; else the request's URL

    def base(self, request_url: str) -> str:
        return (self.public_url or request_url).rstrip("/")

    async def create_install_link(
        self, mutation: Mutation, program_id: UUID, base_url: str, render: Render
    ) -> StoredResponse:
        """A one-time install link of the program, usable for
        ``limits.bitrix24_install_link_seconds``; its token is shown in this answer only."""
        actor = mutation.actor
        token = install_token_prefix + secrets.token_urlsafe(32)

        async def load(store: Store) -> InstallGrantFacts:
            return await store.install_grant_facts(program_id, actor.program_id)

        def decide(facts: InstallGrantFacts) -> Change | Outcome:
            if not facts.program_found:
                return refuse(Rejection.not_found, "No program with this id.")
            expires_at = facts.now + timedelta(seconds=limits.bitrix24_install_link_seconds)
            link = InstallLink(
                program_id=program_id,
                install_url=f"{self.base(base_url)}/apps/bitrix24/install/{token}",
                expires_at=expires_at,
            )
            return Change(
                outcome=Accepted(value=link, created=True),
                write=lambda store, answer: store.insert_install_grant(
                    token_digest(token), program_id, actor.key_id, expires_at, answer
                ),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def install(self, token: str, body: bytes, query: str, base_url: str) -> Outcome:
        digest = token_digest(token)
        async with self.database.reader() as store:
            program_id = await store.install_grant_program(digest)
        if program_id is None:  # before the body: an unknown link learns nothing more
            return refuse(Rejection.install_link_invalid, "Ask the operator for a new link.")
        try:
            form = install_form_of(body, query)
        except Unusable as error:
            return refuse(Rejection.validation_error, f"The install call is not usable: {error}")
        async with self.database.reader() as store:
            existing = await store.bitrix24_connection(form.domain)
        if existing is not None and existing.program_id != program_id:
            return refuse(
                Rejection.portal_connected_elsewhere,
                f"The portal {form.domain} is connected to another program; uninstall it there.",
            )
        refusal = check_url(form.client_endpoint, self.outbound)
        if refusal is not None:
            return refuse(
                Rejection.url_not_allowed,
                f"The portal's address {refusal_details[refusal]}.",
                field="DOMAIN",
            )
        connection_id = existing.id if existing else uuid4()
        try:
            await self.verify(form)
            offline = await self.bind(form, connection_id, self.base(base_url))
        except PartnerUnavailable as error:
            return refuse(Rejection.partner_unavailable, f"The portal did not answer: {error}")
        except PortalRefused as error:
            return refuse(Rejection.partner_unavailable, f"The portal refused {error}")
        except Abort as abort:
            return abort.refused
        try:
            connection = await self.record(
                form, program_id, existing, connection_id, offline, digest
            )
        except Abort as abort:
            return abort.refused
        log.info(
            "bitrix24_app_installed",
            connection_id=str(connection.id),
            member_id=form.member_id,
            reinstalled=existing is not None,
            offline_events=offline,
        )
        return Accepted(
            value=Installed(
                connection_id=connection.id,
                program_id=program_id,
                member_id=form.member_id,
                domain=form.domain,
                reinstalled=existing is not None,
                offline_events=offline,
            )
        )

    async def verify(self, form: InstallForm) -> None:
        """The pair is the portal's: its ``app.info`` answers to it."""
        status, answer = await rest_call(
            self.api, form.client_endpoint, "app.info", {}, form.access_token
        )
        if status in (401, 403):
            error = error_of(answer)
            raise Abort(
                refuse(
                    Rejection.unauthorized,
                    f"The portal does not accept AUTH_ID ({error[0] if error else status}).",
                    field="AUTH_ID",
                )
            )
        info = answer.get("result") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(info, dict):
            raise PartnerUnavailable(f"app.info answered {status}")

    async def bind(self, form: InstallForm, connection_id: UUID, base_url: str) -> bool:
        """The tabs, the deal events (online, to the connection's receiver), the uninstall
        event; then the deal updates offline too, where the portal allows it. Returns whether
        it did. A handler bound by an earlier install counts as bound."""
        wanted: list[tuple[str, dict[str, Any]]] = [
            ("placement.bind", {"PLACEMENT": placement, "HANDLER": f"{base_url}{tab_path}",
                                "TITLE": placement_title})
            for placement in placements
        ]  # fmt: skip
        hook = f"{base_url}/hooks/bitrix24/{connection_id}"
        wanted += [("event.bind", {"event": name, "handler": hook}) for name in sorted(deal_events)]
        wanted.append(
            ("event.bind", {"event": "ONAPPUNINSTALL", "handler": f"{base_url}{events_path}"})
        )
        for method, params in wanted:
            status, answer = await rest_call(
                self.api, form.client_endpoint, method, params, form.access_token
            )
            if status >= 500 or answer is None:
                raise PartnerUnavailable(f"{method} answered {status}")
            error = error_of(answer)
            if error is not None and not already_bound(answer):
                what = params.get("PLACEMENT") or params["event"]
                raise PortalRefused(f"{method} of {what}: {error[0] or 'an error'}")
        status, answer = await rest_call(
            self.api,
            form.client_endpoint,
            "event.bind",
            {"event": "ONCRMDEALUPDATE", "event_type": "offline"},
            form.access_token,
        )
        return status == 200 and (error_of(answer) is None or already_bound(answer))

    async def record(
        self,
        form: InstallForm,
        program_id: UUID,
        existing: Connection | None,
        connection_id: UUID,
        offline: bool,
        digest: bytes,
    ) -> Connection:
        """The connection, the portal and the spent link, in one transaction."""
        kept = {
            "application_token": form.application_token,
            "access_token": form.access_token,
            "refresh_token": form.refresh_token,
            "client_endpoint": form.client_endpoint,
        }
        settings = {"member_id": form.member_id, "offline_events": offline}
        async with self.database.transaction() as store:
            if existing is not None:
                connection = await store.reconnect(existing.id, kept, settings)
            else:
                key = await create_key(store, program_id, f"bitrix24 {form.domain}", ["crm"], None)
                made = await store.insert_connection(
                    connection_id, program_id, "bitrix24", form.domain, key.id, kept, settings
                )
                if made is None:
                    raise Abort(
                        refuse(
                            Rejection.portal_connected_elsewhere,
                            f"The portal {form.domain} was connected meanwhile.",
                        )
                    )
                connection = made
            if not await store.upsert_portal(form.member_id, connection.id, form.expires_in):
                raise Abort(
                    refuse(
                        Rejection.portal_connected_elsewhere,
                        f"The portal {form.member_id} is installed on another connection.",
                        field="member_id",
                    )
                )
            if not await store.spend_install_grant(digest, connection.id):
                raise Abort(refuse(Rejection.install_link_invalid, "The link was used meanwhile."))
        return connection

    async def app_event(self, body: bytes) -> Outcome:
        """``ONAPPUNINSTALL`` deactivates the portal's connection; another application event is
        acknowledged. Either is verified by the application token stored at install."""
        try:
            event = app_event_of(body)
        except Unusable as error:
            # Without its portal and application token an event cannot be verified.
            return refuse(Rejection.unauthorized, f"The event is not verifiable: {error}")
        async with self.database.reader() as store:
            state = await store.portal_by_member(event.member_id)
        if state is None:
            return refuse(Rejection.not_found, "No portal with this member_id is installed.")
        expected = state.connection.secrets.get("application_token", "")
        if not expected or not hmac.compare_digest(
            event.application_token.encode(), expected.encode()
        ):
            return refuse(Rejection.unauthorized, "auth[application_token] does not match.")
        if event.event != "ONAPPUNINSTALL":
            return Accepted(value=AppEventAnswer(received=False))
        async with self.database.transaction() as store:
            await store.deactivate_connection(state.connection.id)
        log.info("bitrix24_app_uninstalled", connection_id=str(state.connection.id))
        return Accepted(value=AppEventAnswer(received=True))
