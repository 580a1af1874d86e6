"""A promoter's QR code opens the enrollment page with its code (decision 0034): the person who
joins through it is the promoter's, and their first purchase rewards the promoter once."""

from tests.api import test_enrollment_page as page
from tests.api.test_enrollment_page import Visitor, open_page, sent_code, slug
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_promoters import now_rules, promoter
from tests.api.test_purchases import purchase
from tests.conftest import Api
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.invariants import assert_ledger_clean

# The enrollment page's fixtures: an SMS gateway that records what is sent, the settings that
# send to it, and a visitor's browser.
gateway, settings, visitor = page.gateway, page.settings, page.visitor


async def test_joining_through_the_promoters_link_rewards_the_promoter_once(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    await open_page(api)
    anna = await api.customer("+79120000100")
    made = await promoter(api, anna, code="ANNA1", reward_points=50)
    assert made["link"] == f"https://bonus.example/join/{slug}?promoter=ANNA1"

    opened = await visitor.get(f"/join/{slug}?promoter=anna1")
    assert opened.status_code == 200
    sent = await visitor.send_code("8 912 700-00-01")
    assert sent.status_code == 200, sent.text
    card = await visitor.confirm(sent_code(gateway), name="Борис")
    assert card.status_code == 200, card.text
    found = await api.get("/v1/customers", phone="+79127000001")
    joined = found.json()["id"]

    assert (await purchase(api, joined, [receipt_line("oil", 1000)], "R-1")).status_code == 201
    assert (await purchase(api, joined, [receipt_line("oil", 1000)], "R-2")).status_code == 201
    assert (await api.balance(anna))["available"] == 50
    shown = await api.get(
        f"/v1/programs/{api.program_id}/promoters/{made['id']}", key=api.admin_key
    )
    assert (shown.json()["customers"], shown.json()["rewards"]) == (1, 1)
    await assert_ledger_clean(api.runtime)


async def test_an_unknown_code_on_the_link_is_ignored_and_the_person_still_joins(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    await visitor.get(f"/join/{slug}?promoter=NOBODY")
    assert (await visitor.send_code("8 912 700-00-02")).status_code == 200
    card = await visitor.confirm(sent_code(gateway), name="Вера")
    assert card.status_code == 200, card.text
    async with api.runtime.pool.acquire() as connection:
        attributed = await connection.fetchval(
            "select count(*) from customers where promoter_id is not null"
        )
    assert attributed == 0
