"""Bitrix24 deals, applied, and the contact card written back.

An event names a deal; the deal, its contacts and its primary contact are read again in one
``batch`` request (an event's body is never trusted), and the contact's phone names the
program's customer. Then:

* a deal still open whose "points to write off" field is above zero spends those points once
  (a hold committed at once, keyed by the deal and the points written off before), and the deal
  is updated: its amount lowered by their money value, the field back to zero, the total
  written off raised;
* a won deal is a purchase of its amount, once per deal, earning what the customer's tier gives
  (a won deal re-opened and won again earns nothing more: the purchase is keyed by the deal; a
  won deal lost later keeps what it earned, for an operator to refund if the sale is undone);
* a lost deal gives back the points its write-offs still spend, counted from the ledger, and
  its amount is raised again by their worth;
* after either, the contact's balance, tier and card number are written to its custom fields;
  the deal also links the contact to the customer, and from then on the outbox relay queues the
  same write-back for every ``balance.changed`` of the customer (a till's purchase, an expiry),
  folded into one still waiting for that contact.

Every write to the portal is an inbox event of its own (topic ``call``), so it is durable,
retried with backoff, dead after the last attempt, and paced by a token bucket shared by every
worker (2 requests a second, a burst of 50, as Bitrix24 allows); a ``QUERY_LIMIT_EXCEEDED``
answer defers the call without spending an attempt. Our own ``crm.deal.update`` makes the portal
send another update event: the deal is read again, nothing is left to write off, the won
purchase replays, and the contact write-back it would queue is the one already queued (its key is
the operation it follows), so the echo changes nothing.
"""

import asyncio
from typing import Any
from uuid import UUID, uuid4

import structlog

from processing.core.model import Line
from processing.core.promoters import normalized_code
from processing.service.checkout.pos import Pos
from processing.service.ledger.decisions import ReserveCommand
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import CommitCommand, Loyalty, PurchaseCommand
from processing.service.partners import shops
from processing.service.partners.bitrix24 import translation as bitrix24
from processing.service.partners.bitrix24.tokens import OAuthApp, PortalTokens
from processing.service.partners.channels import (
    Applied,
    Channels,
    InboxEvent,
    PartnerBusy,
    PartnerRejected,
    paced,
    rate_share,
)
from processing.service.partners.translation import Unusable
from processing.service.ports import Database, PartnerApi, PartnerUnavailable, RateLimiter
from processing.service.records import Connection, Document
from processing.service.rules import current_rules

log = structlog.get_logger(__name__)
call_topic = "call"
# The portal's own limit (Bitrix24's plans below Enterprise; a connection's ``rate_per_second``
# and ``burst`` settings name another plan's); a connection takes ``rate_share_percent`` of it.
default_rate = 2.0  # requests a second per portal
default_burst = 50
busy_retry_seconds = 5.0  # after QUERY_LIMIT_EXCEEDED: its bucket drains in seconds
sweep_pages_max = 40  # of 50 deals: 2,000 deals a sweep, the rest at the next one


