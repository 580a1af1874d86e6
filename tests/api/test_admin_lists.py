"""The operator's lists page newest first through programs, API keys, partner connections and
their inbox, every item once, each filter narrowing them, another program's nowhere to be seen
and no secret in any answer; a dead inbox event is retried once, idempotently, and an event
that is not dead is refused."""

import asyncio
import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from processing.service.admin import create_key
from processing.service.records import Connection
from tests.conftest import Api, make_program

shopify_secret = "shpss_admin_lists_secret"
woo_secrets = {
    "webhook_secret": "woo-webhook-secret-admin-lists",
    "consumer_key": "ck_admin_lists_consumer_key",
    "consumer_secret": "cs_admin_lists_consumer_secret",
}


async def admin_key(api: Api, program_id: UUID | None) -> str:
    """An admin key of a program (None: an operator key, which spans programs)."""
    async with api.runtime.database.transaction() as store:
        key = await create_key(store, program_id, "program admin", ["admin"], None)
    assert key.key is not None
    return key.key


async def every_page(api: Api, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Pages through a list two at a time; every page but the last is full."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = await api.get(
            path, key=key, limit=2, **params, **({"cursor": cursor} if cursor else {})
        )
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert len(body["items"]) == 2
    raise AssertionError("the list never ended")


def newest_first(items: list[dict[str, Any]], at: str = "created_at") -> bool:
    order = [(datetime.fromisoformat(item[at]), str(item["id"]).zfill(40)) for item in items]
    return order == sorted(order, reverse=True)


def assert_bad_cursor(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["field"]) == ("validation_error", "cursor")


# --- programs --------------------------------------------------------------------------------


async def test_programs_page_newest_first_and_narrow_by_name_prefix(api: Api) -> None:
    made = [(await make_program(api.runtime, f"Coffee {n}"))[0] for n in range(5)]
    await make_program(api.runtime, "Tea house")

    coffee = await every_page(api, "/v1/programs", api.admin_key, name_prefix="Coffee ")
    everything = await every_page(api, "/v1/programs", api.admin_key)

    assert [item["id"] for item in coffee] == list(reversed(made))
    assert newest_first(everything)
    assert len({item["id"] for item in everything}) == len(everything) >= 7
    assert {api.program_id, *made} <= {item["id"] for item in everything}
    wildcard = await api.get("/v1/programs", key=api.admin_key, name_prefix="%")
    assert wildcard.json()["items"] == []  # a prefix is plain text, never a LIKE pattern


async def test_a_program_key_lists_its_own_program_only(api: Api) -> None:
    await make_program(api.runtime, "Other")
    own = await admin_key(api, api.program_id_uuid)

    listed = await api.get("/v1/programs", key=own)

    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [api.program_id]
    assert listed.json()["next_cursor"] is None


async def test_a_cursor_not_given_out_is_refused_naming_it(api: Api) -> None:
    position = base64.urlsafe_b64encode(b"id:5").decode().rstrip("=")
    for cursor in ("nonsense", position, "c" * 129):
        assert_bad_cursor(await api.get("/v1/programs", key=api.admin_key, cursor=cursor))


# --- API keys --------------------------------------------------------------------------------


async def keys_of_every_status(api: Api) -> dict[str, list[str]]:
    """Two more live keys, one revoked and one expired, beside the fixture's till key; returns
    the ids by status and the secrets of them all (under ``secrets``)."""
    now = datetime.now(UTC)
    async with api.runtime.database.transaction() as store:
        made = [
            await create_key(store, api.program_id_uuid, f"till {n}", ["pos"], f"s-{n}")
            for n in range(3)
        ]
        expired = await create_key(
            store,
            api.program_id_uuid,
            "old till",
            ["pos"],
            None,
            expires_at=now - timedelta(minutes=1),
        )
    revoked = await api.client.delete(
        f"/v1/api-keys/{made[2].id}", headers=api.headers(api.admin_key)
    )
    assert revoked.status_code == 200, revoked.text
    return {
        "live": [str(made[0].id), str(made[1].id)],
        "revoked": [str(made[2].id)],
        "expired": [str(expired.id)],
        "secrets": [str(key.key) for key in [*made, expired]] + [api.pos_key, api.admin_key],
    }


async def test_a_programs_keys_page_newest_first_and_narrow_by_status(api: Api) -> None:
    made = await keys_of_every_status(api)
    path = f"/v1/programs/{api.program_id}/api-keys"

    every = await every_page(api, path, api.admin_key)
    by_status = {
        status: [item["id"] for item in await every_page(api, path, api.admin_key, status=status)]
        for status in ("live", "revoked", "expired")
    }

    assert newest_first(every)
    assert len(every) == len({item["id"] for item in every}) == 5  # the fixture's till too
    assert {item["program_id"] for item in every} == {api.program_id}  # no operator key
    till = every[-1]["id"]  # the fixture's, the oldest
    assert by_status["live"] == [*reversed(made["live"]), till]
    assert by_status["revoked"] == made["revoked"]
    assert by_status["expired"] == made["expired"]
    assert sorted(id_ for ids in by_status.values() for id_ in ids) == sorted(
        item["id"] for item in every
    )
    revoked = next(item for item in every if item["id"] == made["revoked"][0])
    assert revoked["revoked_at"] is not None


