"""RetailCRM orders, applied. A trigger names an order and nothing else we trust: the order is
read again through API v5 (``GET /api/v5/orders/{id}?by=id`` with ``X-API-KEY``) and acted on
as it is now, so repeated and out-of-order triggers act on the same state.

Status codes are the account's own: the connection's settings name the completed ones
(``completed_statuses``, default ``complete``) and the cancelled ones (``cancelled_statuses``,
default ``cancel-other``). Points a manager entered on the order (the order custom field named
by ``points_field``, default ``bonus_points``) are reserved and committed, and what they pay is
added to the order's ``discountManualAmount`` beside the manager's own discount (the order's
``bonus_discount`` field remembers our share); what the order spends follows the field
(nothing once it is cancelled), counted from the ledger's holds for the order, never from what
the field said before. A completed order is a purchase on what is left to pay, once per
order; a cancelled one takes back what it earned. After acting, the customer's balance, tier
and card are written to the customer's custom fields. Every write is sent only when it
changes something, so the trigger our own edit fires reads the order, finds nothing to do and
writes nothing.

Idempotency keys come from RetailCRM's order ids (``retailcrm:order:{id}:completed``, ...), so
a trigger that fires three times applies once.
"""

import hashlib
import json
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import msgspec
import structlog

from processing.service.ledger.decisions import RefundCommand, ReserveCommand
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import CommitCommand, Loyalty, PurchaseCommand
from processing.service.partners import shops
from processing.service.partners.channels import (
    Applied,
    Channels,
    InboxEvent,
    PartnerRejected,
    paced,
    rate_share,
)
from processing.service.partners.retailcrm import translation as retailcrm
from processing.service.partners.translation import Unusable
from processing.service.ports import Database, PartnerApi, PartnerUnavailable, RateLimiter
from processing.service.records import Connection, Document, DocumentHold
from processing.service.rules import current_rules

log = structlog.get_logger(__name__)
topic = "order.trigger"
refresh_topic = "call"  # the outbox relay's customer write-back (as Bitrix24's contact one)
# RetailCRM allows 10 requests a second per API key, shared with every other caller of the key;
# a connection takes ``rate_share_percent`` of it (half by default, at most 80 %: 8 a second).
# A burst of 1 lets at most rate + 1 calls into any one second, never 11.
rate_limit_per_second = 10.0
rate_burst = 1
rate_wait_max_seconds = 5.0
history_page_size = 100
history_pages_max = 20  # 2,000 changes a sweep; the next sweep goes on from the last one


