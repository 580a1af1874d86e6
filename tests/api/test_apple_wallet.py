"""Apple Wallet passes through the API (decision 0029): a program's settings with a pass type
certificate made in the test, a card's pass that unzips with every manifest hash right, a
detached signature that verifies against the test chain with its signing time, a pass.json a
strict parser reads, barcodes the till's identify takes; every bad setting or image refused by
name with nothing written, and the credentials never answered nor kept in clear."""

import base64
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.api.test_auth_and_tenancy import assert_problem, make_key
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules
from tests.conftest import Api
from tests.fakes.wallet import (
    Chain,
    make_chain,
    open_package,
    pass_type,
    png,
    team,
    verify_signature,
)

card_number = "2000-0001"
settings_body: dict[str, Any] = {
    "pass_type_identifier": pass_type,
    "team_identifier": team,
    "organization_name": "Example Shop",
    "description": "Example Shop loyalty card",
    "background_color": "rgb(20, 60, 120)",
    "foreground_color": "rgb(255, 255, 255)",
    "label_color": "rgb(200, 220, 255)",
    "terms": "Points expire after a year.",
}


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain()


def wallet_path(api: Api) -> str:
    return f"/v1/programs/{api.program_id}/apple-wallet"


async def put_settings(api: Api, body: dict[str, Any]) -> Any:
    return await api.client.put(wallet_path(api), json=body, headers=api.headers(api.admin_key))


async def put_image(api: Api, kind: str, data: bytes) -> Any:
    return await api.client.put(
        f"{wallet_path(api)}/images/{kind}",
        json={"png": base64.b64encode(data).decode()},
        headers=api.headers(api.admin_key),
    )


async def set_up(api: Api, chain: Chain) -> None:
    response = await put_settings(api, settings_body | chain.credentials)
    assert response.status_code == 200, response.text
    assert (await put_image(api, "icon", png(58, 58))).status_code == 200
    assert (await put_image(api, "logo", png(320, 100))).status_code == 200


async def card_holder(api: Api, points: int = 1500) -> str:
    assert (await put_rules(api, auto_service | {"activation_delay_days": 0})).status_code == 200
    customer = await api.customer(points=points)
    card = await api.post(f"/v1/customers/{customer}/cards", {"number": card_number})
    assert card.status_code == 201, card.text
    return customer


async def crm_key(api: Api) -> str:
    created = await make_key(api, api.program_id, ["crm"])
    return str(created["key"])


async def fetch_pass(api: Api, key: str, number: str = card_number) -> Any:
    return await api.client.get(
        f"/v1/cards/{number}/apple-wallet-pass", headers=api.headers(key, None)
    )


async def test_a_cards_pass_is_signed_hashed_and_read_by_a_strict_parser(
    api: Api, chain: Chain, tmp_path: Path
) -> None:
    await set_up(api, chain)
    customer = await card_holder(api)
    response = await fetch_pass(api, await crm_key(api))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apple.pkpass"
    assert response.headers["last-modified"].endswith(" GMT")

    opened = open_package(response.content)
    assert opened.files["icon.png"] == png(58, 58)
    assert opened.files["logo.png"] == png(320, 100)
    printed = verify_signature(opened, chain, tmp_path)
    assert "signingTime" in printed
    assert "messageDigest" in printed
    assert "sha256" in printed.lower()

    document = opened.document
    assert document["passTypeIdentifier"] == pass_type
    assert document["teamIdentifier"] == team
    assert document["backgroundColor"] == "rgb(20, 60, 120)"
    assert document["webServiceURL"].endswith("/passkit")
    assert opened.fields["balance"] == 1500
    assert opened.fields["card"] == card_number
    assert opened.fields["status"] == "active"
    assert opened.fields["terms"] == "Points expire after a year."
    assert "Earned  1500" in opened.fields["operations"]
    assert [code["format"] for code in document["barcodes"]] == [
        "PKBarcodeFormatQR",
        "PKBarcodeFormatPDF417",
    ]
    # What a till scans from either barcode identifies the customer.
    for kind in ("qr", "card"):
        message = document["barcodes"][0 if kind == "qr" else 1]["message"]
        identified = await api.post(
            "/pos/v1/identify", {"identifier": {"type": kind, "value": message}}
        )
        assert identified.status_code == 200, identified.text
        assert identified.json()["customer_id"] == customer