async def test_no_key_list_shows_a_secret_or_its_hash(api: Api) -> None:
    made = await keys_of_every_status(api)
    path = f"/v1/programs/{api.program_id}/api-keys"

    bodies = [
        (await api.get(path, key=api.admin_key, **params)).text
        for params in ({}, {"status": "live"}, {"status": "revoked"}, {"status": "expired"})
    ]

    for secret in made["secrets"]:
        digest = hashlib.sha256(secret.encode()).digest()
        shown = (secret, digest.hex(), base64.b64encode(digest).decode())
        assert not any(text in body for body in bodies for text in shown)
    assert not any("secret" in body or "sha256" in body for body in bodies)


async def test_another_programs_keys_are_not_found(api: Api) -> None:
    other_program, _, _ = await make_program(api.runtime, "Other")
    theirs = await admin_key(api, UUID(other_program))

    ours = await api.get(f"/v1/programs/{api.program_id}/api-keys", key=theirs)
    absent = await api.get(f"/v1/programs/{UUID(int=7)}/api-keys", key=api.admin_key)
    own = await api.get(f"/v1/programs/{other_program}/api-keys", key=theirs)

    assert (ours.status_code, ours.json()["code"]) == (404, "not_found")
    assert (absent.status_code, absent.json()["code"]) == (404, "not_found")
    assert own.status_code == 200, own.text
    assert [item["program_id"] for item in own.json()["items"]] == [other_program] * 2


async def test_a_bad_cursor_or_status_for_keys_is_refused(api: Api) -> None:
    path = f"/v1/programs/{api.program_id}/api-keys"
    assert_bad_cursor(await api.get(path, key=api.admin_key, cursor="nonsense"))
    status = await api.get(path, key=api.admin_key, status="lost")
    assert (status.status_code, status.json()["field"]) == (400, "status")


# --- partner connections and their inbox ------------------------------------------------------


async def connect(api: Api, program_id: UUID | None = None) -> list[Connection]:
    channels, program = api.runtime.channels, program_id or api.program_id_uuid
    shop = "admin-lists.myshopify.com" if program_id is None else f"{program_id}.myshopify.com"
    return [
        await channels.connect(program, "shopify", shop, {"client_secret": shopify_secret}),
        await channels.connect(program, "woocommerce", f"https://{shop}", woo_secrets),
    ]


async def test_a_programs_connections_page_without_secrets(api: Api) -> None:
    connections = await connect(api)
    await connect(api, UUID((await make_program(api.runtime, "Other"))[0]))
    path = f"/v1/programs/{api.program_id}/connections"

    listed = await every_page(api, path, api.admin_key)
    raw = (await api.get(path, key=api.admin_key)).text

    assert [item["id"] for item in listed] == [str(c.id) for c in reversed(connections)]
    assert [item["partner"] for item in listed] == ["woocommerce", "shopify"]
    assert all(item["key_id"] and item["active"] for item in listed)
    for secret in [shopify_secret, *woo_secrets.values()]:
        assert secret not in raw
    assert "secrets" not in raw
    assert "settings" not in raw


async def test_another_programs_connections_and_inbox_are_not_found(api: Api) -> None:
    connection = (await connect(api))[0]
    await api.runtime.channels.receive(connection, "evt-1", "orders/paid", {"id": 1})
    other_program, _, _ = await make_program(api.runtime, "Other")
    theirs = await admin_key(api, UUID(other_program))

    answers = [
        await api.get(f"/v1/programs/{api.program_id}/connections", key=theirs),
        await api.get(f"/v1/connections/{connection.id}/events", key=theirs),
        await api.get(f"/v1/connections/{UUID(int=9)}/events", key=api.admin_key),
    ]
    own = await api.get(f"/v1/programs/{other_program}/connections", key=theirs)

    for answer in answers:
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), answer.text
    assert own.json() == {"items": [], "next_cursor": None}


async def inbox_of_every_status(api: Api, connection: Connection) -> dict[str, list[int]]:
    """Seven events, received one after another: three pending, two done, two dead."""
    for n in range(7):
        payload = {"id": n, "note": "x" * (3000 if n == 0 else 10)}
        assert await api.runtime.channels.receive(connection, f"evt-{n}", "orders/paid", payload)
    async with api.runtime.pool.acquire() as db:
        ids = [row["id"] for row in await db.fetch("select id from channel_inbox order by id")]
        await db.execute(
            "update channel_inbox set status = 'done', attempts = 1,"
            " processed_at = clock_timestamp() where id = any($1)",
            ids[1:3],
        )
        await db.execute(
            "update channel_inbox set status = 'dead', attempts = 10,"
            " processed_at = clock_timestamp(), last_error = 'PartnerRejected: no such order'"
            " where id = any($1)",
            ids[3:5],
        )
    return {"pending": [ids[0], *ids[5:]], "done": ids[1:3], "dead": ids[3:5], "all": ids}


