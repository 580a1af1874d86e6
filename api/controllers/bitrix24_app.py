"""The Bitrix24 application path (docs/decisions/0021): an install link for a program (an
operator's call), and the two routes the portal calls without our key, the install handler and
the application's own events, each verified by what the portal sends (a one-time link, the
application token stored at install)."""

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, post
from litestar.params import Parameter

from api.auth import admin_scopes
from api.errors import ProblemError
from api.http import mutation_for, renderer, renderer_hiding_secret, respond
from processing.service.partners.bitrix24.app import Bitrix24App
from processing.service.records import Refused
from schemas.api import Bitrix24AppEventReceived, Bitrix24Installed, Bitrix24InstallLink

AnyRequest = Request[Any, Any, Any]
InstallToken = Annotated[str, Parameter(min_length=1, max_length=100)]


def request_base(request: AnyRequest) -> str:
    """The URL this request came to (the service prefers ``BONUS_PUBLIC_URL`` when set)."""
    return str(request.base_url).rstrip("/")


@post(
    "/v1/programs/{program_id:uuid}/bitrix24/installs",
    name="create_bitrix24_install_link",
    status_code=201,
    tags=["partners"],
    opt={"scopes": admin_scopes},
)
async def create_install_link(
    request: AnyRequest, program_id: UUID, bitrix24_app: Bitrix24App
) -> Response[Bitrix24InstallLink]:
    """A one-time link (a week) that installs our Bitrix24 application on a portal for this
    program: the portal's administrator gives it to the application as its install handler.
    The token in the link is shown in this answer only."""
    stored = await bitrix24_app.create_install_link(
        mutation_for(request, None, program_id),
        program_id,
        request_base(request),
        renderer_hiding_secret(Bitrix24InstallLink, "install_url"),
    )
    return respond(request, stored)


@post(
    "/apps/bitrix24/install/{token:str}",
    name="bitrix24_install",
    status_code=200,
    tags=["CRMs"],
    opt={"public": True},
)
async def install(
    request: AnyRequest, token: InstallToken, bitrix24_app: Bitrix24App
) -> Response[Bitrix24Installed]:
    """The portal's install call, form-encoded as Bitrix24 sends it (``AUTH_ID``,
    ``REFRESH_ID``, ``AUTH_EXPIRES``, ``member_id``, ``APPLICATION_TOKEN``; ``DOMAIN`` and
    ``PROTOCOL`` in the query) or as the ``ONAPPINSTALL`` event (``auth[...]``). The link's
    token must be unused and unexpired (403 ``install_link_invalid``, checked before the body is
    read), the form must carry the portal's fields (400 naming the first missing) and the portal
    must accept the token pair (401); a portal that does not answer (502 ``partner_unavailable``)
    leaves nothing written and the link unspent."""
    outcome = await bitrix24_app.install(
        token, await request.body(), request.url.query or "", request_base(request)
    )
    if isinstance(outcome, Refused):
        raise ProblemError(outcome)
    stored = renderer(Bitrix24Installed)(outcome)
    return respond(request, stored)


@post(
    "/apps/bitrix24/events",
    name="bitrix24_app_event",
    status_code=200,
    tags=["CRMs"],
    opt={"public": True},
)
async def app_event(request: AnyRequest, bitrix24_app: Bitrix24App) -> Response[Any]:
    """The application's own events, form-encoded: ``ONAPPUNINSTALL`` deactivates the portal's
    connection. Verified by ``auth[member_id]`` naming an installed portal (404 otherwise) and
    ``auth[application_token]`` matching the one stored at install (401 otherwise, or when the
    event names neither)."""
    outcome = await bitrix24_app.app_event(await request.body())
    if isinstance(outcome, Refused):
        raise ProblemError(outcome)
    return respond(request, renderer(Bitrix24AppEventReceived)(outcome))


bitrix24_app_handlers = [create_install_link, install, app_event]
