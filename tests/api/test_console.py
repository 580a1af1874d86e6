"""The operator console's rules at the HTTP level: a session only from an admin key and only
through the bad-key throttle, CSRF tokens on every form post, one effect per one-time form key,
refusals shown on the page, the security headers, and both catalogues complete."""

import html
import json
import re
from typing import Any
from uuid import UUID

import httpx
import pytest

from api.console.sessions import storage_key
from api.console.words import english, russian
from api.http import renderer
from processing.adapters.redis.locks import create_client
from processing.core import limits
from processing.service.admin import create_key
from processing.service.mutations import Mutation, fingerprint
from processing.service.records import Refused
from schemas.api import Redelivery
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean

_csrf = re.compile(r'name="csrf" value="([^"]+)"')
_adjust_key = re.compile(
    r'class="inline adjust">\s*<input[^>]+>\s*<input type="hidden" '
    r'name="form_key" value="([^"]+)"'
)


async def program_admin_key(api: Api, scopes: list[str] | None = None) -> str:
    async with api.runtime.database.transaction() as store:
        key = await create_key(store, UUID(api.program_id), "console", scopes or ["admin"], None)
    return str(key.key)


async def sign_in(api: Api, key: str, lang: str = "ru") -> httpx.Response:
    return await api.client.post("/console/sign-in", data={"key": key, "lang": lang})


async def signed_in(api: Api) -> str:
    """Signs in with a new program admin key; the client keeps the cookie. Returns the key."""
    key = await program_admin_key(api)
    response = await sign_in(api, key)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console"
    return key


async def card_page(api: Api, customer_id: str) -> tuple[str, str, str]:
    """The customer's page, its CSRF token and the adjustment form's one-time key."""
    response = await api.client.get(f"/console/customers/{customer_id}")
    assert response.status_code == 200, response.text
    return response.text, _csrf.findall(response.text)[0], _adjust_key.findall(response.text)[0]


