"""The admin writes decided on a snapshot (a program, a key minted, rotated or revoked, a
program's rules) answer with exactly what they wrote, and keep their invariants when another
write lands between their load and their write: two rule replacements get two versions, a key
minted under a key being revoked is revoked with it, a key whose minter was revoked meanwhile
is not minted, and a key revoked meanwhile is not rotated."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from processing.adapters.postgres.store import PostgresStore
from tests.api.test_key_hierarchy import mint, minted, works
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules
from tests.conftest import Api

Meanwhile = Callable[[], Awaitable[None]]


def between_load_and_write(
    monkeypatch: pytest.MonkeyPatch, load: str, meanwhile: Meanwhile
) -> None:
    """Runs ``meanwhile`` after the first call of the store's ``load``, before its caller
    decides and writes: as if another request had landed in between."""
    loaded = getattr(PostgresStore, load)
    calls = 0

    async def patched(self: PostgresStore, *args: Any) -> Any:
        nonlocal calls
        facts = await loaded(self, *args)
        calls += 1
        if calls == 1:
            await meanwhile()
        return facts

    monkeypatch.setattr(PostgresStore, load, patched)


async def read_rules(api: Api) -> Any:
    return await api.get(f"/v1/programs/{api.program_id}/rules", key=api.admin_key)


async def test_a_program_and_its_rules_answer_as_a_later_read_shows_them(api: Api) -> None:
    created = await api.post(
        "/v1/programs", {"name": "Coffee", "currency": "RUB"}, key=api.admin_key
    )
    assert created.status_code == 201, created.text
    read = await api.get(f"/v1/programs/{created.json()['id']}", key=api.admin_key)
    assert read.content == created.content
    # Postgres orders an object's keys its own way (shorter first): the answer shows that order.
    rules = auto_service | {"earning": {"base_bp": 300, "category_bp": {"oil": 500, "a": 100}}}
    replaced = await put_rules(api, rules)
    assert replaced.status_code == 200, replaced.text
    assert (await read_rules(api)).content == replaced.content


async def test_two_replacements_decided_on_one_version_get_two_versions(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await put_rules(api, auto_service)
    assert first.status_code == 200, first.text
    version = first.json()["version"]
    both_loaded = asyncio.Barrier(2)
    loaded = PostgresStore.rules_facts
    calls = 0

    async def together(self: PostgresStore, *args: Any) -> Any:
        nonlocal calls
        facts = await loaded(self, *args)
        calls += 1
        if calls <= 2:  # both decide on the same newest version
            await both_loaded.wait()
        return facts

    monkeypatch.setattr(PostgresStore, "rules_facts", together)

    answers = await asyncio.gather(
        put_rules(api, auto_service | {"tier_window_days": 30}),
        put_rules(api, auto_service | {"tier_window_days": 60}),
    )

    assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
    assert calls == 3  # the loser loaded once more
    versions = sorted(answer.json()["version"] for answer in answers)
    assert versions == [version + 1, version + 2]
    newest = next(answer for answer in answers if answer.json()["version"] == version + 2)
    assert (await read_rules(api)).content == newest.content
    stored = await api.runtime.pool.fetchval(
        "select count(*) from program_rules where program_id = $1", api.program_id_uuid
    )
    assert stored == version + 2


async def test_a_key_minted_while_its_minter_is_revoked_is_revoked_with_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await minted(api, api.admin_key, ["admin"])
    till = await minted(api, admin["key"], ["pos"])
    late: dict[str, Any] = {}

    async def mint_late() -> None:
        late.update(await minted(api, admin["key"], ["crm"]))

    between_load_and_write(monkeypatch, "key_tree", mint_late)
    assert await works(api, till["key"]) == 403  # authenticated, and cached

    revoked = await api.client.delete(
        f"/v1/api-keys/{admin['id']}", headers=api.headers(api.admin_key)
    )

    assert revoked.status_code == 200, revoked.text
    for key in (admin["key"], till["key"], late["key"]):
        assert await works(api, key) == 401
    rows = await api.runtime.pool.fetch(
        "select id::text, revoked_at from api_keys where id = any($1::uuid[])",
        [admin["id"], till["id"], late["id"]],
    )
    assert len(rows) == 3
    assert {row["revoked_at"] for row in rows} == {
        datetime.fromisoformat(revoked.json()["revoked_at"])
    }


async def test_a_key_is_not_minted_under_a_minter_revoked_meanwhile(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await minted(api, api.admin_key, ["admin"])

    async def revoke_minter() -> None:
        revoked = await api.client.delete(
            f"/v1/api-keys/{admin['id']}", headers=api.headers(api.admin_key)
        )
        assert revoked.status_code == 200, revoked.text

    between_load_and_write(monkeypatch, "mint_facts", revoke_minter)

    refused = await mint(api, admin["key"], ["pos"])

    assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized"), refused.text
    under = await api.runtime.pool.fetchval(
        "select count(*) from api_keys where created_by = $1", admin["id"]
    )
    assert under == 0


async def test_a_rotation_answers_with_the_key_as_stored_and_its_new_secret(api: Api) -> None:
    admin = await minted(api, api.admin_key, ["admin"])

    rotated = await api.post(f"/v1/api-keys/{admin['id']}/rotate", {}, key=api.admin_key)

    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert {**new, "key": None} == {**admin, "key": None}
    assert await works(api, new["key"]) == 200


async def test_a_key_revoked_while_it_is_rotated_is_not_rotated(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await minted(api, api.admin_key, ["admin"])

    async def revoke() -> None:
        revoked = await api.client.delete(
            f"/v1/api-keys/{admin['id']}", headers=api.headers(api.admin_key)
        )
        assert revoked.status_code == 200, revoked.text

    between_load_and_write(monkeypatch, "live_api_key", revoke)

    rotated = await api.post(f"/v1/api-keys/{admin['id']}/rotate", {}, key=api.admin_key)

    assert (rotated.status_code, rotated.json()["code"]) == (404, "not_found"), rotated.text
    previous = await api.runtime.pool.fetchval(
        "select previous_secret_sha256 from api_keys where id = $1", admin["id"]
    )
    assert previous is None
