"""Trigger messages configured through the API: a program's triggers are listed off until set,
a template that does not render with sample values is refused with 400 naming its field and
nothing is stored, each replacement numbers a new version, a preview renders with a customer's
values or sample ones, the settings refuse a time zone that is none, and a till's key can do
none of it."""

from typing import Any

from tests.conftest import Api

sms = {"channel": "sms", "body": "{{ name }}, +{{ points }} баллов. Баланс {{ balance }}."}
email = {"channel": "email", "subject": "Баллы для {{ name }}", "body": "Сгорят {{ expiry_date }}."}


async def put(api: Api, path: str, body: Any, key: str | None = None) -> Any:
    return await api.client.put(path, json=body, headers=api.headers(key or api.admin_key))


async def test_triggers_are_off_until_set_and_each_replacement_is_a_version(api: Api) -> None:
    base = f"/v1/programs/{api.program_id}/triggers"
    listed = (await api.get(base, key=api.admin_key)).json()
    assert {item["trigger"]: (item["enabled"], item["kind"]) for item in listed} == {
        "points_accrued": (False, "marketing"),
        "points_redeemed": (False, "transactional"),
        "tier_changed": (False, "marketing"),
        "points_expiring": (False, "marketing"),
        "birthday": (False, "marketing"),
        "welcome": (False, "marketing"),
        # Every other outbox event: the customer's own account moving, told as such.
        "purchase_recorded": (False, "transactional"),
        "points_refunded": (False, "transactional"),
        "points_expired": (False, "transactional"),
        "points_adjusted": (False, "transactional"),
        "hold_reserved": (False, "transactional"),
        "hold_cancelled": (False, "transactional"),
        "hold_expired": (False, "transactional"),
        "balance_changed": (False, "transactional"),
        "customer_merged": (False, "transactional"),
    }

    first = await put(api, f"{base}/points_accrued", {"enabled": True, "templates": [sms]})
    second = await put(
        api, f"{base}/points_accrued", {"enabled": True, "kind": "transactional",
                                        "templates": [sms, email]}
    )  # fmt: skip

    assert first.status_code == 200, first.text
    assert (first.json()["version"], first.json()["kind"]) == (1, "marketing")
    assert (second.json()["version"], second.json()["kind"]) == (2, "transactional")
    listed = (await api.get(base, key=api.admin_key)).json()
    accrued = next(item for item in listed if item["trigger"] == "points_accrued")
    assert [template["channel"] for template in accrued["templates"]] == ["sms", "email"]


async def test_a_template_that_does_not_render_is_refused_naming_its_field(api: Api) -> None:
    base = f"/v1/programs/{api.program_id}/triggers/points_accrued"
    bad = {"channel": "email", "subject": "Привет", "body": "{{ balanse }}"}
    refused = await put(api, base, {"enabled": True, "templates": [sms, bad]})
    unknown = await put(api, f"/v1/programs/{api.program_id}/triggers/anniversary", {
        "enabled": True, "templates": [sms]})  # fmt: skip
    twice = await put(api, base, {"enabled": True, "templates": [sms, sms]})

    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == (
        "validation_error",
        "templates[1].body",
    )
    assert "balanse" in refused.json()["detail"]
    assert unknown.status_code == 400
    assert (twice.status_code, twice.json()["field"]) == (400, "templates[1].channel")
    listed = (await api.get(f"/v1/programs/{api.program_id}/triggers", key=api.admin_key)).json()
    assert all(item["version"] == 0 for item in listed)


async def test_a_preview_renders_with_a_customer_or_sample_values(api: Api) -> None:
    base = f"/v1/programs/{api.program_id}/triggers/points_accrued"
    assert (await put(api, base, {"enabled": True, "templates": [sms, email]})).status_code == 200
    created = await api.post("/v1/customers", {"phone": "+79160000042", "name": "Олег"})
    customer = created.json()["id"]
    await api.accrue(customer, 250, expires_at="2027-03-01T12:00:00+00:00")

    sample = await api.post(f"{base}/preview", {"channel": "sms"}, key=api.admin_key,
                            idempotency_key=None)  # fmt: skip
    own = await api.post(f"{base}/preview", {"channel": "email", "customer_id": customer},
                         key=api.admin_key, idempotency_key=None)  # fmt: skip
    stranger = await api.post(
        f"{base}/preview",
        {"channel": "sms", "customer_id": "00000000-0000-0000-0000-000000000001"},
        key=api.admin_key,
        idempotency_key=None,
    )

    assert sample.status_code == 200, sample.text
    assert sample.json()["body"] == "Анна, +600 баллов. Баланс 1250."
    assert own.json() == {
        "channel": "email",
        "locale": "ru",
        "subject": "Баллы для Олег",
        "body": "Сгорят 01.03.2027.",
    }
    assert (stranger.status_code, stranger.json()["field"]) == (404, "customer_id")


async def test_settings_refuse_a_zone_that_is_none_and_a_till_configures_nothing(api: Api) -> None:
    base = f"/v1/programs/{api.program_id}/message-settings"
    defaults = (await api.get(base, key=api.admin_key)).json()
    bad = await put(api, base, {"time_zone": "Mars/Olympus"})
    good = await put(api, base, {"time_zone": "Asia/Yekaterinburg", "daily_cap": 1})
    till = await put(api, base, {"time_zone": "UTC"}, key=api.pos_key)
    till_trigger = await put(api, f"/v1/programs/{api.program_id}/triggers/points_accrued",
                             {"enabled": True, "templates": [sms]}, key=api.pos_key)  # fmt: skip

    assert (defaults["time_zone"], defaults["quiet_start_minute"], defaults["daily_cap"]) == (
        "Europe/Moscow",
        1260,
        3,
    )
    assert (bad.status_code, bad.json()["field"]) == (400, "time_zone")
    assert good.status_code == 200
    assert good.json()["daily_cap"] == 1
    assert (await api.get(base, key=api.admin_key)).json()["time_zone"] == "Asia/Yekaterinburg"
    assert till.status_code == till_trigger.status_code == 403
