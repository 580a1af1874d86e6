"""Start-up chores: the BONUS_ADMIN_KEY operator key exists after every start, and rotating the
variable to a new secret retires the old key."""

from processing.bootstrap import ensure_operator_key
from tests.conftest import Api


async def test_the_operator_key_follows_bonus_admin_key(api: Api) -> None:
    await ensure_operator_key(api.runtime, "first-operator-secret-000000000000")
    await ensure_operator_key(api.runtime, "first-operator-secret-000000000000")
    programs = await api.post(
        "/v1/programs", {"name": "A", "currency": "RUB"}, key="first-operator-secret-000000000000"
    )
    assert programs.status_code == 201, programs.text

    await ensure_operator_key(api.runtime, "second-operator-secret-00000000000")
    old = await api.post(
        "/v1/programs", {"name": "B", "currency": "RUB"}, key="first-operator-secret-000000000000"
    )
    new = await api.post(
        "/v1/programs", {"name": "C", "currency": "RUB"}, key="second-operator-secret-00000000000"
    )
    assert (old.status_code, old.json()["code"]) == (401, "unauthorized")
    assert new.status_code == 201, new.text
