"""What the portal sends the Bitrix24 application, read once into values (no I/O, no clock).

The install call comes in one of two shapes, both form-encoded with PHP bracket keys: the install
page's POST (``AUTH_ID``, ``REFRESH_ID``, ``AUTH_EXPIRES``, ``member_id``, ``APPLICATION_TOKEN``
in the body, ``DOMAIN`` and ``PROTOCOL`` in the query) and the ``ONAPPINSTALL`` event (an
``auth[...]`` map with ``access_token``, ``refresh_token``, ``expires_in``, ``member_id``,
``domain``, ``client_endpoint`` and ``application_token``). Both become one ``InstallForm``.
"""

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec

from processing.service.partners.bitrix24.translation import parse_form
from processing.service.partners.translation import Unusable

member_id_length_max = 64
token_length_max = 512
domain_length_max = 255
# The portal says an access token lives an hour; a value outside this range is not believed.
expires_in_seconds_min = 60
expires_in_seconds_max = 86_400
expires_in_seconds_default = 3600
_member_id = re.compile(r"^[A-Za-z0-9_.-]+$")
_domain = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class InstallForm(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    domain: str  # lower-cased, with a port only where the portal has one (tests)
    client_endpoint: str  # https://{domain}/rest/
    access_token: str
    refresh_token: str
    expires_in: int
    application_token: str


class AppEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An application event (``ONAPPUNINSTALL``, ``ONAPPINSTALL``) as it names its portal."""

    event: str
    member_id: str
    application_token: str


def form_of(body: bytes) -> dict[str, Any]:
    try:
        return parse_form(body)
    except UnicodeDecodeError as error:
        raise Unusable("the body is not UTF-8 form data") from error


def text(form: dict[str, Any], name: str, length_max: int) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return ""
    if len(value) > length_max:
        raise Unusable(f"{name} is longer than {length_max} characters")
    return value.strip()


def install_form_of(body: bytes, query: str) -> InstallForm:
    """The install call's values; ``Unusable`` names the first field missing or malformed."""
    form = form_of(body)
    params = dict(parse_qsl(query, keep_blank_values=True))
    auth = form.get("auth")
    if isinstance(auth, dict):  # ONAPPINSTALL
        fields = {
            "member_id": text(auth, "member_id", member_id_length_max),
            "domain": text(auth, "domain", domain_length_max),
            "access_token": text(auth, "access_token", token_length_max),
            "refresh_token": text(auth, "refresh_token", token_length_max),
            "expires_in": text(auth, "expires_in", 12),
            "application_token": text(auth, "application_token", token_length_max),
        }
        endpoint = text(auth, "client_endpoint", domain_length_max + 20)
    else:  # the install page's POST
        fields = {
            "member_id": text(form, "member_id", member_id_length_max),
            "domain": text(params, "DOMAIN", domain_length_max)
            or text(form, "DOMAIN", domain_length_max),
            "access_token": text(form, "AUTH_ID", token_length_max),
            "refresh_token": text(form, "REFRESH_ID", token_length_max),
            "expires_in": text(form, "AUTH_EXPIRES", 12),
            "application_token": text(form, "APPLICATION_TOKEN", token_length_max),
        }
        endpoint = ""
    protocol = text(params, "PROTOCOL", 1) or text(form, "PROTOCOL", 1)
    return checked_install(fields, endpoint, protocol)


def checked_install(fields: dict[str, str], endpoint: str, protocol: str) -> InstallForm:
    for name, value in fields.items():
        if not value and name != "expires_in":
            raise Unusable(f"the install call carries no {name}")
    if not _member_id.match(fields["member_id"]):
        raise Unusable("member_id is not a portal id")
    domain = fields["domain"].lower()
    if not _domain.match(domain):
        raise Unusable("DOMAIN is not a host name")
    scheme = "http" if protocol == "0" else "https"
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.netloc.lower() != domain or parts.path.rstrip("/") != "/rest":
            raise Unusable("client_endpoint is not the portal's REST API")
        scheme = parts.scheme
    return InstallForm(
        member_id=fields["member_id"],
        domain=domain,
        client_endpoint=f"{scheme}://{domain}/rest/",
        access_token=fields["access_token"],
        refresh_token=fields["refresh_token"],
        expires_in=expires_in_of(fields["expires_in"]),
        application_token=fields["application_token"],
    )


def expires_in_of(value: str) -> int:
    if not value:
        return expires_in_seconds_default
    if not value.isdigit():
        raise Unusable("AUTH_EXPIRES is not a number of seconds")
    return min(max(int(value), expires_in_seconds_min), expires_in_seconds_max)


def app_event_of(body: bytes) -> AppEvent:
    form = form_of(body)
    auth = form.get("auth")
    if not isinstance(auth, dict):
        raise Unusable("the event carries no auth")
    event = text(form, "event", 100).upper()
    member_id = text(auth, "member_id", member_id_length_max)
    token = text(auth, "application_token", token_length_max)
    if not event or not member_id or not token:
        raise Unusable("an application event names its event, member_id and application_token")
    return AppEvent(event=event, member_id=member_id, application_token=token)
