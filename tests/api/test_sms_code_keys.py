"""SMS codes are kept as an HMAC under a server-side key (derived from the secrets key and
named by its id), not as a bare SHA-256 a leaked row gives up by trying a million codes; a
check sent before keyed codes still confirms until it expires, and one sent under a key that
rotation has moved from first place confirms while that key is in the ring."""

import hashlib
import hmac
from typing import Any
from uuid import UUID

import msgspec

from processing.adapters.sealing import Keyring, parse_keys
from tests.conftest import Api, secrets_keys
from tests.integration.test_secrets_at_rest import new_key

code = "918273"


async def send_fixed_code(api: Api, phone: str = "+79120000001") -> str:
    api.runtime.sms.codes = lambda: code
    customer = await api.customer(phone)
    sent = await api.post("/pos/v1/sms-codes", {"customer_id": customer})
    assert sent.status_code == 201, sent.text
    check_id: str = sent.json()["check_id"]
    return check_id


async def confirm(api: Api, check_id: str, text: str = code) -> Any:
    return await api.post(f"/pos/v1/sms-codes/{check_id}/confirm", {"code": text})


async def stored_check(api: Api, check_id: str) -> Any:
    async with api.runtime.pool.acquire() as db:
        return await db.fetchrow(
            "select code_hmac, code_key_id, code_sha256 from sms_checks where id = $1",
            UUID(check_id),
        )


async def test_a_code_is_kept_as_a_keyed_hmac(api: Api) -> None:
    check_id = await send_fixed_code(api)
    row = await stored_check(api, check_id)
    signed = UUID(check_id).bytes + code.encode()
    assert row["code_sha256"] is None
    assert row["code_key_id"] == "test-1"
    assert bytes(row["code_hmac"]) != hashlib.sha256(signed).digest()  # no bare hash to reverse
    key = Keyring(parse_keys(secrets_keys)).sms_key("test-1")
    assert key is not None
    assert bytes(row["code_hmac"]) == hmac.new(key, signed, hashlib.sha256).digest()
    assert (await confirm(api, check_id, "000000")).json()["code"] == "sms_code_invalid"
    assert (await confirm(api, check_id)).status_code == 200


async def test_a_check_sent_before_keyed_codes_confirms_until_it_expires(api: Api) -> None:
    check_id = await send_fixed_code(api)
    legacy = hashlib.sha256(UUID(check_id).bytes + code.encode()).digest()
    async with api.runtime.pool.acquire() as db:
        await db.execute(
            "update sms_checks set code_hmac = null, code_key_id = null, code_sha256 = $2"
            " where id = $1",
            UUID(check_id),
            legacy,
        )
    assert (await confirm(api, check_id, "000000")).json()["code"] == "sms_code_invalid"
    assert (await confirm(api, check_id)).status_code == 200


async def test_a_check_confirms_under_its_own_key_after_rotation(api: Api) -> None:
    check_id = await send_fixed_code(api)
    rotated = Keyring(parse_keys(f"{new_key},{secrets_keys}"))
    api.runtime.sms.keys = rotated
    assert (await confirm(api, check_id)).status_code == 200
    fresh = await send_fixed_code(api, "+79120000002")
    assert (await stored_check(api, fresh))["code_key_id"] == "k2"
    api.runtime.sms.keys = Keyring(parse_keys(secrets_keys))  # k2 gone: it no longer matches
    assert (await confirm(api, fresh)).json()["code"] == "sms_code_invalid"
    assert msgspec.json.decode((await confirm(api, check_id)).content)["code"] == (
        "sms_code_expired"  # the first one is spent
    )