async def test_a_connections_inbox_pages_newest_first_and_narrows_by_status(api: Api) -> None:
    connection = (await connect(api))[0]
    made = await inbox_of_every_status(api, connection)
    path = f"/v1/connections/{connection.id}/events"

    every = await every_page(api, path, api.admin_key)
    by_status = {
        status: [item["id"] for item in await every_page(api, path, api.admin_key, status=status)]
        for status in ("pending", "done", "dead")
    }

    assert [item["id"] for item in every] == list(reversed(made["all"]))
    assert newest_first(every, at="received_at")
    for status in ("pending", "done", "dead"):
        assert by_status[status] == sorted(made[status], reverse=True)
    dead = next(item for item in every if item["id"] == made["dead"][0])
    assert (dead["status"], dead["attempts"]) == ("dead", 10)
    assert dead["last_error"] == "PartnerRejected: no such order"
    assert (dead["topic"], dead["event_key"]) == ("orders/paid", "evt-3")
    assert dead["payload_excerpt"] == '{"id": 3, "note": "xxxxxxxxxx"}'
    assert not dead["payload_truncated"]
    big = every[-1]
    assert (len(big["payload_excerpt"]), big["payload_truncated"]) == (2000, True)
    assert_bad_cursor(await api.get(path, key=api.admin_key, cursor="nonsense"))


# --- retry of a dead inbox event --------------------------------------------------------------


def retry_path(connection: Connection, event_id: int) -> str:
    return f"/v1/connections/{connection.id}/events/{event_id}/retry"


async def inbox_row(api: Api, event_id: int) -> dict[str, Any]:
    async with api.runtime.pool.acquire() as db:
        row = await db.fetchrow(
            "select status, attempts, processed_at, next_attempt_at, last_error"
            " from channel_inbox where id = $1",
            event_id,
        )
    assert row is not None
    return dict(row)


async def test_a_dead_event_is_retried_once_and_its_replay_answers_the_same(api: Api) -> None:
    connection = (await connect(api))[0]
    dead = (await inbox_of_every_status(api, connection))["dead"][0]
    headers = api.headers(api.admin_key, "retry-once")

    first = await api.client.post(retry_path(connection, dead), headers=headers)
    after = await inbox_row(api, dead)
    replay = await api.client.post(retry_path(connection, dead), headers=headers)
    again = await api.post(retry_path(connection, dead), key=api.admin_key)

    assert first.status_code == 200, first.text
    retried = first.json()
    assert (retried["id"], retried["status"], retried["attempts"]) == (dead, "pending", 0)
    assert retried["processed_at"] is None
    assert (after["status"], after["attempts"], after["processed_at"]) == ("pending", 0, None)
    assert after["next_attempt_at"] == datetime.fromisoformat(retried["next_attempt_at"])
    assert after["last_error"] == "PartnerRejected: no such order"  # kept for comparison
    assert (replay.status_code, replay.content) == (200, first.content)
    assert replay.headers["idempotent-replayed"] == "true"
    assert (again.status_code, again.json()["code"]) == (409, "inbox_event_not_dead")
    assert await inbox_row(api, dead) == after


async def test_retries_at_once_put_a_dead_event_back_once(api: Api) -> None:
    connection = (await connect(api))[0]
    dead = (await inbox_of_every_status(api, connection))["dead"][0]

    answers = await asyncio.gather(
        *(api.post(retry_path(connection, dead), key=api.admin_key) for _ in range(4))
    )

    assert sorted(answer.status_code for answer in answers) == [200, 409, 409, 409]
    assert (await inbox_row(api, dead))["status"] == "pending"


@pytest.mark.parametrize("status", ["pending", "done"])
async def test_an_event_that_is_not_dead_is_not_retried(api: Api, status: str) -> None:
    connection = (await connect(api))[0]
    event = (await inbox_of_every_status(api, connection))[status][0]
    before = await inbox_row(api, event)

    refused = await api.post(retry_path(connection, event), key=api.admin_key)

    assert (refused.status_code, refused.json()["code"]) == (409, "inbox_event_not_dead")
    assert await inbox_row(api, event) == before


async def test_a_retry_of_another_programs_or_connections_event_is_not_found(api: Api) -> None:
    shopify, woocommerce = await connect(api)
    dead = (await inbox_of_every_status(api, shopify))["dead"][0]
    other_program, _, _ = await make_program(api.runtime, "Other")
    theirs = await admin_key(api, UUID(other_program))

    answers = [
        await api.post(retry_path(shopify, dead), key=theirs),
        await api.post(retry_path(woocommerce, dead), key=api.admin_key),
        await api.post(retry_path(shopify, 2**53 - 1), key=api.admin_key),
    ]

    for answer in answers:
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), answer.text
    assert (await inbox_row(api, dead))["status"] == "dead"
