"""The key hierarchy: a program's admin key mints its program's channel keys but no admin key
(only the operator does), every key records who minted it, revoking a key revokes what it
minted all the way down, and a key may expire (bounded ahead, never after its minter)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Api


async def mint(api: Api, by: str, scopes: list[str], **fields: Any) -> Any:
    body = {"program_id": api.program_id, "name": "minted", "scopes": scopes, **fields}
    return await api.post("/v1/api-keys", body, key=by)


async def minted(api: Api, by: str, scopes: list[str], **fields: Any) -> dict[str, Any]:
    response = await mint(api, by, scopes, **fields)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def works(api: Api, key: str) -> int:
    status: int = (await api.get(f"/v1/programs/{api.program_id}", key=key)).status_code
    return status


async def test_a_program_admin_mints_channel_keys_but_no_admin_key(api: Api) -> None:
    admin = await minted(api, api.admin_key, ["admin"])
    assert admin["created_by"] is not None  # the operator's key

    till = await minted(api, admin["key"], ["pos"], store_id="s-1")
    crm = await minted(api, admin["key"], ["crm", "shop"])
    assert till["created_by"] == crm["created_by"] == admin["id"]

    for scopes in (["admin"], ["pos", "admin"]):
        refused = await mint(api, admin["key"], scopes)
        assert refused.status_code == 403, refused.text
        assert (refused.json()["code"], refused.json()["field"]) == ("forbidden_scope", "scopes")
    listed = await api.runtime.pool.fetchval(
        "select count(*) from api_keys where created_by = $1", admin["id"]
    )
    assert listed == 2


async def test_revoking_a_key_revokes_every_key_it_minted_and_nothing_else(api: Api) -> None:
    admin = await minted(api, api.admin_key, ["admin"])
    crm = await minted(api, admin["key"], ["crm"])
    till = await minted(api, admin["key"], ["pos"])
    for key in (admin["key"], crm["key"], till["key"]):
        assert await works(api, key) in (200, 403)  # authenticated (crm/pos lack admin scope)

    revoked = await api.client.delete(
        f"/v1/api-keys/{admin['id']}", headers=api.headers(api.admin_key)
    )

    assert revoked.status_code == 200, revoked.text
    for key in (admin["key"], crm["key"], till["key"]):
        assert await works(api, key) == 401
    assert await works(api, api.admin_key) == 200
    customer = await api.customer()  # the fixture's own till key is untouched
    assert (await api.balance(customer))["available"] == 0
    rows = await api.runtime.pool.fetch(
        "select id from api_keys where revoked_at is not null order by id"
    )
    assert sorted(str(row["id"]) for row in rows) == sorted([admin["id"], crm["id"], till["id"]])


async def test_a_key_expires_within_its_bounds_and_never_after_its_minter(api: Api) -> None:
    now = datetime.now(UTC)
    too_far = await mint(
        api, api.admin_key, ["pos"], expires_at=(now + timedelta(days=733)).isoformat()
    )
    past = await mint(
        api, api.admin_key, ["pos"], expires_at=(now - timedelta(minutes=1)).isoformat()
    )
    for refused in (too_far, past):
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "expires_at"

    ends = now + timedelta(days=30)
    admin = await minted(api, api.admin_key, ["admin"], expires_at=ends.isoformat())
    inherited = await minted(api, admin["key"], ["pos"])
    assert datetime.fromisoformat(inherited["expires_at"]) == datetime.fromisoformat(
        admin["expires_at"]
    )
    longer = await mint(
        api, admin["key"], ["pos"], expires_at=(ends + timedelta(days=1)).isoformat()
    )
    assert (longer.status_code, longer.json()["field"]) == (400, "expires_at")

    await api.runtime.pool.execute(
        "update api_keys set expires_at = now() - interval '1 second' where id = $1",
        admin["id"],
    )
    api.runtime.admin.forget_keys()
    assert await works(api, admin["key"]) == 401


async def test_rotation_gives_a_new_secret_and_the_old_one_works_for_its_grace_only(
    api: Api,
) -> None:
    admin = await minted(api, api.admin_key, ["admin"])
    till = await minted(api, admin["key"], ["pos"])

    rotated = await api.post(
        f"/v1/api-keys/{admin['id']}/rotate", {"grace_seconds": 600}, key=api.admin_key
    )

    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert (new["id"], new["key"] != admin["key"]) == (admin["id"], True)
    assert await works(api, new["key"]) == 200
    assert await works(api, admin["key"]) == 200  # the grace period
    assert await works(api, till["key"]) == 403  # what it minted stays, with its own scopes
    await api.runtime.pool.execute(
        "update api_keys set previous_valid_until = now() - interval '1 second' where id = $1",
        admin["id"],
    )
    api.runtime.admin.forget_keys()
    assert await works(api, admin["key"]) == 401
    assert await works(api, new["key"]) == 200

    at_once = await api.post(
        f"/v1/api-keys/{till['id']}/rotate", {"grace_seconds": 0}, key=new["key"]
    )
    assert at_once.status_code == 201, at_once.text
    assert await works(api, till["key"]) == 401
    too_long = await api.post(
        f"/v1/api-keys/{till['id']}/rotate", {"grace_seconds": 86_401}, key=new["key"]
    )
    assert (too_long.status_code, too_long.json()["field"]) == (400, "grace_seconds")
    unknown = await api.post(f"/v1/api-keys/{api.program_id}/rotate", key=api.admin_key)
    assert unknown.status_code == 404, unknown.text
