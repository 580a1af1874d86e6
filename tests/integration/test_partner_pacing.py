"""Our calls to a partner leave part of its rate limit to the retailer's other integrations (a
connection takes ``rate_share_percent`` of it, half by default, at most 80 %), and the dates
our sweeps send are written the way each partner documents them: Bitrix24's ``>DATE_MODIFY``
to the second with its offset, RetailCRM's first ``filter[startDate]`` as ``Y-m-d H:i:s`` in
the account's own time zone."""

from collections.abc import AsyncIterator

import msgspec
import pytest

from processing.service.partners.bitrix24.partner import Bitrix24Partner
from processing.service.partners.retailcrm.partner import RetailCrmPartner
from processing.service.records import Connection
from tests.conftest import Api
from tests.fakes.bitrix24 import FakeBitrix24
from tests.fakes.retailcrm import FakeRetailCrm


class RecordingLimiter:
    """The rate-limiter port, recording the rate and burst each call asked for (the Redis
    bucket itself has its own tests); it never makes a call wait."""

    def __init__(self) -> None:
        self.asked: list[tuple[float, int]] = []

    async def acquire(self, key: str, rate: float, burst: int) -> float:
        self.asked.append((rate, burst))
        return 0.0


@pytest.fixture
async def portal() -> AsyncIterator[FakeBitrix24]:
    fake = FakeBitrix24()
    runner = await fake.start()
    yield fake
    await runner.cleanup()


@pytest.fixture
async def account() -> AsyncIterator[FakeRetailCrm]:
    fake = FakeRetailCrm()
    runner = await fake.start()
    yield fake
    await runner.cleanup()


async def bitrix24_connection(api: Api, portal: FakeBitrix24, **settings: object) -> Connection:
    """A connection of its own (one per portal and program) with these settings."""
    return await api.runtime.channels.connect(
        api.program_id_uuid,
        "bitrix24",
        f"{len(settings)}{sorted(settings)}.{portal.domain}",
        {"webhook_url": portal.webhook_url, "application_token": portal.application_token},
        dict(settings),
    )


async def set_cursor(api: Api, connection: Connection, cursor: str) -> Connection:
    async with api.runtime.database.transaction() as store:
        await store.set_connection_setting(connection.id, "swept_until", cursor)
    found = await api.runtime.channels.connection(connection.id)
    assert found is not None
    return found


def bitrix24_partner(api: Api, limiter: RecordingLimiter) -> Bitrix24Partner:
    runtime = api.runtime
    return Bitrix24Partner(
        runtime.database, runtime.ledger, runtime.loyalty, runtime.pos, runtime.partner_api, limiter
    )


async def test_bitrix24_calls_take_half_the_portals_rate_or_the_share_a_connection_names(
    api: Api, portal: FakeBitrix24
) -> None:
    limiter = RecordingLimiter()
    partner = bitrix24_partner(api, limiter)
    for settings in ({}, {"rate_share_percent": 80}, {"rate_per_second": 5, "burst": 250}):
        connection = await bitrix24_connection(api, portal, **settings)
        await partner.call(connection, "crm.deal.userfield.list", {})
    # 2 a second with a burst of 50 is the portal's own limit (5 and 250 on Enterprise).
    assert limiter.asked == [(1.0, 25), (1.6, 40), (2.5, 125)]


@pytest.mark.parametrize("share", [0, 81, 100, "50", True, 50.5])
async def test_a_share_outside_one_to_eighty_percent_is_refused_at_connect(
    api: Api, portal: FakeBitrix24, share: object
) -> None:
    with pytest.raises(ValueError, match="rate_share_percent must be a whole number from 1 to 80"):
        await bitrix24_connection(api, portal, rate_share_percent=share)


async def test_retailcrm_calls_take_half_the_keys_rate_by_default(
    api: Api, account: FakeRetailCrm
) -> None:
    limiter = RecordingLimiter()
    runtime = api.runtime
    partner = RetailCrmPartner(
        runtime.database, runtime.ledger, runtime.loyalty, runtime.partner_api, limiter
    )
    for share in (None, 80):
        connection = await runtime.channels.connect(
            api.program_id_uuid,
            "retailcrm",
            f"{account.url}/{share}",
            {"api_key": account.api_key, "trigger_secret": account.trigger_secret},
            {} if share is None else {"rate_share_percent": share},
        )
        connection = msgspec.structs.replace(connection, account=account.url)
        await partner.get(connection, "settings")
    assert limiter.asked == [(5.0, 1), (8.0, 1)]  # 10 a second per key; a burst of 1 on top


async def test_the_bitrix24_sweep_sends_its_date_to_the_second_with_the_offset(
    api: Api, portal: FakeBitrix24
) -> None:
    connection = await bitrix24_connection(api, portal)
    connection = await set_cursor(api, connection, "2026-12-03T07:00:00.123456+00:00")
    await bitrix24_partner(api, RecordingLimiter()).sweep(connection, api.runtime.channels)

    [(method, params)] = portal.calls
    assert method == "crm.deal.list"
    # The cursor less five minutes of overlap, as Bitrix24 writes DATE_MODIFY.
    assert params["filter"] == {">DATE_MODIFY": "2026-12-03T06:55:00+00:00"}


@pytest.mark.parametrize(
    ("zone", "setting", "sent"),
    [
        ("Europe/Moscow", None, "2026-12-03 09:55:00"),
        ("Asia/Yekaterinburg", None, "2026-12-03 11:55:00"),
        ("Europe/Moscow", "Asia/Vladivostok", "2026-12-03 16:55:00"),
    ],
)
async def test_the_first_retailcrm_sweep_names_its_start_in_the_accounts_zone(
    api: Api, account: FakeRetailCrm, zone: str, setting: str | None, sent: str
) -> None:
    account.time_zone = zone
    account.order(account.customer("+79120000001"), [(100.0, 1)])
    connection = await api.runtime.channels.connect(
        api.program_id_uuid,
        "retailcrm",
        account.url,
        {"api_key": account.api_key, "trigger_secret": account.trigger_secret},
        {} if setting is None else {"time_zone": setting},
    )
    connection = await set_cursor(api, connection, "2026-12-03T07:00:00+00:00")
    partner = RetailCrmPartner(
        api.runtime.database,
        api.runtime.ledger,
        api.runtime.loyalty,
        api.runtime.partner_api,
        RecordingLimiter(),
    )

    assert await partner.sweep(connection, api.runtime.channels) == 1  # the order made now
    assert account.history_queries == [{"filter[startDate]": sent, "limit": "100"}]