async def test_the_same_card_gets_the_same_pass_and_token(api: Api, chain: Chain) -> None:
    await set_up(api, chain)
    await card_holder(api)
    key = await crm_key(api)
    first = open_package((await fetch_pass(api, key)).content).document
    again = open_package((await fetch_pass(api, key)).content).document
    assert first["serialNumber"] == again["serialNumber"]
    assert first["authenticationToken"] == again["authenticationToken"]
    assert len(first["authenticationToken"]) >= 16


async def test_an_elliptic_curve_pass_certificate_signs_too(api: Api, tmp_path: Path) -> None:
    elliptic = make_chain(elliptic=True)
    await set_up(api, elliptic)
    await card_holder(api)
    response = await fetch_pass(api, await crm_key(api))
    assert response.status_code == 200, response.text
    verify_signature(open_package(response.content), elliptic, tmp_path)


async def test_the_credentials_are_never_answered_and_kept_sealed(api: Api, chain: Chain) -> None:
    response = await put_settings(api, settings_body | chain.credentials)
    assert response.status_code == 200, response.text
    read = await api.client.get(wallet_path(api), headers=api.headers(api.admin_key, None))
    for answered in (response, read):
        assert "PRIVATE KEY" not in answered.text
        assert "CERTIFICATE" not in answered.text
        body = answered.json()
        assert not {"certificate_pem", "private_key_pem", "wwdr_pem"} & set(body)
        assert pass_type in body["certificate_subject"]
    connection = await asyncpg.connect(api.runtime.settings.database_url)
    try:
        stored = await connection.fetchval("select credentials_sealed from apple_wallet_settings")
    finally:
        await connection.close()
    assert stored.startswith("sealed:v1:")
    assert "PRIVATE" not in stored
    assert "BEGIN" not in stored


