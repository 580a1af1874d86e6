"""The published contract's one table: what each route answers, beyond what Litestar can see.

``api/openapi.py`` rewrites Litestar's generated OpenAPI with it, so ``/schema/openapi.json``
tells the truth: every status a route can answer (as ``application/problem+json`` with our
``Problem`` schema and its codes), the ``Idempotency-Key`` header where it is required, and no
authentication on the public routes.

A route added later needs no line here when it follows the defaults:

- every authenticated route can answer ``authenticated_statuses`` (a bad body or parameter, a
  missing or unknown key, a key without the scope, an object that is not there or not the
  caller's, throttling, the database away);
- a mutating route (POST, PUT, PATCH, DELETE behind a key) requires ``Idempotency-Key`` and can
  answer ``mutation_statuses`` too (a request in flight with the key or a business conflict:
  409; the key reused for another body: 422), and 413 when it takes a body;
- every route at all can answer ``every_route_statuses`` (refusals at the server's edge).

A route that answers more (or is a read sent as POST) gets one line in ``ROUTES``, keyed by its
handler's ``name``. A new rejection code needs nothing here unless its status is one that no
route declares yet: ``tests/unit/test_published_contract.py`` says so.
"""

from dataclasses import dataclass
from typing import Final

from api.errors import PROBLEMS
from processing.core.rejections import Rejection
from processing.service.partners.registry import registry

# Statuses every route can answer, public ones included: refusals at the server's edge before
# any handler runs (a body not received in time, headers too large, the server at capacity).
every_route_statuses: Final[frozenset[int]] = frozenset({408, 431, 503})
authenticated_statuses: Final = frozenset({400, 401, 403, 404, 429, 503})
mutation_statuses: Final = frozenset({409, 422})
body_statuses: Final = frozenset({413})
mutating_methods: Final = frozenset({"post", "put", "patch", "delete"})

# Codes an answer can carry that are not rejections of the core: the API's own refusals.
service_codes: Final[dict[str, int]] = {"service_unavailable": 503}


@dataclass(frozen=True, kw_only=True)
class Route:
    """What a route answers beyond the defaults of its kind."""

    # Problem statuses beyond the defaults.
    statuses: frozenset[int] = frozenset()
    # None: required exactly on mutating methods behind a key. False: a read sent as POST.
    idempotent: bool | None = None
    # Success statuses beyond the handler's own (an answer that created nothing, say).
    successes: frozenset[int] = frozenset()


# A read sent as POST (its query is a body): no key, nothing changes; a blocked card or account
# is refused (409).
read_as_post: Final = Route(idempotent=False, statuses=frozenset({409}))
# Pricing a receipt is a read sent as POST; a gift certificate it names with a wrong PIN is
# refused 422 (and counted), a blocked, expired or short one 409 (decision 0033).
checkout_calculate: Final = Route(idempotent=False, statuses=frozenset({409, 422}))
# A partner's webhook receiver: authenticated by the partner's signature or token, not ours.
partner_receiver: Final = Route(statuses=frozenset({400, 401, 404, 413, 503}), idempotent=False)

ROUTES: Final[dict[str, Route]] = {
    "live": Route(),
    "ready": Route(statuses=frozenset({503})),
    # A lookup by card finds a blocked or deleted card and says so (409 card_blocked).
    "find_customer": Route(statuses=frozenset({409})),
    "calculate": checkout_calculate,
    "pos_identify": read_as_post,
    "pos_calculate": checkout_calculate,
    "shop_identify": read_as_post,
    "shop_calculate": checkout_calculate,
    # A certificate's lookup by number and PIN (decision 0033): a read sent as POST, but a
    # wrong PIN is counted; it answers 422 certificate_pin_invalid, 409 blocked.
    "pos_certificate_lookup": Route(idempotent=False, statuses=frozenset({409, 422})),
    "shop_certificate_lookup": Route(idempotent=False, statuses=frozenset({409, 422})),
    # The SMS gateway refused the message: a retry with the same key may succeed.
    "pos_sms_send": Route(statuses=frozenset({502})),
    "send_card_link": Route(statuses=frozenset({502})),
    # A template's preview renders and stores nothing: a read sent as POST.
    "preview_trigger": Route(idempotent=False),
    # The unsubscribe link: public, its signed token the authority; a forged one is not found,
    # one longer than any we sign is refused naming it.
    "unsubscribe": Route(statuses=frozenset({400, 404}), idempotent=False),
    **{registration.receiver: partner_receiver for registration in registry},
    # The Bitrix24 application's install handler: the link spent or unknown (403), the portal
    # refusing the pair (401), connected to another program (409) or not answering (502).
    "bitrix24_install": Route(
        statuses=frozenset({400, 401, 403, 409, 413, 502, 503}), idempotent=False
    ),
    "bitrix24_app_event": partner_receiver,
    # A store already the merchant's answers the assignment in force (200), creating nothing.
    "assign_store": Route(successes=frozenset({200})),
    # Apple Wallet (decision 0029): a program whose pass is not set up yet (or has no icon)
    # answers 409 wallet_not_configured to reads of it.
    "get_apple_wallet": Route(statuses=frozenset({409})),
    "apple_wallet_pass": Route(statuses=frozenset({409})),
    # The PassKit web service: Apple's protocol, no key of ours. A wrong ApplePass token (or
    # none, or a pass of another type) is 401; a device identifier or tag not of the protocol's
    # shape is 400. Registering again answers 200; nothing changed since the tag is 204; a pass
    # not modified since If-Modified-Since is 304.
    "passkit_register": Route(
        statuses=frozenset({400, 401}), successes=frozenset({200}), idempotent=False
    ),
    "passkit_unregister": Route(statuses=frozenset({400, 401}), idempotent=False),
    "passkit_updated_serials": Route(statuses=frozenset({400}), successes=frozenset({204})),
    "passkit_latest_pass": Route(statuses=frozenset({401}), successes=frozenset({304})),
    "passkit_log": Route(statuses=frozenset({400}), idempotent=False),
    # Google Wallet (decision 0030): settings not stored yet (409 wallet_not_configured); the
    # save link also when Google did not take the card's object (502 partner_unavailable).
    # A promoter's QR code (decision 0034) while the program has no enrollment page to link to.
    "promoter_qr": Route(statuses=frozenset({409})),
    "get_google_wallet": Route(statuses=frozenset({409})),
    "google_wallet_link": Route(statuses=frozenset({409, 502})),
}


def route_of(name: str | None) -> Route:
    return ROUTES.get(name or "", Route())


def problem_statuses(
    name: str | None, method: str, public: bool, takes_body: bool
) -> frozenset[int]:
    """Every problem status the route can answer."""
    route = route_of(name)
    statuses = set(every_route_statuses | route.statuses)
    if not public:
        statuses |= authenticated_statuses
        if requires_idempotency_key(name, method, public):
            statuses |= mutation_statuses
    if takes_body:
        statuses |= body_statuses
    return frozenset(statuses)


def requires_idempotency_key(name: str | None, method: str, public: bool) -> bool:
    route = route_of(name)
    if route.idempotent is not None:
        return route.idempotent
    return not public and method.lower() in mutating_methods


def codes_by_status() -> dict[int, list[str]]:
    """The codes each status can carry, in the rejections' precedence order."""
    found: dict[int, list[str]] = {}
    for rejection in Rejection:
        found.setdefault(PROBLEMS[rejection][0], []).append(rejection.value)
    for code, status in service_codes.items():
        found.setdefault(status, []).append(code)
    return found