class Bitrix24Partner:
    name = "bitrix24"

    def __init__(
        self,
        database: Database,
        ledger: Ledger,
        loyalty: Loyalty,
        pos: Pos,
        api: PartnerApi,
        limiter: RateLimiter,
        oauth: OAuthApp | None = None,
    ) -> None:
        self.database = database
        self.ledger = ledger
        self.loyalty = loyalty
        self.pos = pos
        self.api = api
        self.limiter = limiter
        # A portal that installed our application is called with its OAuth pair (refreshed
        # when it expires), one connected by an inbound webhook through the webhook's URL.
        self.tokens = PortalTokens(database, api, oauth or OAuthApp())

    async def handle(self, event: InboxEvent, channels: Channels) -> None:
        try:
            if event.topic == call_topic:
                await self.write_back(event.connection, event.payload)
            elif event.topic in bitrix24.deal_events:
                await self.apply_deal(event.connection, str(event.payload["deal_id"]), channels)
            else:
                raise PartnerRejected(f"topic {event.topic} is not one we act on")
        except Unusable as error:
            raise PartnerRejected(str(error)) from error

    # Deals.

    async def apply_deal(self, connection: Connection, deal_id: str, channels: Channels) -> None:
        read = bitrix24.deal_read_of(
            await self.call(connection, "batch", bitrix24.read_batch(deal_id))
        )
        deal, contact = read.deal, read.contact
        phone = contact.phones[0].value if contact and contact.phones else None
        customer_id = await shops.customer_by_phone(
            self.database, channels.actor(connection), phone
        )
        if contact is None or customer_id is None:
            log.info("bitrix24_deal_skipped", deal_id=deal.id, reason="no customer of ours")
            return
        async with self.database.transaction() as store:
            # From now on every balance.changed of the customer refreshes this contact.
            await store.link_contact(connection.id, customer_id, connection.program_id, contact.id)
        fields = field_codes(connection)
        promoter = bitrix24.text_in(read.fields, fields["promoter_field"])
        code = None if promoter is None else normalized_code(promoter)
        if code is not None:
            # A lead from a promoter's form (decision 0034): its customer, yet to purchase, is
            # the promoter's, so the won deal's purchase rewards the promoter.
            async with self.database.transaction() as store:
                await store.attribute_to_promoter(customer_id, connection.program_id, code)
        applied: list[Applied] = []
        writeoff = bitrix24.points_in(read.fields, fields["writeoff_field"])
        if writeoff > 0 and bitrix24.is_open(deal):
            spent = await self.write_off(connection, channels, customer_id, read, writeoff)
            applied.extend(spent)
        if bitrix24.is_lost(deal):
            applied.extend(await self.give_back(connection, channels, deal))
        if bitrix24.is_won(deal):
            applied.append(await self.earn(connection, channels, customer_id, deal))
        done = [answer.operation_id for answer in applied if answer.operation_id]
        if done:
            # Keyed by the last operation: a replay (our own update's echo) queues nothing new.
            await channels.receive(
                connection,
                f"call:contact:{contact.id}:after:{done[-1]}",
                call_topic,
                {"refresh_contact": contact.id, "customer_id": str(customer_id)},
                coalesce=True,  # the relay's write-back for the same change may be waiting
            )
        log.info(
            "bitrix24_deal_applied",
            deal_id=deal.id,
            stage=deal.stage_id,
            writeoff=writeoff,
            applied=[answer.code or "ok" for answer in applied],
        )

    async def write_off(
        self,
        connection: Connection,
        channels: Channels,
        customer_id: UUID,
        read: bitrix24.DealRead,
        points: int,
    ) -> list[Applied]:
        """Spends ``points`` once per (deal, points written off before, points asked): a manager
        who asks again after the field went back to zero asks for a new write-off. Points worth
        more than the deal's amount are not spent (a write-off this deal already made is always
        finished, whatever the rules say now)."""
        deal, fields = read.deal, field_codes(connection)
        await shops.check_currency(self.database, connection, deal.currency, f"deal {deal.id}")
        before = bitrix24.points_in(read.fields, fields["applied_field"])
        key = f"bitrix24:deal:{deal.id}:writeoff:{before}:{points}"
        document = Document(id=f"b24-deal-{deal.id}-writeoff-{before + points}")
        async with self.database.reader() as store:
            point_value = (
                await current_rules(store, connection.program_id)
            ).rules.point_value_minor
        worth, amount = points * point_value, bitrix24.amount_minor(deal)
        if (
            worth > amount
            and await self.pos.cheque_hold(channels.actor(connection), document.id) is None
        ):
            log.warning(
                "bitrix24_writeoff_refused",
                deal_id=deal.id,
                code="writeoff_exceeds_deal",
                points=points,
                worth_minor=worth,
                amount_minor=amount,
            )
            return []
        reserve = ReserveCommand(points=points, document=document)
        held = await channels.apply(
            connection,
            f"{key}:hold",
            reserve,
            lambda mutation, render: self.ledger.reserve(mutation, customer_id, reserve, render),
        )
        if not held.accepted:
            log.warning("bitrix24_writeoff_refused", deal_id=deal.id, code=held.code)
            return [held]
        hold_id = UUID(held.body["id"])
        spent = await channels.apply(
            connection,
            f"{key}:commit",
            {"hold_id": str(hold_id)},
            lambda mutation, render: self.loyalty.commit(
                mutation, hold_id, CommitCommand(), render
            ),
        )
        if not spent.accepted:
            log.warning("bitrix24_writeoff_refused", deal_id=deal.id, code=spent.code)
            return [spent]
        await channels.receive(
            connection,
            f"call:deal:{deal.id}:writeoff:{before}:{points}",
            call_topic,
            {
                "method": "crm.deal.update",
                "params": {
                    "ID": deal.id,
                    "FIELDS": {
                        "OPPORTUNITY": bitrix24.money(max(0, amount - worth), deal.currency),
                        "IS_MANUAL_OPPORTUNITY": "Y",
                        fields["writeoff_field"]: 0,
                        fields["applied_field"]: before + points,
                    },
                    "PARAMS": {"REGISTER_SONET_EVENT": "N"},
                },
            },
        )
        return [spent]

    async def give_back(
        self, connection: Connection, channels: Channels, deal: bitrix24.Deal
    ) -> list[Applied]:
        """A lost deal gives back every write-off it made: what the ledger says the holds of
        its write-off documents still spend (a refund keyed by each commit; a hold left open
        is released), never what a field says. The deal's amount is raised again by what they
        were worth, queued before the points come back, so a retry after a crash between the
        two still finds points to give back and queues the same call. The written-off total
        is left as it is: it names the next write-off's key, so points written off on a deal
        re-opened later are a new write-off, never a replay of one given back."""
        holds = await shops.document_holds(
            self.database, connection, shops.like_exactly(f"b24-deal-{deal.id}-writeoff-") + "%"
        )
        owed = [hold for hold in holds if hold.spent > 0 or hold.status == "active"]
        if not owed:
            return []
        points = sum(hold.spent for hold in owed)
        if points:
            async with self.database.reader() as store:
                rules = (await current_rules(store, connection.program_id)).rules
            amount = bitrix24.amount_minor(deal) + points * rules.point_value_minor
            await channels.receive(
                connection,
                f"call:deal:{deal.id}:given-back:{owed[-1].id}",
                call_topic,
                {
                    "method": "crm.deal.update",
                    "params": {
                        "ID": deal.id,
                        "FIELDS": {
                            "OPPORTUNITY": bitrix24.money(amount, deal.currency),
                            "IS_MANUAL_OPPORTUNITY": "Y",
                        },
                        "PARAMS": {"REGISTER_SONET_EVENT": "N"},
                    },
                },
            )
        answers = [await shops.give_back(self.ledger, channels, connection, hold) for hold in owed]
        return [answer for answer in answers if answer is not None]

    async def earn(
        self, connection: Connection, channels: Channels, customer_id: UUID, deal: bitrix24.Deal
    ) -> Applied:
        await shops.check_currency(self.database, connection, deal.currency, f"deal {deal.id}")
        line = Line(
            line_id="deal",
            sku=f"deal-{deal.id}"[:128],
            category=None,
            quantity=1,
            unit_price_minor=bitrix24.amount_minor(deal),
        )
        command = PurchaseCommand(
            document=Document(id=f"b24-deal-{deal.id}", name=f"Bitrix24 deal {deal.id}"),
            lines=(line,),
        )
        return await channels.apply(
            connection,
            f"bitrix24:deal:{deal.id}:won",
            command,
            lambda mutation, render: self.loyalty.purchase(mutation, customer_id, command, render),
        )

    # Events that never came.

    async def sweep(self, connection: Connection, channels: Channels) -> int:
        """Bitrix24 sends an event once and never again, so a deal whose event was lost (our
        server away, a queue-server hiccup) would never earn. The sweep lists the deals modified
        since the last sweep (``crm.deal.list`` with ``>DATE_MODIFY``, a little overlap, oldest
        first, page by page) and queues each as an update event, folded into any still waiting;
        reading a deal that changed nothing for us is a no-op. The cursor moves to when a
        complete sweep started, or, when a sweep stops at its page limit, to the last change it
        reached, so the next sweep goes on from there."""
        since, started = await channels.sweep_window(connection)
        queued, start, reached = await self.offline_events(connection, channels), 0, None
        for _ in range(sweep_pages_max):
            page = await self.patiently(
                connection,
                "crm.deal.list",
                {"filter": {">DATE_MODIFY": bitrix24.date_time(since)},
                 "select": ["ID", "DATE_MODIFY"],
                 "order": {"DATE_MODIFY": "ASC", "ID": "ASC"}, "start": start},
            )  # fmt: skip
            for row in page.get("result") or []:
                deal_id = str(row.get("ID", ""))
                reached = str(row.get("DATE_MODIFY") or "") or reached
                if deal_id.isdigit():
                    queued += await channels.receive(
                        connection,
                        f"SWEEP:{deal_id}:{uuid4()}",
                        "ONCRMDEALUPDATE",
                        {"deal_id": deal_id},
                        coalesce=True,
                    )
            if "next" not in page:
                reached = None  # every page read: the sweep is complete
                break
            start = int(page["next"])
        else:
            log.warning("bitrix24_sweep_truncated", connection_id=str(connection.id), at=reached)
        await channels.sweep_done(connection, reached or started.isoformat())
        log.info("bitrix24_swept", connection_id=str(connection.id), queued=queued)
        return queued

    async def offline_events(self, connection: Connection, channels: Channels) -> int:
        """A portal that installed our application keeps deal updates for us in its offline
        queue (``event.bind`` with ``event_type=offline``, one entry per deal, its latest
        change): read and cleared a page at a time with ``event.offline.get``, each queued as
        an update event. Entries read but not queued (a crash between the two) are found by the
        ``DATE_MODIFY`` sweep that follows."""
        if connection.settings.get("offline_events") is not True:
            return 0
        queued = 0
        for _ in range(sweep_pages_max):
            answer = await self.patiently(connection, "event.offline.get", {"limit": 50})
            events = (answer.get("result") or {}).get("events") or []
            for event in events:
                name = str(event.get("EVENT_NAME", "")).upper()
                data = event.get("EVENT_DATA") or {}
                deal_id = (
                    str((data.get("FIELDS") or {}).get("ID", "")) if isinstance(data, dict) else ""
                )
                if name in bitrix24.deal_events and deal_id.isdigit():
                    queued += await channels.receive(
                        connection,
                        f"OFFLINE:{deal_id}:{event.get('MESSAGE_ID') or uuid4()}",
                        name,
                        {"deal_id": deal_id},
                        coalesce=True,
                    )
            if len(events) < 50:
                break
        return queued

    # Set-up.

    async def install(self, connection: Connection) -> dict[str, list[str]]:
        """Creates the custom fields the channel reads and writes, the ones a portal lacks
        (``crm.deal.userfield.add``, ``crm.contact.userfield.add``); running it again creates
        nothing. Returns the field codes created and found, by entity."""
        report: dict[str, list[str]] = {"created": [], "found": []}
        for entity, wanted in bitrix24.installed_fields.items():
            existing = await self.patiently(connection, f"crm.{entity}.userfield.list", {})
            names = {str(row.get("FIELD_NAME")) for row in existing.get("result") or []}
            for name, (type_id, label) in wanted.items():
                if f"UF_CRM_{name}" in names:
                    report["found"].append(f"UF_CRM_{name}")
                    continue
                fields = {"FIELD_NAME": name, "USER_TYPE_ID": type_id, "LABEL": label,
                          "EDIT_FORM_LABEL": label, "LIST_COLUMN_LABEL": label,
                          "MULTIPLE": "N", "MANDATORY": "N", "SHOW_FILTER": "Y"}  # fmt: skip
                await self.patiently(connection, f"crm.{entity}.userfield.add", {"fields": fields})
                report["created"].append(f"UF_CRM_{name}")
        return report

    async def patiently(
        self, connection: Connection, method: str, params: dict[str, Any], tries: int = 20
    ) -> Any:
        """A call made outside the worker (the installer): waits out the rate limit."""
        for _ in range(tries - 1):
            try:
                return await self.call(connection, method, params)
            except PartnerBusy as busy:
                await asyncio.sleep(busy.retry_after)
        return await self.call(connection, method, params)

    # Writes to the portal.

    async def write_back(self, connection: Connection, payload: dict[str, Any]) -> None:
        if "refresh_contact" in payload:
            params = await self.contact_fields(connection, payload)
            if params is None:
                return
            await self.call(connection, "crm.contact.update", params)
        else:
            await self.call(connection, str(payload["method"]), payload["params"])

    async def contact_fields(
        self, connection: Connection, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The contact's loyalty fields as they are when the call is made (never as they were
        when it was queued), so write-backs that run late or out of order never leave an old
        balance on the card."""
        shown = await shops.loyalty_card(self.database, connection, UUID(payload["customer_id"]))
        if shown is None:
            return None
        fields = field_codes(connection)
        return {
            "ID": payload["refresh_contact"],
            "FIELDS": {
                fields["balance_field"]: shown.balance,
                fields["tier_field"]: shown.tier or "",
                fields["card_field"]: shown.card or "",
            },
            "PARAMS": {"REGISTER_SONET_EVENT": "N"},
        }

    async def call(self, connection: Connection, method: str, params: dict[str, Any]) -> Any:
        """One REST call through the portal's inbound webhook or with the application's OAuth
        pair, paced by the shared bucket."""
        settings, share = connection.settings, rate_share(connection.settings)
        await paced(
            self.limiter,
            f"bitrix24:{connection.account}",
            float(settings.get("rate_per_second", default_rate)) * share,
            max(1, int(int(settings.get("burst", default_burst)) * share)),
            wait_max_seconds=0,  # a worker never sleeps for a portal: the event is deferred
        )
        if "webhook_url" in connection.secrets:
            base = connection.secrets["webhook_url"].rstrip("/")
            status, answer = await self.api.post_json(f"{base}/{method}.json", params, {})
        else:
            status, answer = await self.tokens.call(connection.id, method, params)
        error = bitrix24.error_of(answer)
        if error is not None and error[0] in bitrix24.rate_limited_errors:
            raise PartnerBusy(f"{method}: {error[0]}", busy_retry_seconds)
        if status >= 500 or status in (401, 403, 429):
            detail = error[0] if error else "no error code"
            raise PartnerUnavailable(f"{method} answered {status} ({detail})")
        if error is not None or not 200 <= status < 300 or not isinstance(answer, dict):
            # A login page or a proxy's HTML where the REST API was expected lands here too.
            code, description = error or ("", "no JSON object: is this the portal's REST API?")
            raise Unusable(f"{method} answered {status}: {code or 'error'} {description}")
        return answer


def field_codes(connection: Connection) -> dict[str, str]:
    """The portal's custom field codes (the installer stores them; defaults otherwise)."""
    return {
        name: str(connection.settings.get(name, code))
        for name, code in bitrix24.default_fields.items()
    }
