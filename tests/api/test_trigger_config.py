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
        "donation_made": (False, "transactional"),
        "membership_started": (False, "transactional"),
        "membership_renewed": (False, "transactional"),
        "membership_lapsing": (False, "transactional"),
        "membership_lapsed": (False, "transactional"),
        "membership_cancelled": (False, "transactional"),
        "promoter_rewarded": (False, "transactional"),
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


async def test_a_preview_without_a_locale_is_in_the_customers_else_russian(api: Api) -> None:
    base = f"/v1/programs/{api.program_id}/triggers/points_accrued"
    sms_en = {"channel": "sms", "locale": "en", "body": "{{ name }}, +{{ points }} points."}
    email_en = email | {"locale": "en", "subject": "Points for {{ name }}"}
    stored = await put(api, base, {"enabled": True, "templates": [sms, sms_en, email_en]})
    assert stored.status_code == 200, stored.text
    english = await api.post("/v1/customers", {"phone": "+79160000043", "name": "Emma",
                                               "locale": "en"})  # fmt: skip
    german = await api.post("/v1/customers", {"phone": "+79160000044", "name": "Hans",
                                              "locale": "de"})  # fmt: skip

    async def preview(body: dict[str, Any]) -> Any:
        return await api.post(f"{base}/preview", body, key=api.admin_key, idempotency_key=None)

    theirs = await preview({"channel": "sms", "customer_id": english.json()["id"]})
    asked = await preview({"channel": "sms", "customer_id": english.json()["id"], "locale": "ru"})
    fallback = await preview({"channel": "sms", "customer_id": german.json()["id"]})
    sample = await preview({"channel": "sms"})
    only_english = await preview({"channel": "email"})
    missing = await preview({"channel": "email", "locale": "ru"})

    assert (theirs.json()["locale"], theirs.json()["body"]) == ("en", "Emma, +600 points.")
    assert (asked.json()["locale"], asked.json()["body"]) == (
        "ru",
        "Emma, +600 баллов. Баланс 0.",
    )
    assert (fallback.json()["locale"], fallback.json()["body"]) == (
        "ru",
        "Hans, +600 баллов. Баланс 0.",
    )
    assert (sample.json()["locale"], sample.json()["body"]) == (
        "ru",
        "Анна, +600 баллов. Баланс 1250.",
    )
    # No Russian e-mail: the relay would send the channel's first, and so the preview shows it;
    # a locale asked for by name is that one or none.
    assert (only_english.status_code, only_english.json()["locale"]) == (200, "en")
    assert (missing.status_code, missing.json()["field"]) == (404, "channel")