class RetailCrmPartner:
    name = "retailcrm"

    def __init__(
        self,
        database: Database,
        ledger: Ledger,
        loyalty: Loyalty,
        api: PartnerApi,
        limiter: RateLimiter,
        wait_max_seconds: float = rate_wait_max_seconds,
    ):
        self.database = database
        self.ledger = ledger
        self.loyalty = loyalty
        self.api = api
        self.limiter = limiter
        self.wait_max_seconds = wait_max_seconds

    async def handle(self, event: InboxEvent, channels: Channels) -> None:
        if event.topic == refresh_topic:
            await self.refresh_customer(event.connection, event.payload)
            return
        if event.topic != topic:
            raise PartnerRejected(f"topic {event.topic} is not one we act on")
        connection = event.connection
        order_id = int(event.payload["order_id"])
        try:
            order = retailcrm.order_of(await self.get(connection, f"orders/{order_id}?by=id"))
            applied = await self.apply_order(connection, order, channels)
        except Unusable as error:
            raise PartnerRejected(str(error)) from error
        log.info(
            "retailcrm_event_applied",
            event_key=event.event_key,
            order_id=order.id,
            status=order.status,
            applied=[f"{name}:{answer.code or 'ok'}" for name, answer in applied],
        )

    async def apply_order(
        self, connection: Connection, order: retailcrm.Order, channels: Channels
    ) -> list[tuple[str, Applied]]:
        customer_id = await shops.customer_by_phone(
            self.database, channels.actor(connection), retailcrm.phone_of(order)
        )
        if customer_id is None:
            return []  # someone outside the program: the order changes nothing
        settings = connection.settings
        completed = settings.get("completed_statuses", retailcrm.default_completed_statuses)
        cancelled = settings.get("cancelled_statuses", retailcrm.default_cancelled_statuses)
        points = retailcrm.points_of(
            order, settings.get("points_field", retailcrm.default_points_field)
        )
        currency, point_value_minor = await self.program(connection)
        currency = order.currency or currency
        wanted = 0 if order.status in cancelled else points
        if order.status in completed or wanted:
            await shops.check_currency(self.database, connection, currency, str(order.id))
        holds = await shops.document_holds(
            self.database, connection, shops.like_exactly(f"retailcrm-order-{order.id}-points")
        )
        if (wanted or holds) and not connection.settings.get("discount_field"):
            # Our share of the order's discount must be remembered beside it, or a manager's own
            # discount would be overwritten (or ours added twice): nothing is spent without it.
            raise PartnerRejected(
                f"order {order.id} pays with points, but the account has no "
                f"{retailcrm.discount_field} field yet: run bonus retailcrm-install"
            )
        spent, applied = await self.settle_points(
            connection, order, customer_id, wanted, holds, channels
        )
        if holds or spent:  # an order whose points we never touched keeps its discount
            order = await self.write_discount(
                connection, order, point_value_minor * spent, currency
            )
        if order.status in completed:
            applied.append(await self.purchase(connection, order, customer_id, currency, channels))
        if order.status in cancelled:
            applied += await self.cancel(connection, order, channels)
        await self.write_customer(connection, order, customer_id)
        return applied

    async def purchase(
        self,
        connection: Connection,
        order: retailcrm.Order,
        customer_id: UUID,
        currency: str,
        channels: Channels,
    ) -> tuple[str, Applied]:
        """What is left to pay after every discount (ours included) earns, once per order."""
        command = PurchaseCommand(
            document=Document(
                id=f"retailcrm-order-{order.id}", name=f"RetailCRM order {order.number or order.id}"
            ),
            lines=retailcrm.receipt_of(order, currency),
        )
        answer = await channels.apply(
            connection,
            f"retailcrm:order:{order.id}:completed",
            command,
            lambda mutation, render: self.loyalty.purchase(mutation, customer_id, command, render),
        )
        return ("completed", answer)

    async def settle_points(
        self,
        connection: Connection,
        order: retailcrm.Order,
        customer_id: UUID,
        wanted: int,
        holds: list[DocumentHold],
        channels: Channels,
    ) -> tuple[int, list[tuple[str, Applied]]]:
        """Makes the points the order spends what it wants now (the points field; nothing once
        it is cancelled), from what the ledger says its holds spent, never from what the field
        said before: a changed field gives back what was spent and spends the new amount, a
        cleared field or a cancellation gives back what was spent. Points are reserved and
        committed at once (an order may take days to complete; a hold would expire). Returns
        the points the order spends after it; a refusal (not enough points) is kept under
        its key and the order spends none."""
        applied: list[tuple[str, Applied]] = []
        spent = sum(hold.spent for hold in holds)
        for hold in (hold for hold in holds if hold.status == "active"):
            # Reserved by a worker that died before committing it.
            if hold.points == wanted and spent == 0:
                committed = await self.commit_hold(connection, hold.id, wanted, channels)
                applied.append(("points-commit", committed))
                spent += wanted if committed.accepted else 0
            else:
                applied += await self.give_back(connection, [hold], channels)
        if spent == wanted:
            return spent, applied
        applied += await self.give_back(connection, holds, channels)
        if wanted == 0:
            return 0, applied
        document = Document(id=f"retailcrm-order-{order.id}-points")
        reserve = ReserveCommand(points=wanted, document=document)
        after = holds[-1].id if holds else "none"
        held = await channels.apply(
            connection,
            f"retailcrm:order:{order.id}:points:{wanted}:after:{after}",
            reserve,
            lambda mutation, render: self.ledger.reserve(mutation, customer_id, reserve, render),
        )
        applied.append(("points", held))
        if not held.accepted:
            return 0, applied
        committed = await self.commit_hold(connection, UUID(held.body["id"]), wanted, channels)
        applied.append(("points-commit", committed))
        return (wanted if committed.accepted else 0), applied

    async def give_back(
        self, connection: Connection, holds: list[DocumentHold], channels: Channels
    ) -> list[tuple[str, Applied]]:
        applied = []
        for hold in holds:
            answer = await shops.give_back(self.ledger, channels, connection, hold)
            if answer is not None:
                applied.append(("points-back", answer))
        return applied

    async def commit_hold(
        self, connection: Connection, hold_id: UUID, points: int, channels: Channels
    ) -> Applied:
        command = CommitCommand(points=points)
        return await channels.apply(
            connection,
            f"retailcrm:hold:{hold_id}:commit",
            command,
            lambda mutation, render: self.loyalty.commit(mutation, hold_id, command, render),
        )

    async def write_discount(
        self, connection: Connection, order: retailcrm.Order, share_minor: int, currency: str
    ) -> retailcrm.Order:
        """Our share of the order's ``discountManualAmount`` (what the points pay) beside the
        manager's own discount, never over it: the order's discount custom field remembers
        our share, so the manager's part is the total less it, and a change of points moves
        only ours. Both are written in one edit, only when one differs; returns the order as
        it is after."""
        field = str(connection.settings["discount_field"])
        total, ours = retailcrm.discount_shares(order, field, currency)
        wanted = max(0, total - ours) + share_minor
        if (total, ours) == (wanted, share_minor):
            return order
        changes = {
            "discountManualAmount": retailcrm.major_units(wanted, currency),
            "customFields": {field: retailcrm.major_units(share_minor, currency)},
        }
        await self.post(
            connection,
            f"orders/{order.id}/edit",
            {"by": "id", "order": json.dumps(changes)},
            order.site,
        )
        return msgspec.structs.replace(order, discountManualAmount=changes["discountManualAmount"])

    async def cancel(
        self, connection: Connection, order: retailcrm.Order, channels: Channels
    ) -> list[tuple[str, Applied]]:
        """Takes back what the order earned (the points that paid are given back by
        ``settle_points``)."""
        purchase_id = await shops.purchase_of(
            self.database, connection, f"retailcrm-order-{order.id}"
        )
        if purchase_id is None:
            return []
        return [
            await self.refund(
                connection, f"retailcrm:order:{order.id}:cancelled", purchase_id, channels
            )
        ]

    async def refund(
        self, connection: Connection, key: str, operation_id: UUID, channels: Channels
    ) -> tuple[str, Applied]:
        command = RefundCommand(document=Document(id=key.replace(":", "-")))
        answer = await channels.apply(
            connection,
            key,
            command,
            lambda mutation, render: self.ledger.refund(mutation, operation_id, command, render),
        )
        return (key.rsplit(":", 1)[-1], answer)

    async def write_customer(
        self, connection: Connection, order: retailcrm.Order, customer_id: UUID
    ) -> None:
        """The balance, tier and card on the RetailCRM customer, sent only when one differs.
        The order links that customer to ours: from then on the outbox relay queues a refresh
        (``refresh_customer``) on every ``balance.changed`` of the customer."""
        if order.customer is None:
            return
        async with self.database.transaction() as store:
            await store.link_contact(
                connection.id, customer_id, connection.program_id, str(order.customer.id)
            )
        shown = await shops.loyalty_card(self.database, connection, customer_id)
        if shown is None:
            return
        wanted = retailcrm.customer_fields(shown.balance, shown.tier, shown.card)
        changed = retailcrm.changed_fields(order.customer.customFields, wanted)
        if changed:
            await self.post(
                connection,
                f"customers/{order.customer.id}/edit",
                {"by": "id", "customer": json.dumps({"customFields": changed})},
                order.site,
            )

    async def refresh_customer(self, connection: Connection, payload: dict[str, Any]) -> None:
        """The relay's write-back after a balance change made elsewhere (a till's purchase, an
        expiry): the card as it is when the call is made, never as it was when queued."""
        shown = await shops.loyalty_card(self.database, connection, UUID(payload["customer_id"]))
        if shown is None:
            return
        wanted = retailcrm.customer_fields(shown.balance, shown.tier, shown.card)
        await self.post(
            connection,
            f"customers/{int(payload['refresh_contact'])}/edit",
            {"by": "id", "customer": json.dumps({"customFields": wanted})},
            None,
        )

    async def sweep(self, connection: Connection, channels: Channels) -> int:
        """Triggers are fire-and-forget: one that never arrived would leave an order unapplied.
        The sweep walks the account's order history from the last change it saw
        (``/orders/history`` with ``filter[sinceId]``; the first time, the last day, by
        ``filter[startDate]`` in the account's own time zone, as RetailCRM reads it) and queues
        each order it names once, folded into one still waiting; the worker reads each again,
        and one that changed nothing for us is a no-op."""
        since_id = connection.settings.get("history_since_id")
        if isinstance(since_id, str) and since_id.isdigit():
            start = {"filter[sinceId]": since_id}
        else:
            since, _ = await channels.sweep_window(connection)
            start = {"filter[startDate]": retailcrm.date_time(since, await self.zone(connection))}
        last_id, queued, seen = since_id, 0, set()
        for _ in range(history_pages_max):
            query = start if last_id == since_id else {"filter[sinceId]": str(last_id)}
            answer = await self.get(
                connection, f"orders/history?{urlencode({**query, 'limit': history_page_size})}"
            )
            entries = answer.get("history") if isinstance(answer, dict) else None
            if not isinstance(entries, list):
                raise Unusable("the order history is not a list")
            for entry in entries:
                order = entry.get("order") if isinstance(entry, dict) else None
                order_id = order.get("id") if isinstance(order, dict) else None
                if isinstance(entry.get("id"), int):
                    last_id = str(entry["id"])
                if isinstance(order_id, int) and order_id not in seen:
                    seen.add(order_id)
                    queued += await channels.receive(
                        connection, f"history:{order_id}:{uuid4()}", topic,
                        {"order_id": order_id}, coalesce=True,
                    )  # fmt: skip
            if len(entries) < history_page_size:
                break
        if last_id != since_id and last_id is not None:
            async with self.database.transaction() as store:
                await store.set_connection_setting(connection.id, "history_since_id", last_id)
        return queued

    async def zone(self, connection: Connection) -> ZoneInfo:
        """The account's time zone: the connection's ``time_zone`` setting, or the account's
        own settings (``GET /api/v5/settings``)."""
        named = connection.settings.get("time_zone")
        if isinstance(named, str) and named:
            return retailcrm.zone_named(named)
        return retailcrm.time_zone_of(await self.get(connection, "settings"))

    async def program(self, connection: Connection) -> tuple[str, int]:
        """The program's currency and what one point pays, in its minor units."""
        async with self.database.reader() as store:
            program = await store.get_program(connection.program_id, None)
            record = await current_rules(store, connection.program_id)
        if program is None:
            raise PartnerRejected("the connection's program is gone")
        return program.currency, record.rules.point_value_minor

    async def pace(self, connection: Connection, api_key: str) -> None:
        """Within our share of the key's rate, shared by every worker; the key itself never
        reaches Redis, a digest names its bucket."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:32]
        rate = rate_limit_per_second * rate_share(connection.settings)
        await paced(self.limiter, f"retailcrm:{digest}", rate, rate_burst, self.wait_max_seconds)

    async def get(self, connection: Connection, resource: str) -> Any:
        """GET ``{account}/api/v5/{resource}``, within the key's rate."""
        key = connection.secrets.get("api_key", "")
        await self.pace(connection, key)
        url = f"{connection.account.rstrip('/')}/api/v5/{resource}"
        return await self.api.get_json(url, {"X-API-KEY": key})

    async def post(
        self, connection: Connection, resource: str, form: dict[str, str], site: str | None
    ) -> None:
        """POST a form to ``{account}/api/v5/{resource}``, within the key's rate; a refusal
        (``success: false``) is kept as the event's error and tried again."""
        key = connection.secrets.get("api_key", "")
        if site:
            form = {**form, "site": site}
        await self.pace(connection, key)
        url = f"{connection.account.rstrip('/')}/api/v5/{resource}"
        answer = await self.api.post_form(url, {"X-API-KEY": key}, form)
        if not isinstance(answer, dict) or answer.get("success") is not True:
            message = answer.get("errorMsg") if isinstance(answer, dict) else None
            raise PartnerUnavailable(f"POST /api/v5/{resource}: {message or 'no success'}")