async def test_the_console_asks_for_a_session_not_a_bearer_key(api: Api) -> None:
    response = await api.client.get("/console")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in"
    page = await api.client.get("/console/sign-in")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Вход в консоль" in page.text
    assert page.headers["content-security-policy"] == (
        "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    english_page = await api.client.get("/console/sign-in", params={"lang": "en"})
    assert "Sign in to the console" in english_page.text


async def test_the_published_api_has_no_console_route(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith("/console")]


async def test_the_cookie_is_http_only_strict_and_scoped(api: Api) -> None:
    key = await program_admin_key(api)
    response = await sign_in(api, key)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    assert f"max-age={limits.console_session_seconds}" in cookie
    assert "secure" not in cookie  # plain http here; https requests get Secure
    token = response.cookies["bonus_console"]
    kept = await api.runtime.redis.get(storage_key(token))
    assert kept is not None
    assert token.encode() not in kept
    assert key.encode() not in kept
    assert 0 < await api.runtime.redis.ttl(storage_key(token)) <= limits.console_session_seconds


async def test_a_wrong_key_or_a_key_without_admin_does_not_sign_in(api: Api) -> None:
    wrong = await sign_in(api, "bk_not-a-key")
    assert wrong.status_code == 401
    assert "Ключ не подошёл" in wrong.text
    assert "set-cookie" not in wrong.headers
    till = await sign_in(api, api.pos_key, lang="en")
    assert till.status_code == 403
    assert "no admin scope" in till.text


async def test_failed_sign_ins_take_from_the_api_throttle(api: Api) -> None:
    for _ in range(limits.auth_failures_burst):
        await sign_in(api, "bk_wrong")
    throttled = await sign_in(api, "bk_wrong")
    assert throttled.status_code == 429
    # The same allowance answers the API's bearer check from this address.
    response = await api.client.get("/v1/customers", headers={"Authorization": "Bearer bk_x"})
    assert response.status_code == 429


async def test_adjusting_needs_the_csrf_token_and_happens_once(api: Api) -> None:
    customer_id = await api.customer()
    await signed_in(api)
    _, csrf, form_key = await card_page(api, customer_id)
    form = {"csrf": csrf, "form_key": form_key, "points": "150", "reason": "goodwill"}
    without = await api.client.post(
        f"/console/customers/{customer_id}/adjustments", data={**form, "csrf": ""}
    )
    assert without.status_code == 403
    forged = await api.client.post(
        f"/console/customers/{customer_id}/adjustments", data={**form, "csrf": "x" * 43}
    )
    assert forged.status_code == 403
    assert (await api.balance(customer_id))["available"] == 0
    for _ in range(2):  # the same form sent twice
        done = await api.client.post(f"/console/customers/{customer_id}/adjustments", data=form)
        assert done.status_code == 303
        assert done.headers["location"] == f"/console/customers/{customer_id}?done=adjusted"
    assert (await api.balance(customer_id))["available"] == 150
    page, _, _ = await card_page(api, customer_id)
    assert "goodwill" in page


async def test_bad_input_and_refusals_are_shown_on_the_page(api: Api) -> None:
    customer_id = await api.customer()
    await signed_in(api)
    _, csrf, form_key = await card_page(api, customer_id)
    path = f"/console/customers/{customer_id}/adjustments"
    cases: list[dict[str, Any]] = [
        {"points": "ten", "reason": "x"},
        {"points": "0", "reason": "x"},
        {"points": "5", "reason": ""},
        {"points": "5", "reason": "a\x00b"},
    ]
    for fields, shown in zip(cases, ["Баллы", "Баллы", "Поле", "Поле"], strict=True):
        response = await api.client.post(path, data={"csrf": csrf, "form_key": form_key, **fields})
        assert response.status_code == 422, (fields, response.text)
        assert re.search(rf'role="alert">{shown}', response.text), (fields, response.text)
    overdraw = {"csrf": csrf, "form_key": form_key, "points": "-10", "reason": "fix"}
    refused = await api.client.post(path, data=overdraw)
    assert 400 <= refused.status_code < 500
    assert "Отказ" in refused.text
    assert (await api.balance(customer_id))["available"] == 0


async def test_blocking_a_card_from_the_console(api: Api) -> None:
    created = await api.post("/v1/customers", {"phone": "+79120000002", "card_number": "7001"})
    customer_id = created.json()["id"]
    await signed_in(api)
    page, csrf, _ = await card_page(api, customer_id)
    form_key = re.findall(
        r'name="form_key" value="([^"]+)">\s*<input type="hidden" '
        r'name="number" value="7001"',
        page,
    )[0]
    form = {"csrf": csrf, "form_key": form_key, "number": "7001", "reason": "lost"}
    other = await api.client.post(
        f"/console/customers/{customer_id}/cards/block", data={**form, "number": "9999"}
    )
    assert other.status_code == 422
    done = await api.client.post(f"/console/customers/{customer_id}/cards/block", data=form)
    assert done.status_code == 303
    journal = await api.client.get(
        "/v1/cards/7001", headers={"Authorization": f"Bearer {await program_admin_key(api)}"}
    )
    assert journal.json()["status"] == "blocked", journal.text
    page, _, _ = await card_page(api, customer_id)
    assert "status-blocked" in page


async def test_a_revoked_key_ends_its_session_and_sign_out_forgets_it(api: Api) -> None:
    key = await signed_in(api)
    assert (await api.client.get("/console")).status_code == 200
    stored = storage_key(api.client.cookies["bonus_console"])
    assert await api.runtime.redis.exists(stored)
    key_id = (await api.runtime.admin.authenticate(key)).key_id  # type: ignore[union-attr]
    revoked = await api.client.delete(f"/v1/api-keys/{key_id}", headers=api.headers(api.admin_key))
    assert revoked.status_code == 200, revoked.text
    gone = await api.client.get("/console")
    assert gone.status_code == 303
    assert gone.headers["location"] == "/console/sign-in?gone=1"
    assert not await api.runtime.redis.exists(stored)
    await signed_in(api)
    stored = storage_key(api.client.cookies["bonus_console"])
    page = await api.client.get("/console")
    csrf = _csrf.findall(page.text)[0]
    assert (await api.client.post("/console/sign-out", data={})).status_code == 403
    out = await api.client.post("/console/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    assert not await api.runtime.redis.exists(stored)


async def test_a_post_from_another_site_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/console/sign-in", data={"key": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403


async def test_the_locale_switch_is_kept_in_the_session(api: Api) -> None:
    await signed_in(api)
    assert "Поиск клиента" in (await api.client.get("/console")).text
    assert "Find a customer" in (await api.client.get("/console", params={"lang": "en"})).text
    assert "Find a customer" in (await api.client.get("/console")).text


def test_both_catalogues_name_the_same_strings() -> None:
    assert russian.keys() == english.keys()
    assert all(value.strip() for value in (*russian.values(), *english.values()))


# --- the customer card: unblocking a card, blocking and unblocking the account -----------------


def form_key_for(page: str, action: str) -> str:
    """The one-time key of the form posting to ``action`` (its first, for a list of forms)."""
    pattern = (
        rf'action="{re.escape(action)}"[^>]*>\s*<input[^>]+>\s*'
        r'<input type="hidden" name="form_key" value="([^"]+)"'
    )
    found = re.findall(pattern, page)
    assert found, (action, page)
    return str(found[0])


async def customer_json(api: Api, customer_id: str) -> Any:
    response = await api.get(f"/v1/customers/{customer_id}", key=api.admin_key)
    assert response.status_code == 200, response.text
    return response.json()


async def test_unblocking_a_card_from_the_console(api: Api) -> None:
    created = await api.post("/v1/customers", {"phone": "+79120000003", "card_number": "7003"})
    customer_id = created.json()["id"]
    await signed_in(api)
    page, csrf, _ = await card_page(api, customer_id)
    block = f"/console/customers/{customer_id}/cards/block"
    unblock = f"/console/customers/{customer_id}/cards/unblock"
    # Unblocking a card that is not blocked is refused on the page.
    refused = await api.client.post(
        unblock,
        data={"csrf": csrf, "form_key": "k" * 24, "number": "7003", "reason": "found"},
    )
    assert refused.status_code == 409, refused.text
    assert "card_not_blocked" in refused.text
    form = {"csrf": csrf, "form_key": form_key_for(page, block), "number": "7003", "reason": "lost"}
    assert (await api.client.post(block, data=form)).status_code == 303
    page, _, _ = await card_page(api, customer_id)
    assert "unblock-card" in page
    form = {"csrf": csrf, "form_key": form_key_for(page, unblock), "number": "7003"}
    assert (await api.client.post(unblock, data={**form, "reason": ""})).status_code == 422
    assert (await api.client.post(unblock, data={**form, "csrf": ""})).status_code == 403
    for _ in range(2):  # the same form sent twice
        done = await api.client.post(unblock, data={**form, "reason": "found it"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/customers/{customer_id}?done=unblocked"
    journal = (await api.get("/v1/cards/7003", key=await program_admin_key(api))).json()
    assert journal["status"] == "active"
    assert [event["status"] for event in journal["events"]] == ["active", "blocked", "active"]
    shown = await api.client.get(f"/console/customers/{customer_id}?done=unblocked")
    assert "Карта разблокирована." in shown.text


async def test_blocking_and_unblocking_the_account_from_the_console(api: Api) -> None:
    customer_id = await api.customer("+79120000004")
    await signed_in(api)
    page, csrf, _ = await card_page(api, customer_id)
    block = f"/console/customers/{customer_id}/block"
    form = {"csrf": csrf, "form_key": form_key_for(page, block), "reason": "fraud check"}
    assert (await api.client.post(block, data={**form, "csrf": "nope"})).status_code == 403
    bad = await api.client.post(block, data={**form, "reason": "x" * 501})
    assert bad.status_code == 422
    assert 'role="alert">Поле' in bad.text
    assert (await customer_json(api, customer_id))["blocked"] is False
    for _ in range(2):
        done = await api.client.post(block, data=form)
        assert done.status_code == 303
        assert done.headers["location"] == f"/console/customers/{customer_id}?done=account_blocked"
    assert (await customer_json(api, customer_id))["blocked_reason"] == "fraud check"
    page, _, _ = await card_page(api, customer_id)
    assert "заблокирован: fraud check" in page
    unblock = f"/console/customers/{customer_id}/unblock"
    form = {"csrf": csrf, "form_key": form_key_for(page, unblock), "reason": "cleared"}
    assert (await api.client.post(unblock, data=form)).status_code == 303
    assert (await customer_json(api, customer_id))["blocked"] is False
    # A form key used for one request is refused for another.
    reused = await api.client.post(block, data={**form, "reason": "again"})
    assert reused.status_code == 422, reused.text
    assert "Отказ" in reused.text
    assert (await customer_json(api, customer_id))["blocked"] is False


# --- API keys --------------------------------------------------------------------------------

_secret = re.compile(r'<output id="secret" class="secret">([^<]+)</output>')


async def keys_page(api: Api, **params: str) -> httpx.Response:
    response = await api.client.get("/console/keys", params=params)
    assert response.status_code == 200, response.text
    return response


def as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


async def redis_holds(api: Api, text: str) -> bool:
    """Whether any string, hash or list in Redis holds ``text``."""
    redis, wanted = api.runtime.redis, text.encode()
    async for name in redis.scan_iter(count=500):
        kind = as_bytes(await redis.type(name))
        values: list[Any]
        if kind == b"string":
            values = [await redis.get(name)]
        elif kind == b"hash":
            values = [*(await redis.hgetall(name)).items()]
        elif kind == b"list":
            values = await redis.lrange(name, 0, -1)
        else:
            continue
        if any(wanted in as_bytes(value) for value in values):
            return True
    return False


async def test_a_new_keys_secret_is_shown_once_and_the_key_revoked(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    await signed_in(api)
    listed = await keys_page(api)
    assert "API-ключи программы" in listed.text
    assert 'class="key-name">console<' in listed.text
    csrf = _csrf.findall(listed.text)[0]
    form = {
        "csrf": csrf,
        "form_key": form_key_for(listed.text, "/console/keys"),
        "name": "front till",
        "scope_pos": "on",
        "store_id": "store-7",
    }
    assert (await api.client.post("/console/keys", data={**form, "csrf": ""})).status_code == 403
    for fields, shown in [
        ({"scope_pos": ""}, "Отметьте хотя бы одно право."),
        ({"name": ""}, "Название"),
        ({"store_id": "no spaces"}, "Магазин:"),
    ]:
        wrong = await api.client.post("/console/keys", data={**form, **fields})
        assert wrong.status_code == 422, (fields, wrong.text)
        assert f'role="alert">{shown}' in wrong.text, (fields, wrong.text)
    created = await api.client.post("/console/keys", data=form)
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = _secret.findall(created.text)[0]
    actor = await api.runtime.admin.authenticate(secret)
    assert actor is not None
    assert actor.scopes == frozenset({"pos"})
    assert actor.store_id == "store-7"
    # The same form again makes no second key and shows no secret.
    replay = await api.client.post("/console/keys", data=form)
    assert replay.status_code == 200
    assert secret not in replay.text
    assert "секрет показывается только один раз" in replay.text
    listed = await keys_page(api)
    assert secret not in listed.text
    assert listed.text.count('class="key-name">front till<') == 1
    assert not await redis_holds(api, secret)
    logged = capsys.readouterr()
    assert secret not in logged.out + logged.err

    action = f"/console/keys/{actor.key_id}/revoke"
    revoke = {"csrf": csrf, "form_key": form_key_for(listed.text, action)}
    unconfirmed = await api.client.post(action, data=revoke)
    assert unconfirmed.status_code == 422
    assert "Отметьте «Да, отозвать»" in unconfirmed.text
    assert await api.runtime.admin.authenticate(secret) is not None
    assert (await api.client.post(action, data={**revoke, "csrf": ""})).status_code == 403
    for _ in range(2):
        done = await api.client.post(action, data={**revoke, "confirm": "yes"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/keys?program={api.program_id}&done=revoked"
    assert await api.runtime.admin.authenticate(secret) is None
    listed = await keys_page(api, done="revoked")
    assert "Ключ отозван." in listed.text
    assert f"/console/keys/{actor.key_id}/revoke" not in listed.text
    unknown = await api.client.post(
        f"/console/keys/{UUID(int=5)}/revoke",
        data={"csrf": csrf, "form_key": "u" * 24, "confirm": "yes"},
    )
    assert unknown.status_code == 404
    assert 'role="alert">Не найдено.' in unknown.text


async def test_a_keys_secret_is_rotated_and_the_new_one_shown_once(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    minted = await api.post(
        "/v1/api-keys",
        {"program_id": api.program_id, "name": "till 9", "scopes": ["pos"]},
        key=api.admin_key,
    )
    assert minted.status_code == 201, minted.text
    key_id, old_secret = minted.json()["id"], minted.json()["key"]
    await signed_in(api)
    listed = await keys_page(api)
    action = f"/console/keys/{key_id}/rotate"
    csrf = _csrf.findall(listed.text)[0]
    form = {"csrf": csrf, "form_key": form_key_for(listed.text, action)}
    assert (await api.client.post(action, data={**form, "csrf": ""})).status_code == 403
    rotated = await api.client.post(action, data=form)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    assert "Ключу выдан новый секрет" in rotated.text
    assert "Старый секрет работает ещё 1 ч." in rotated.text
    secret = _secret.findall(rotated.text)[0]
    assert secret != old_secret
    actor = await api.runtime.admin.authenticate(secret)
    assert actor is not None
    assert str(actor.key_id) == key_id
    assert await api.runtime.admin.authenticate(old_secret) is not None  # the grace
    # The same form again rotates nothing more and shows no secret.
    replay = await api.client.post(action, data=form)
    assert replay.status_code == 200
    assert secret not in replay.text
    assert "новый секрет; он показывается один раз" in replay.text
    assert await api.runtime.admin.authenticate(secret) is not None
    assert secret not in (await keys_page(api)).text
    assert not await redis_holds(api, secret)
    logged = capsys.readouterr()
    assert secret not in logged.out + logged.err
    unknown = await api.client.post(
        f"/console/keys/{UUID(int=6)}/rotate", data={"csrf": csrf, "form_key": "r" * 24}
    )
    assert unknown.status_code == 404
    assert 'role="alert">Не найдено.' in unknown.text


async def test_an_operator_key_picks_the_program_first(api: Api) -> None:
    other_program, _, _ = await make_program(api.runtime, "Other shop")
    response = await sign_in(api, api.admin_key)
    assert response.status_code == 303
    for path in (
        "/console/keys",
        "/console/connections",
        "/console/webhooks",
        "/console/campaigns",
    ):
        chooser = await api.client.get(path)
        assert chooser.status_code == 200
        assert "Программы" in chooser.text
        assert f'href="{path}?program={api.program_id}"' in chooser.text
        assert f'href="{path}?program={other_program}"' in chooser.text
    listed = await keys_page(api, program=api.program_id)
    assert 'class="key-name">till<' in listed.text
    assert f'name="program" value="{api.program_id}"' in listed.text
    csrf = _csrf.findall(listed.text)[0]
    form = {
        "csrf": csrf,
        "form_key": form_key_for(listed.text, "/console/keys"),
        "program": other_program,
        "name": "their crm",
        "scope_crm": "on",
    }
    created = await api.client.post("/console/keys", data=form)
    assert created.status_code == 200, created.text
    actor = await api.runtime.admin.authenticate(_secret.findall(created.text)[0])
    assert actor is not None
    assert str(actor.program_id) == other_program


# --- tenancy ---------------------------------------------------------------------------------


async def test_a_program_admin_sees_its_own_program_only(api: Api) -> None:
    other_program, _, _ = await make_program(api.runtime, "Other")
    theirs = await program_admin_key_of(api, UUID(other_program), "their admin")
    their_connection = await api.runtime.channels.connect(
        UUID(other_program), "shopify", "theirs.myshopify.com", {"client_secret": "s" * 20}
    )
    their_hook = await subscribe(api, other_program, "http://127.0.0.1:9/theirs")
    await signed_in(api)
    # The program in the query is the key's own, whatever is asked.
    listed = await keys_page(api, program=other_program)
    assert "their admin" not in listed.text
    assert 'class="key-name">console<' in listed.text
    csrf = _csrf.findall(listed.text)[0]
    their_key = await api.runtime.admin.authenticate(theirs)
    assert their_key is not None
    revoked = await api.client.post(
        f"/console/keys/{their_key.key_id}/revoke",
        data={"csrf": csrf, "form_key": "t" * 24, "confirm": "yes", "program": other_program},
    )
    assert revoked.status_code == 404
    assert await api.runtime.admin.authenticate(theirs) is not None
    connections = await api.client.get("/console/connections", params={"program": other_program})
    assert "theirs.myshopify.com" not in connections.text
    events = await api.client.get(f"/console/connections/{their_connection.id}")
    assert events.status_code == 404
    assert 'role="alert">Не найдено.' in events.text
    hooks = await api.client.get("/console/webhooks", params={"program": other_program})
    assert "/theirs" not in hooks.text
    deliveries = await api.client.get(f"/console/webhooks/{their_hook}")
    assert deliveries.status_code == 404


async def program_admin_key_of(api: Api, program_id: UUID, name: str) -> str:
    async with api.runtime.database.transaction() as store:
        key = await create_key(store, program_id, name, ["admin"], None)
    return str(key.key)


# --- partner inbox ---------------------------------------------------------------------------


async def test_a_dead_partner_event_is_retried_from_the_console(api: Api) -> None:
    connection = await api.runtime.channels.connect(
        api.program_id_uuid, "shopify", "console.myshopify.com", {"client_secret": "s" * 20}
    )
    for n in range(3):
        assert await api.runtime.channels.receive(connection, f"evt-{n}", "orders/paid", {"n": n})
    async with api.runtime.pool.acquire() as db:
        ids = [row["id"] for row in await db.fetch("select id from channel_inbox order by id")]
        await db.execute(
            "update channel_inbox set status = 'dead', attempts = 10,"
            " processed_at = clock_timestamp(), last_error = 'PartnerRejected: no such order'"
            " where id = $1",
            ids[1],
        )
    await signed_in(api)
    listed = await api.client.get("/console/connections")
    assert listed.status_code == 200
    assert "console.myshopify.com" in listed.text
    assert f'href="/console/connections/{connection.id}?status=dead"' in listed.text
    dead = await api.client.get(f"/console/connections/{connection.id}", params={"status": "dead"})
    assert dead.status_code == 200
    assert "PartnerRejected: no such order" in dead.text
    assert "evt-1" in dead.text
    assert "evt-0" not in dead.text
    every = await api.client.get(f"/console/connections/{connection.id}")
    assert all(f"evt-{n}" in every.text for n in range(3))
    assert every.text.count("retry-event") == 1
    action = f"/console/connections/{connection.id}/events/{ids[1]}/retry"
    csrf = _csrf.findall(dead.text)[0]
    form = {"csrf": csrf, "form_key": form_key_for(dead.text, action)}
    assert (await api.client.post(action, data={"form_key": form["form_key"]})).status_code == 403
    for _ in range(2):
        done = await api.client.post(action, data=form)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == (
            f"/console/connections/{connection.id}?status=dead&done=retried"
        )
    async with api.runtime.pool.acquire() as db:
        row = await db.fetchrow("select status, attempts from channel_inbox where id = $1", ids[1])
    assert row is not None
    assert (row["status"], row["attempts"]) == ("pending", 0)
    shown = await api.client.get(f"/console/connections/{connection.id}?status=dead&done=retried")
    assert "Событие снова в очереди." in shown.text
    # Not dead any more: a fresh form is refused on the page, and so is an id out of range.
    again = await api.client.post(action, data={"csrf": csrf, "form_key": "r" * 24})
    assert again.status_code == 409
    assert "inbox_event_not_dead" in again.text
    huge = await api.client.post(
        f"/console/connections/{connection.id}/events/{2**60}/retry",
        data={"csrf": csrf, "form_key": "h" * 24},
    )
    assert huge.status_code == 422
    assert 'role="alert">Не найдено.' in huge.text
    bad_cursor = await api.client.get(
        f"/console/connections/{connection.id}", params={"cursor": "nonsense"}
    )
    assert bad_cursor.status_code == 404
    assert "Отказ" in bad_cursor.text


# --- webhooks --------------------------------------------------------------------------------


async def subscribe(api: Api, program_id: str, url: str) -> str:
    response = await api.post(
        f"/v1/programs/{program_id}/webhooks",
        {"url": url, "event_types": ["points.accrued"]},
        key=api.admin_key,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def dead_delivery(api: Api, webhook_id: str) -> int:
    """A delivery of the subscription dead after its last attempt (no relay runs here)."""
    await api.customer("+79120000055", points=10)
    async with api.runtime.pool.acquire() as db:
        delivery_id: int = await db.fetchval(
            "insert into webhook_deliveries (subscription_id, outbox_id, status, attempts,"
            " last_status, last_error) select $1, max(id), 'dead', 8, 500, 'http_status'"
            " from outbox returning id",
            UUID(webhook_id),
        )
    return delivery_id


async def test_a_dead_webhook_delivery_is_redelivered_from_the_console(api: Api) -> None:
    webhook_id = await subscribe(api, api.program_id, "http://127.0.0.1:9/console-hook")
    delivery_id = await dead_delivery(api, webhook_id)
    await signed_in(api)
    listed = await api.client.get("/console/webhooks")
    assert listed.status_code == 200
    assert "http://127.0.0.1:9/console-hook" in listed.text
    assert "points.accrued" in listed.text
    dead = await api.client.get(f"/console/webhooks/{webhook_id}", params={"status": "dead"})
    assert dead.status_code == 200
    assert "http_status" in dead.text
    action = f"/console/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"
    csrf = _csrf.findall(dead.text)[0]
    form = {"csrf": csrf, "form_key": form_key_for(dead.text, action)}
    assert (await api.client.post(action, data={**form, "csrf": "x"})).status_code == 403
    for _ in range(2):
        done = await api.client.post(action, data=form)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == (
            f"/console/webhooks/{webhook_id}?status=dead&done=redelivered"
        )
    async with api.runtime.pool.acquire() as db:
        status = await db.fetchval(
            "select status from webhook_deliveries where id = $1", delivery_id
        )
        assert status == "pending"
        await db.execute(
            "update webhook_deliveries set status = 'delivered', delivered_at = now()"
            " where id = $1",
            delivery_id,
        )
    shown = await api.client.get(f"/console/webhooks/{webhook_id}?status=dead&done=redelivered")
    assert "Доставка снова в очереди." in shown.text
    assert "redeliver" not in shown.text.split("<main>")[1].replace("done=redelivered", "")
    delivered = await api.client.post(action, data={"csrf": csrf, "form_key": "d" * 24})
    assert delivered.status_code == 404
    assert 'role="alert">Не найдено.' in delivered.text


async def test_a_delivery_under_another_webhooks_address_is_not_found(api: Api) -> None:
    mine = await subscribe(api, api.program_id, "http://127.0.0.1:9/mine")
    theirs = await subscribe(api, api.program_id, "http://127.0.0.1:9/theirs")
    delivery_id = await dead_delivery(api, theirs)
    await signed_in(api)
    page = await api.client.get(f"/console/webhooks/{theirs}", params={"status": "dead"})
    csrf = _csrf.findall(page.text)[0]
    wrong = f"/console/webhooks/{mine}/deliveries/{delivery_id}/redeliver"
    refused = await api.client.post(wrong, data={"csrf": csrf, "form_key": "m" * 24})
    assert refused.status_code == 404, refused.text
    assert 'role="alert">Не найдено.' in refused.text

    async def status() -> str:
        async with api.runtime.pool.acquire() as db:
            found: str = await db.fetchval(
                "select status from webhook_deliveries where id = $1", delivery_id
            )
        return found

    assert await status() == "dead"
    # The use case itself answers a clear problem, and writes nothing but that answer.
    actor = await api.runtime.admin.admit(api.admin_key, "127.0.0.1")
    assert not isinstance(actor, Refused)
    mutation = Mutation(actor=actor, idempotency_key="other-hook", fingerprint=fingerprint("x"))
    stored = await api.runtime.webhooks.redeliver(
        mutation, delivery_id, renderer(Redelivery), UUID(mine)
    )
    assert stored.status_code == 404
    problem = json.loads(stored.body)
    assert (problem["code"], problem["field"]) == ("not_found", "delivery_id")
    assert "this webhook subscription" in problem["detail"]
    assert await status() == "dead"
    right = f"/console/webhooks/{theirs}/deliveries/{delivery_id}/redeliver"
    done = await api.client.post(right, data={"csrf": csrf, "form_key": "n" * 24})
    assert done.status_code == 303, done.text
    assert await status() == "pending"


async def test_a_webhook_subscription_is_disabled_from_the_console(api: Api) -> None:
    webhook_id = await subscribe(api, api.program_id, "http://127.0.0.1:9/disable-me")

    async def active() -> bool:
        listed = await api.get(f"/v1/programs/{api.program_id}/webhooks", key=api.admin_key)
        return bool(next(item for item in listed.json() if item["id"] == webhook_id)["active"])

    await signed_in(api)
    page = await api.client.get("/console/webhooks")
    action = f"/console/webhooks/{webhook_id}/disable"
    csrf = _csrf.findall(page.text)[0]
    form = {"csrf": csrf, "form_key": form_key_for(page.text, action)}
    assert (await api.client.post(action, data={**form, "csrf": ""})).status_code == 403
    unconfirmed = await api.client.post(action, data=form)
    assert unconfirmed.status_code == 422
    assert "Отметьте «Да, отключить»" in unconfirmed.text
    assert await active()
    for _ in range(2):
        done = await api.client.post(action, data={**form, "confirm": "yes"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == (
            f"/console/webhooks?program={api.program_id}&done=webhook_disabled"
        )
    assert not await active()
    shown = await api.client.get(done.headers["location"])
    assert "Подписка отключена" in shown.text
    assert action not in shown.text
    unknown = await api.client.post(
        f"/console/webhooks/{UUID(int=7)}/disable",
        data={"csrf": csrf, "form_key": "w" * 24, "confirm": "yes"},
    )
    assert unknown.status_code == 404
    assert 'role="alert">Не найдено.' in unknown.text


async def test_every_new_page_renders_in_both_languages_without_script(api: Api) -> None:
    connection = await api.runtime.channels.connect(
        api.program_id_uuid, "shopify", "pages.myshopify.com", {"client_secret": "s" * 20}
    )
    webhook_id = await subscribe(api, api.program_id, "http://127.0.0.1:9/pages")
    await signed_in(api)
    paths = [
        "/console/keys",
        "/console/connections",
        f"/console/connections/{connection.id}",
        "/console/webhooks",
        f"/console/webhooks/{webhook_id}",
    ]
    for lang in ("en", "ru"):
        for path in paths:
            response = await api.client.get(path, params={"lang": lang})
            assert response.status_code == 200, (path, response.text)
            assert "<script" not in response.text
            assert 'href="/console/keys"' in response.text
            assert response.headers["content-security-policy"].startswith("default-src 'self'")
            assert response.headers["cache-control"] == "no-store"
    english = await api.client.get("/console/keys", params={"lang": "en"})
    assert "The program&#39;s API keys" in english.text


# --- program rules: the rules in force, versions, the diff, the editor ------------------------

_textarea = re.compile(r'<textarea id="rules-text" name="rules"[^>]*>([^<]*)</textarea>', re.S)


def two_tiers(gold_threshold: int) -> dict[str, Any]:
    return {
        "earning": {"base_bp": 500, "category_bp": {"milk": 250}},
        "tiers": [
            {"name": "silver", "threshold_minor": 1000, "earn_bp": 700},
            {"name": "gold", "threshold_minor": gold_threshold, "earn_bp": 1000},
        ],
        "activation_delay_days": 2,
        "expiry": {"mode": "days", "days": 90},
    }


async def rules_form(api: Api, **params: str) -> tuple[str, dict[str, str]]:
    response = await api.client.get("/console/rules", params=params)
    assert response.status_code == 200, response.text
    form = {
        "csrf": _csrf.findall(response.text)[0],
        "form_key": form_key_for(response.text, "/console/rules"),
        "program": api.program_id,
    }
    return response.text, form


async def test_the_rules_editor_saves_versions_and_the_diff_names_the_threshold(
    api: Api,
) -> None:
    await signed_in(api)
    page, form = await rules_form(api)
    assert "Правила программы" in page
    assert "Правила ещё не сохранялись." in page
    shown = html.unescape(_textarea.findall(page)[0])
    assert '\n  "point_value_minor": 100,' in shown  # the defaults, as formatted JSON
    text = json.dumps(two_tiers(5000), indent=2)
    assert (await api.client.post("/console/rules", data={**form, "csrf": ""})).status_code == 403
    for _ in range(2):  # the same form sent twice makes one version
        saved = await api.client.post("/console/rules", data={**form, "rules": text})
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == (
            f"/console/rules?program={api.program_id}&done=rules_saved"
        )
    page, form = await rules_form(api, done="rules_saved")
    assert "Новая версия правил сохранена." in page
    assert 'id="rules-version">Версия 1,' in page
    assert 'data-version="1"' in page
    assert 'data-version="2"' not in page
    assert "5 %" in page  # the base rate, readably
    assert "milk: 2.5 %" in page
    assert '<td>gold</td><td class="number">5000</td>' in page
    edited = await api.client.post(
        "/console/rules", data={**form, "rules": json.dumps(two_tiers(7000), indent=2)}
    )
    assert edited.status_code == 303
    page, _ = await rules_form(api, lang="en")
    assert 'data-version="2"' in page
    assert "Program rules" in page
    current = await api.get(f"/v1/programs/{api.program_id}/rules", key=api.admin_key)
    assert current.json()["version"] == 2
    assert current.json()["rules"]["tiers"][1]["threshold_minor"] == 7000
    diff = await api.client.get(
        "/console/rules/diff", params={"program": api.program_id, "after": "2", "lang": "ru"}
    )
    assert diff.status_code == 200, diff.text
    assert "Отличия версий 1 → 2" in diff.text
    rows = re.findall(r'<tr class="change change-(\w+)"><td><code>([^<]+)</code>', diff.text)
    assert rows == [("changed", "tiers[1].threshold_minor")]
    assert "<code>5000</code>" in diff.text
    assert "<code>7000</code>" in diff.text
    missing = await api.client.get(
        "/console/rules/diff", params={"program": api.program_id, "before": "1", "after": "9"}
    )
    assert missing.status_code == 404
    bad = await api.client.get("/console/rules/diff", params={"program": api.program_id})
    assert bad.status_code == 422


async def test_a_refused_rules_save_names_the_field_and_keeps_the_text(api: Api) -> None:
    await signed_in(api)
    _, form = await rules_form(api)
    cases = [
        (json.dumps(two_tiers(500), indent=2), "tiers[1].threshold_minor"),  # check_rules
        (
            json.dumps({"tiers": [{"name": "x", "threshold_minor": -1, "earn_bp": 1}]}),
            "tiers[0].threshold_minor",
        ),
        (json.dumps({"earning": {"bse_bp": 1}}), "earning.bse_bp"),
        ('{"tiers": [', None),
        ("null", None),
        ('{"bonuses": {"events": {"x": ' + "[" * 5000 + "]" * 5000 + "}}}", "bonuses.events[...]"),
        ('{"point_value_minor": 1e999}', "point_value_minor"),
    ]
    for text, field in cases:
        refused = await api.client.post("/console/rules", data={**form, "rules": text})
        assert refused.status_code in (400, 422), (text, refused.text)
        assert 'role="alert">' in refused.text
        shown = _textarea.findall(refused.text)[0]
        assert html.unescape(shown) == text
        if field is not None:
            assert f'<code id="error-field">{html.escape(field)}</code>' in refused.text, (
                refused.text
            )
        else:
            assert 'id="error-field"' not in refused.text
    current = await api.get(f"/v1/programs/{api.program_id}/rules", key=api.admin_key)
    assert current.json()["version"] == 0


async def test_another_programs_admin_sees_nothing_of_these_rules(api: Api) -> None:
    await signed_in(api)
    _, form = await rules_form(api)
    text = json.dumps(two_tiers(123456), indent=2)
    assert (
        await api.client.post("/console/rules", data={**form, "rules": text})
    ).status_code == 303
    other_program, _, _ = await make_program(api.runtime, "Other rules")
    theirs = await program_admin_key_of(api, UUID(other_program), "their admin")
    api.client.cookies.clear()
    assert (await sign_in(api, theirs)).status_code == 303
    # Their own program, whatever the query asks.
    page = await api.client.get("/console/rules", params={"program": api.program_id})
    assert page.status_code == 200
    assert "123456" not in page.text
    assert 'data-version="1"' not in page.text
    diff = await api.client.get(
        "/console/rules/diff", params={"program": api.program_id, "before": "1", "after": "1"}
    )
    assert "123456" not in diff.text
    assert diff.status_code == 404
    # An operator key picks a program first.
    api.client.cookies.clear()
    assert (await sign_in(api, api.admin_key)).status_code == 303
    listed = await api.client.get("/console/rules")
    assert "Other rules" in listed.text


# --- the customer card: lots, tier, manual tier, issuing a card --------------------------------


async def test_the_card_shows_lots_and_tier_and_sets_and_clears_the_manual_tier(
    api: Api,
) -> None:
    await signed_in(api)
    _, form = await rules_form(api)
    saved = await api.client.post(
        "/console/rules", data={**form, "rules": json.dumps(two_tiers(5000))}
    )
    assert saved.status_code == 303
    customer_id = await api.customer("+79120000011", points=40)
    page, csrf, _ = await card_page(api, customer_id)
    assert re.search(r'class="number lot-remaining">40<', page)
    assert 'id="tier-current">нет<' in page
    assert 'id="tier-next">silver (1000)<' in page
    action = f"/console/customers/{customer_id}/tier"
    tier_form = {"csrf": csrf, "form_key": form_key_for(page, action), "reason": "vip"}
    unknown = await api.client.post(
        action, data={**tier_form, "form_key": "p" * 24, "tier": "platinum"}
    )
    assert unknown.status_code == 400, unknown.text
    assert "platinum" in unknown.text
    assert (
        await api.client.post(action, data={**tier_form, "tier": "gold", "csrf": ""})
    ).status_code == 403
    for _ in range(2):
        done = await api.client.post(action, data={**tier_form, "tier": "gold"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/customers/{customer_id}?done=tier_set"
    tier = await api.get(f"/v1/customers/{customer_id}/tier", key=api.admin_key)
    assert tier.json()["tier_floor"] == "gold"
    shown = await api.client.get(f"/console/customers/{customer_id}?done=tier_set&lang=en")
    assert "The manual tier was set." in shown.text
    assert 'id="tier-current">gold<' in shown.text
    clear = f"/console/customers/{customer_id}/tier/clear"
    clear_form = {"csrf": csrf, "form_key": form_key_for(shown.text, clear)}
    assert (await api.client.post(clear, data={**clear_form, "reason": ""})).status_code == 422
    cleared = await api.client.post(clear, data={**clear_form, "reason": "ended"})
    assert cleared.status_code == 303
    tier = await api.get(f"/v1/customers/{customer_id}/tier", key=api.admin_key)
    assert tier.json()["tier_floor"] is None


async def test_issuing_a_card_from_the_console(api: Api) -> None:
    customer_id = await api.customer("+79120000012")
    await signed_in(api)
    page, csrf, _ = await card_page(api, customer_id)
    assert "Открытых партий нет." in page
    action = f"/console/customers/{customer_id}/cards"
    form = {"csrf": csrf, "form_key": form_key_for(page, action), "number": "8001"}
    assert (await api.client.post(action, data={**form, "csrf": ""})).status_code == 403
    bad = await api.client.post(action, data={**form, "number": "no spaces"})
    assert bad.status_code == 422
    assert 'role="alert">Номер карты' in bad.text
    for _ in range(2):
        done = await api.client.post(action, data=form)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/customers/{customer_id}?done=card_issued"
    cards = (await customer_json(api, customer_id))["cards"]
    assert [card["number"] for card in cards] == ["8001"]
    other = await api.customer("+79120000013")
    page, _, _ = await card_page(api, other)
    taken = await api.client.post(
        f"/console/customers/{other}/cards",
        data={
            "csrf": csrf,
            "form_key": form_key_for(page, f"/console/customers/{other}/cards"),
            "number": "8001",
        },
    )
    assert taken.status_code == 409
    assert "card_exists" in taken.text


async def test_the_rules_and_card_pages_render_in_both_languages(api: Api) -> None:
    customer_id = await api.customer("+79120000014", points=5)
    await signed_in(api)
    _, form = await rules_form(api)
    await api.client.post("/console/rules", data={**form, "rules": json.dumps(two_tiers(5000))})
    paths = [
        "/console/rules",
        f"/console/customers/{customer_id}",
    ]
    for lang, marks in (
        ("en", ["Program rules", "Point lots"]),
        ("ru", ["Правила программы", "Партии баллов"]),
    ):
        for path in paths:
            response = await api.client.get(path, params={"lang": lang})
            assert response.status_code == 200, (path, response.text)
            assert "<script" not in response.text
            assert 'href="/console/rules"' in response.text
            assert response.headers["content-security-policy"].startswith("default-src 'self'")
            assert response.headers["cache-control"] == "no-store"
            assert any(mark in response.text for mark in marks), (path, lang)
        diff = await api.client.get(
            "/console/rules/diff",
            params={"program": api.program_id, "before": "1", "after": "1", "lang": lang},
        )
        assert diff.status_code == 200


_hold_row = re.compile(r'<tr class="hold" data-hold="([^"]+)"')


async def reserved(api: Api, customer_id: str, points: int) -> str:
    response = await api.reserve(customer_id, points)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_the_card_lists_active_holds_and_cancels_one_once(api: Api) -> None:
    customer_id = await api.customer(points=500)
    older = await reserved(api, customer_id, 100)
    newer = await reserved(api, customer_id, 150)
    await signed_in(api)
    page, csrf, _ = await card_page(api, customer_id)
    assert _hold_row.findall(page) == [newer, older]  # newest first
    action = f"/console/customers/{customer_id}/holds/{newer}/cancel"
    form = {"csrf": csrf, "form_key": form_key_for(page, action)}
    without = await api.client.post(action, data={**form, "csrf": ""})
    assert without.status_code == 403
    assert (await api.get(f"/v1/holds/{newer}")).json()["status"] == "active"
    for _ in range(2):  # the same form sent twice cancels once
        done = await api.client.post(action, data=form)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/customers/{customer_id}?done=hold_cancelled"
    assert (await api.get(f"/v1/holds/{newer}")).json()["status"] == "cancelled"
    balance = await api.balance(customer_id)
    assert (balance["available"], balance["reserved"]) == (400, 100)
    after = await api.client.get(f"/console/customers/{customer_id}?done=hold_cancelled")
    assert _hold_row.findall(after.text) == [older]
    assert "Резерв отменён" in after.text


async def test_a_resolved_or_expired_holds_cancel_is_a_message(api: Api) -> None:
    customer_id = await api.customer(points=500)
    hold_id = await reserved(api, customer_id, 100)
    other = await reserved(api, customer_id, 50)
    await signed_in(api)
    page, csrf, _ = await card_page(api, customer_id)
    action = f"/console/customers/{customer_id}/holds/{hold_id}/cancel"
    form = {"csrf": csrf, "form_key": form_key_for(page, action)}
    cancelled = await api.post(f"/v1/holds/{hold_id}/cancel")
    assert cancelled.status_code == 200
    late = await api.client.post(action, data=form)
    assert late.status_code == 409
    assert "Резерв уже закрыт или истёк" in late.text
    assert "hold_already_cancelled" in late.text
    assert late.headers["content-security-policy"].startswith("default-src 'self'")
    await api.runtime.pool.execute(
        "update holds set expires_at = clock_timestamp() where id = $1", other
    )
    expired_action = f"/console/customers/{customer_id}/holds/{other}/cancel"
    form_key = form_key_for(page, expired_action)
    expired = await api.client.post(expired_action, data={"csrf": csrf, "form_key": form_key})
    assert expired.status_code == 409
    assert "hold_expired" in expired.text
    assert _hold_row.findall(expired.text) == []  # past its TTL: no longer listed
    # A hold of another customer is not cancelled through this customer's card.
    someone = await api.customer(phone="+79120000077", points=100)
    theirs = await reserved(api, someone, 10)
    wrong = await api.client.post(
        f"/console/customers/{customer_id}/holds/{theirs}/cancel",
        data={"csrf": csrf, "form_key": "k" * 24},
    )
    assert wrong.status_code == 404
    assert (await api.get(f"/v1/holds/{theirs}")).json()["status"] == "active"


async def test_a_store_confined_session_sees_only_its_stores_holds(api: Api) -> None:
    customer_id = await api.customer(points=500)
    hold_id = await reserved(api, customer_id, 100)  # the till's key: store-1
    async with api.runtime.database.transaction() as store:
        elsewhere = await create_key(
            store, UUID(api.program_id), "store-2 desk", ["admin"], "store-2"
        )
    assert (await sign_in(api, str(elsewhere.key))).status_code == 303
    page, csrf, _ = await card_page(api, customer_id)
    assert _hold_row.findall(page) == []
    refused = await api.client.post(
        f"/console/customers/{customer_id}/holds/{hold_id}/cancel",
        data={"csrf": csrf, "form_key": "s" * 24},
    )
    assert refused.status_code == 404
    assert (await api.get(f"/v1/holds/{hold_id}")).json()["status"] == "active"
    async with api.runtime.database.transaction() as store:
        own = await create_key(store, UUID(api.program_id), "store-1 desk", ["admin"], "store-1")
    assert (await sign_in(api, str(own.key))).status_code == 303
    page, _, _ = await card_page(api, customer_id)
    assert _hold_row.findall(page) == [hold_id]


async def test_the_api_lists_a_customers_active_holds_newest_first(api: Api) -> None:
    customer_id = await api.customer(points=500)
    older = await reserved(api, customer_id, 100)
    newer = await reserved(api, customer_id, 150)
    cancelled = await reserved(api, customer_id, 50)
    assert (await api.post(f"/v1/holds/{cancelled}/cancel")).status_code == 200
    listed = await api.get(f"/v1/customers/{customer_id}/holds")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [item["id"] for item in items] == [newer, older]
    assert set(items[0]) == {"id", "points", "expires_at", "store_id", "document_id", "created_at"}
    assert (items[0]["points"], items[0]["store_id"]) == (150, "store-1")
    async with api.runtime.database.transaction() as store:
        elsewhere = await create_key(store, UUID(api.program_id), "till 2", ["pos"], "store-2")
    theirs = await api.get(f"/v1/customers/{customer_id}/holds", key=str(elsewhere.key))
    assert theirs.json() == {"items": []}
    document = (await api.client.get("/schema/openapi.json")).json()
    assert "get" in document["paths"]["/v1/customers/{customer_id}/holds"]


async def test_without_redis_the_console_answers_a_503_page(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = await api.customer()
    key = await signed_in(api)
    dead = create_client("redis://127.0.0.1:1/0")
    monkeypatch.setattr(api.runtime, "redis", dead)
    try:
        for path, lang, text in [
            (f"/console/customers/{customer_id}", "ru", "Консоль недоступна на минуту"),
            (f"/console/customers/{customer_id}?lang=en", "en", "console is unavailable"),
            ("/console/keys?lang=en", "en", "console is unavailable"),
            ("/console/rules", "ru", "Консоль недоступна"),
        ]:
            response = await api.client.get(path)
            assert response.status_code == 503, (path, response.text)
            assert text in response.text, lang
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert "Traceback" not in response.text
            assert "<script" not in response.text
        api.client.cookies.clear()
        signing = await sign_in(api, key)
        assert signing.status_code == 503
        assert "Консоль недоступна" in signing.text
        assert "set-cookie" not in signing.headers
    finally:
        await dead.aclose()


async def test_merging_a_duplicate_found_by_phone_from_the_console(api: Api) -> None:
    survivor = await api.customer("+79120000021", points=10)
    duplicate = await api.customer("+79120000022", points=25)
    await signed_in(api)
    page, csrf, _ = await card_page(api, survivor)
    action = f"/console/customers/{survivor}/merge"
    form = {
        "csrf": csrf,
        "form_key": form_key_for(page, action),
        "duplicate": "+79120000022",
        "reason": "enrolled twice",
    }
    unknown = await api.client.post(action, data={**form, "duplicate": "+79990000000"})
    assert unknown.status_code == 404
    assert "Дубль не найден" in unknown.text
    itself = await api.client.post(action, data={**form, "duplicate": "+79120000021"})
    assert itself.status_code == 400
    assert "validation_error" in itself.text
    assert (await api.balance(duplicate))["available"] == 25  # nothing moved yet

    page, _, _ = await card_page(api, survivor)  # the refused form's key is spent: a new one
    form["form_key"] = form_key_for(page, action)
    for _ in range(2):  # the form's one-time key makes a second press the first's answer
        done = await api.client.post(action, data=form)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/customers/{survivor}?done=merged"
    shown = await api.client.get(done.headers["location"])
    assert "Клиенты объединены." in shown.text
    assert "объединение" in shown.text  # the merge on the statement
    assert (await api.balance(survivor))["available"] == 35
    assert (await customer_json(api, duplicate))["id"] == survivor
    await assert_ledger_clean(api.runtime)
