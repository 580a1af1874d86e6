"""A Bitrix24 portal called with the application's OAuth pair, refreshed when it has expired.

The portal says when an access token expires (``expires_in``, an hour); a call made after that,
or answered ``401 expired_token``, refreshes the pair at the OAuth server
(``GET {oauth_url}/oauth/token/?grant_type=refresh_token&...``) and is made again once. A refresh
token is spent by its refresh, so two workers must never refresh the same pair: a refresh is
claimed in Postgres first (``bitrix24_portals.refreshing_until``, one statement, no connection
held while the OAuth server answers), the new pair is stored only over the generation it was
refreshed from, and a worker that lost the claim waits for the winner's pair. Refreshing on a
schedule is what the portal's docs warn can get an application blocked, so it never happens
here.
"""

import asyncio
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import msgspec
import structlog

from processing.service.partners.bitrix24.translation import error_of
from processing.service.ports import Database, PartnerApi, PartnerUnavailable, PortalState

log = structlog.get_logger(__name__)
# A token that expires within this margin is refreshed before the call rather than after it.
expiry_margin_seconds = 60.0
refresh_lease_seconds = 30.0  # the OAuth server answers in well under this
refresh_wait_seconds_max = 10.0  # a worker waits this long for another's refresh
refresh_poll_seconds = 0.05
expired_errors = frozenset({"expired_token", "invalid_token"})


class OAuthApp(msgspec.Struct, frozen=True, kw_only=True):
    """Our application as the OAuth server knows it (server settings, never per portal)."""

    client_id: str = ""
    client_secret: str = ""
    oauth_url: str = "https://oauth.bitrix.info"


async def rest_call(
    api: PartnerApi, endpoint: str, method: str, params: dict[str, Any], access_token: str
) -> tuple[int, Any]:
    """One REST call with an access token (``auth`` in the JSON body, as the portal takes it)."""
    return await api.post_json(
        f"{endpoint.rstrip('/')}/{method}.json", params | {"auth": access_token}, {}
    )


def expired(status: int, answer: Any) -> bool:
    error = error_of(answer)
    return status == 401 and error is not None and error[0] in expired_errors


class PortalTokens:
    def __init__(
        self,
        database: Database,
        api: PartnerApi,
        app: OAuthApp,
        wait_seconds_max: float = refresh_wait_seconds_max,
    ) -> None:
        self.database = database
        self.api = api
        self.app = app
        self.wait_seconds_max = wait_seconds_max

    async def state(self, connection_id: UUID) -> PortalState:
        async with self.database.reader() as store:
            state = await store.portal(connection_id)
        if state is None:
            raise PartnerUnavailable("the portal's application is not installed")
        return state

    async def call(
        self, connection_id: UUID, method: str, params: dict[str, Any]
    ) -> tuple[int, Any]:
        """The status and answer of ``method``, with a fresh pair when the current one has
        expired (refreshed at most once per call)."""
        state = await self.state(connection_id)
        if (state.access_expires_at - state.now).total_seconds() < expiry_margin_seconds:
            state = await self.refresh(state)
        secrets = state.connection.secrets
        status, answer = await rest_call(
            self.api, secrets["client_endpoint"], method, params, secrets["access_token"]
        )
        if not expired(status, answer):
            return status, answer
        state = await self.refresh(state)
        secrets = state.connection.secrets
        return await rest_call(
            self.api, secrets["client_endpoint"], method, params, secrets["access_token"]
        )

    async def refresh(self, seen: PortalState) -> PortalState:
        """The pair after ``seen``'s: refreshed here if this caller claims it, else the one
        another caller stores meanwhile."""
        connection_id, generation = seen.connection.id, seen.generation
        waited = 0.0
        while True:
            async with self.database.transaction() as store:
                claimed = await store.claim_token_refresh(
                    connection_id, generation, refresh_lease_seconds
                )
            if claimed:
                return await self.refreshed(seen)
            state = await self.state(connection_id)
            if state.generation != generation:
                return state
            if waited >= self.wait_seconds_max:
                raise PartnerUnavailable("another worker is still refreshing the portal's token")
            await asyncio.sleep(refresh_poll_seconds)
            waited += refresh_poll_seconds

    async def refreshed(self, seen: PortalState) -> PortalState:
        connection_id, generation = seen.connection.id, seen.generation
        try:
            pair = await self.exchange(seen.connection.secrets["refresh_token"])
        except BaseException:
            async with self.database.transaction() as store:
                await store.release_token_refresh(connection_id, generation)
            raise
        secrets = seen.connection.secrets | {
            "access_token": pair["access_token"],
            "refresh_token": pair["refresh_token"],
        }
        async with self.database.transaction() as store:
            stored = await store.store_refreshed_tokens(
                connection_id, generation, secrets, pair["expires_in"]
            )
        if not stored:  # a reinstall replaced the pair meanwhile: it is the current one
            log.warning("bitrix24_refresh_superseded", connection_id=str(connection_id))
        log.info("bitrix24_token_refreshed", connection_id=str(connection_id))
        return await self.state(connection_id)

    async def exchange(self, refresh_token: str) -> dict[str, Any]:
        """The OAuth server's new pair for ``refresh_token`` (spent by this call)."""
        query = urlencode(
            {
                "grant_type": "refresh_token",
                "client_id": self.app.client_id,
                "client_secret": self.app.client_secret,
                "refresh_token": refresh_token,
            }
        )
        answer = await self.api.get_json(
            f"{self.app.oauth_url.rstrip('/')}/oauth/token/?{query}", {}
        )
        if not isinstance(answer, dict):
            raise PartnerUnavailable("the OAuth server answered without a token pair")
        access, refresh = answer.get("access_token"), answer.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise PartnerUnavailable("the OAuth server answered without a token pair")
        expires_in = answer.get("expires_in", 3600)
        if not isinstance(expires_in, int) or isinstance(expires_in, bool):
            expires_in = 3600
        return {"access_token": access, "refresh_token": refresh, "expires_in": expires_in}