async def test_settings_change_without_resending_the_credentials(api: Api, chain: Chain) -> None:
    await set_up(api, chain)
    changed = await put_settings(api, settings_body | {"label_color": "rgb(1, 2, 3)"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["label_color"] == "rgb(1, 2, 3)"
    assert changed.json()["icon"]["bytes"] == len(png(58, 58))


def other_chain_key() -> str:
    return make_chain().credentials["private_key_pem"]


bad_settings = [
    pytest.param({"certificate_pem": "not a pem"}, "certificate_pem", id="certificate-not-pem"),
    pytest.param(
        {"wwdr_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
        "wwdr_pem",
        id="wwdr-not-pem",
    ),
    pytest.param({"private_key_pem": "junk"}, "private_key_pem", id="key-not-pem"),
    pytest.param({"private_key_pem": None}, "private_key_pem", id="key-missing"),
    pytest.param({"background_color": "#ff0000"}, "background_color", id="hex-colour"),
    pytest.param({"label_color": "rgb(256, 0, 0)"}, "label_color", id="colour-out-of-range"),
    pytest.param({"pass_type_identifier": "com.example"}, "pass_type_identifier", id="not-pass"),
    pytest.param({"team_identifier": "abc"}, "team_identifier", id="team"),
    pytest.param(
        {"pass_type_identifier": "pass.com.other.card"},
        "pass_type_identifier",
        id="type-not-the-certificates",
    ),
    pytest.param(
        {"team_identifier": "ZZZZZ99999"}, "team_identifier", id="team-not-the-certificates"
    ),
]


@pytest.mark.parametrize(("change", "field"), bad_settings)
async def test_bad_settings_are_refused_by_name_and_nothing_is_written(
    api: Api, chain: Chain, change: dict[str, Any], field: str
) -> None:
    body = {
        name: value
        for name, value in (settings_body | chain.credentials | change).items()
        if value is not None
    }
    refused = await put_settings(api, body)
    assert_problem(refused, 400, "validation_error")
    assert refused.json()["field"] == field, refused.text
    read = await api.client.get(wallet_path(api), headers=api.headers(api.admin_key, None))
    assert_problem(read, 409, "wallet_not_configured")


async def test_a_key_not_the_certificates_or_an_intermediate_not_its_issuer_is_refused(
    api: Api, chain: Chain
) -> None:
    await set_up(api, chain)
    before = (
        await api.client.get(wallet_path(api), headers=api.headers(api.admin_key, None))
    ).json()
    other = make_chain()
    for change, field in (
        ({"private_key_pem": other.credentials["private_key_pem"]}, "private_key_pem"),
        ({"wwdr_pem": other.credentials["wwdr_pem"]}, "wwdr_pem"),
    ):
        refused = await put_settings(
            api, settings_body | chain.credentials | change | {"terms": "changed"}
        )
        assert_problem(refused, 400, "validation_error")
        assert refused.json()["field"] == field
    after = (
        await api.client.get(wallet_path(api), headers=api.headers(api.admin_key, None))
    ).json()
    assert after == before


bad_images = [
    pytest.param("icon", b"GIF89a" + b"\x00" * 40, "is not a PNG image", id="not-png"),
    pytest.param("icon", png(200, 200), "pixels", id="icon-too-large"),
    pytest.param("icon", png(10, 10), "pixels", id="icon-too-small"),
    pytest.param("logo", png(640, 100), "pixels", id="logo-too-wide"),
    pytest.param("logo", b"\x89PNG\r\n\x1a\n" + b"\x00" * 41_000, "bytes", id="too-many-bytes"),
]


@pytest.mark.parametrize(("kind", "data", "reason"), bad_images)
async def test_bad_images_are_refused_by_name_and_nothing_is_written(
    api: Api, chain: Chain, kind: str, data: bytes, reason: str
) -> None:
    assert (await put_settings(api, settings_body | chain.credentials)).status_code == 200
    refused = await put_image(api, kind, data)
    assert_problem(refused, 400, "validation_error")
    assert refused.json()["field"] == "png"
    assert reason in refused.json()["detail"]
    read = await api.client.get(wallet_path(api), headers=api.headers(api.admin_key, None))
    assert read.json()[kind] is None


async def test_an_unknown_image_kind_is_refused_naming_it(api: Api, chain: Chain) -> None:
    assert (await put_settings(api, settings_body | chain.credentials)).status_code == 200
    refused = await put_image(api, "strip", png(58, 58))
    assert_problem(refused, 400, "validation_error")
    assert refused.json()["field"] == "kind"


async def test_an_image_before_the_settings_is_refused(api: Api) -> None:
    refused = await put_image(api, "icon", png(58, 58))
    assert_problem(refused, 409, "wallet_not_configured")


async def test_a_pass_needs_the_settings_an_icon_a_card_and_a_program_key(
    api: Api, chain: Chain
) -> None:
    await card_holder(api)
    key = await crm_key(api)
    assert_problem(await fetch_pass(api, key), 409, "wallet_not_configured")
    assert (await put_settings(api, settings_body | chain.credentials)).status_code == 200
    no_icon = await fetch_pass(api, key)
    assert_problem(no_icon, 409, "wallet_not_configured")
    assert "icon" in no_icon.json()["detail"]
    assert (await put_image(api, "icon", png(29, 29))).status_code == 200
    assert_problem(await fetch_pass(api, key, "9999-0000"), 404, "card_not_found")
    assert_problem(await fetch_pass(api, api.admin_key), 403, "program_key_required")
    assert_problem(await fetch_pass(api, api.pos_key), 403, "forbidden_scope")
    assert (await fetch_pass(api, key)).status_code == 200


async def test_another_programs_settings_are_not_found(api: Api, chain: Chain) -> None:
    other = await make_key(api, api.program_id, ["admin"])
    elsewhere = "/v1/programs/00000000-0000-4000-8000-000000000000/apple-wallet"
    refused = await api.client.put(
        elsewhere, json=settings_body | chain.credentials, headers=api.headers(other["key"])
    )
    assert_problem(refused, 404, "not_found")
