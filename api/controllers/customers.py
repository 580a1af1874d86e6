"""Customers, cards, balances and statements."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import Parameter

from api.auth import admin_scopes, manager_scopes, program_scopes
from api.errors import ProblemError
from api.http import Cursor, PageSize, answer, mutation_for, renderer, respond
from processing.core import limits
from processing.core.rejections import Rejection
from processing.service.ledger.reads import Reads
from processing.service.loyalty.customers import (
    ConsentCommand,
    Customers,
    EditCommand,
    EnrollCommand,
    MergeCommand,
)
from processing.service.records import Actor, CustomerFilter, refuse
from schemas.api import (
    Balance,
    CardCreate,
    CardJournal,
    Consent,
    ConsentCreate,
    ConsentPage,
    Customer,
    CustomerChangePage,
    CustomerCreate,
    CustomerEdit,
    CustomerPage,
    Erase,
    Merge,
    MergeCreate,
    OperationPage,
    StatusChange,
)

AnyRequest = Request[Any, Any, Any]
PointsBound = Annotated[int | None, Parameter(ge=0, le=limits.points_per_account_max)]
# A moment in a query string: RFC 3339 with its zone, read by us rather than by the decoder,
# which in a query string would also take a bare number as Unix seconds.
QueryTime = Annotated[
    str | None,
    Parameter(
        min_length=10,
        max_length=40,
        description="RFC 3339 with its zone.",
        schema_extra={"format": "date-time"},
    ),
]


def moment(text: str | None, name: str) -> datetime | None:
    """The moment a query parameter names; refused, naming it, when it is not RFC 3339 with a
    zone."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in text.upper():
        raise ProblemError(
            refuse(
                Rejection.validation_error,
                f"{name} must be an RFC 3339 time with its zone.",
                field=name,
            )
        )
    return parsed


class CustomersController(Controller):
    path = "/v1"
    opt = {"scopes": program_scopes}
    tags = ["customers"]

    @post("/customers", name="enroll", status_code=201)
    async def enroll(
        self, request: AnyRequest, data: CustomerCreate, customers: Customers
    ) -> Response[Customer]:
        """Enrolls a customer by phone (normalized to E.164 with the program's country),
        optionally with a card."""
        command = msgspec.convert(data, EnrollCommand, from_attributes=True)
        stored = await customers.enroll(mutation_for(request, data), command, renderer(Customer))
        return respond(request, stored)

    @get("/customers", name="find_customer")
    async def find_customer(
        self,
        request: AnyRequest,
        customers: Customers,
        actor: Actor,
        phone: Annotated[str | None, Parameter(max_length=32)] = None,
        card: Annotated[str | None, Parameter(max_length=limits.card_number_length_max)] = None,
    ) -> Response[Customer]:
        """Finds a customer by exactly one of ``phone`` or ``card``."""
        if (phone is None) == (card is None):
            raise ProblemError(
                refuse(
                    Rejection.validation_error, "Give exactly one of phone or card.", field="phone"
                )
            )
        return answer(request, await customers.find(actor, phone, card), Customer)

    @get(
        "/programs/{program_id:uuid}/customers",
        name="list_customers",
        opt={"scopes": manager_scopes},
    )
    async def list_customers(
        self,
        request: AnyRequest,
        program_id: UUID,
        customers: Customers,
        actor: Actor,
        phone: Annotated[str | None, Parameter(max_length=32)] = None,
        card: Annotated[str | None, Parameter(max_length=limits.card_number_length_max)] = None,
        name_prefix: Annotated[str | None, Parameter(min_length=1, max_length=200)] = None,
        tier_floor: Annotated[str | None, Parameter(min_length=1, max_length=64)] = None,
        tier: Annotated[str | None, Parameter(min_length=1, max_length=64)] = None,
        blocked: bool | None = None,
        available_min: PointsBound = None,
        available_max: PointsBound = None,
        created_from: QueryTime = None,
        created_to: QueryTime = None,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[CustomerPage]:
        """The program's customers, newest first, a page at a time (``cursor`` from the
        previous page), narrowed by any of: ``phone`` (in any form the program's country
        reads), ``card``, ``name_prefix`` (case-insensitive), ``tier`` (the tier in force
        under the program's rules), ``tier_floor`` (the manual tier), ``blocked``, available
        points from ``available_min`` to ``available_max``, and enrolment from
        ``created_from`` up to (not including) ``created_to``."""
        narrowed = CustomerFilter(
            created_from=moment(created_from, "created_from"),
            created_to=moment(created_to, "created_to"),
            phone=phone,
            card=card,
            name_prefix=name_prefix,
            tier_floor=tier_floor,
            tier=tier,
            blocked=blocked,
            available_min=available_min,
            available_max=available_max,
        )
        outcome = await customers.page(actor, program_id, narrowed, limit, cursor)
        return answer(request, outcome, CustomerPage)

    @get("/customers/{customer_id:uuid}", name="get_customer")
    async def get_customer(
        self, request: AnyRequest, customer_id: UUID, customers: Customers, actor: Actor
    ) -> Response[Customer]:
        """The customer with cards and block status."""
        return answer(request, await customers.get(actor, customer_id), Customer)

    @patch(
        "/customers/{customer_id:uuid}",
        name="edit_customer",
        opt={"scopes": manager_scopes},
    )
    async def edit_customer(
        self, request: AnyRequest, customer_id: UUID, data: CustomerEdit, customers: Customers
    ) -> Response[Customer]:
        """Changes a customer's name, phone (free in the program), e-mail, birthday or
        attributes; what moved is kept in the customer's history with the key and reason."""
        given = msgspec.structs.asdict(data)  # a field left out is UNSET, not None
        command = msgspec.convert(
            {name: value for name, value in given.items() if value is not msgspec.UNSET},
            EditCommand,
        )
        stored = await customers.edit(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Customer)
        )
        return respond(request, stored)

    @get(
        "/customers/{customer_id:uuid}/changes",
        name="customer_changes",
        opt={"scopes": manager_scopes},
    )
    async def customer_changes(
        self,
        request: AnyRequest,
        customer_id: UUID,
        customers: Customers,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[CustomerChangePage]:
        """The history of the customer's personal data, newest first, a page at a time."""
        outcome = await customers.changes(actor, customer_id, limit, cursor)
        return answer(request, outcome, CustomerChangePage)

    @post("/customers/{customer_id:uuid}/consents", name="record_consent", status_code=201)
    async def record_consent(
        self, request: AnyRequest, customer_id: UUID, data: ConsentCreate, customers: Customers
    ) -> Response[Consent]:
        """Records marketing consent on one channel, given or withdrawn, with its source and
        wording: the log only grows, and its newest entry per channel is in force."""
        command = msgspec.convert(data, ConsentCommand, from_attributes=True)
        stored = await customers.record_consent(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Consent)
        )
        return respond(request, stored)

    @get("/customers/{customer_id:uuid}/consents", name="consents")
    async def consents(
        self,
        request: AnyRequest,
        customer_id: UUID,
        customers: Customers,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[ConsentPage]:
        """The consent in force on each channel, and its log a page at a time."""
        outcome = await customers.consents(actor, customer_id, limit, cursor)
        return answer(request, outcome, ConsentPage)

    @post(
        "/customers/{customer_id:uuid}/erase",
        name="erase_customer",
        status_code=200,
        opt={"scopes": admin_scopes},
    )
    async def erase_customer(
        self, request: AnyRequest, customer_id: UUID, data: Erase, customers: Customers
    ) -> Response[Customer]:
        """Erases the customer's personal data (152-FZ): phone, name, e-mail, birthday and
        attributes; cards deleted, consents withdrawn, the account blocked. The id, the
        account's ledger and its history of operations stay, and the books still reconcile."""
        stored = await customers.erase(
            mutation_for(request, data, customer_id), customer_id, data.reason, renderer(Customer)
        )
        return respond(request, stored)

    @post(
        "/customers/{customer_id:uuid}/merge",
        name="merge_customers",
        status_code=200,
        opt={"scopes": admin_scopes},
    )
    async def merge_customers(
        self, request: AnyRequest, customer_id: UUID, data: MergeCreate, customers: Customers
    ) -> Response[Merge]:
        """Merges another record of the same person (``from_customer_id``) into this customer,
        who survives: their open lots with their own activation and expiry, debt, cards,
        purchases (the tier standing) and bonus periods move here in one operation of type
        ``merge``. Refused while the merged customer has active holds. From then on the merged
        customer's id, phone and operations resolve to the survivor, whose statement shows both
        histories; the books reconcile as before."""
        command = msgspec.convert(data, MergeCommand, from_attributes=True)
        stored = await customers.merge(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Merge)
        )
        return respond(request, stored)

    @get("/customers/{customer_id:uuid}/balance", name="balance")
    async def balance(
        self, request: AnyRequest, customer_id: UUID, reads: Reads, actor: Actor
    ) -> Response[Balance]:
        """Available, reserved and pending points, debt, and what expires soon."""
        return answer(request, await reads.balance(actor, customer_id), Balance)

    @get("/customers/{customer_id:uuid}/operations", name="statement")
    async def statement(
        self,
        request: AnyRequest,
        customer_id: UUID,
        reads: Reads,
        actor: Actor,
        limit: Annotated[int, Parameter(ge=1, le=limits.page_size_max)] = limits.page_size_default,
        cursor: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Response[OperationPage]:
        """The customer's operations, newest first, a page at a time (``cursor`` from the
        previous page)."""
        outcome = await reads.statement(actor, customer_id, limit, cursor)
        return answer(request, outcome, OperationPage)

    @post("/customers/{customer_id:uuid}/cards", name="add_card", status_code=201)
    async def add_card(
        self, request: AnyRequest, customer_id: UUID, data: CardCreate, customers: Customers
    ) -> Response[Customer]:
        """Adds a card number to the customer."""
        stored = await customers.add_card(
            mutation_for(request, data, customer_id), customer_id, data.number, renderer(Customer)
        )
        return respond(request, stored)

    @get("/cards/{number:str}", name="get_card")
    async def get_card(
        self, request: AnyRequest, number: str, customers: Customers, actor: Actor
    ) -> Response[CardJournal]:
        """The card with its status and its journal of blocks and unblocks."""
        return answer(request, await customers.card(actor, number), CardJournal)

    @post("/cards/{number:str}/block", name="block_card", status_code=200)
    async def block_card(
        self, request: AnyRequest, number: str, data: StatusChange, customers: Customers
    ) -> Response[CardJournal]:
        """Blocks a card with a reason; the card identifies no one until unblocked."""
        stored = await customers.set_card_status(
            mutation_for(request, data, number), number, True, data.reason, renderer(CardJournal)
        )
        return respond(request, stored)

    @post("/cards/{number:str}/unblock", name="unblock_card", status_code=200)
    async def unblock_card(
        self, request: AnyRequest, number: str, data: StatusChange, customers: Customers
    ) -> Response[CardJournal]:
        """Unblocks a blocked card; the reason is journaled."""
        stored = await customers.set_card_status(
            mutation_for(request, data, number), number, False, data.reason, renderer(CardJournal)
        )
        return respond(request, stored)

    @post(
        "/customers/{customer_id:uuid}/block",
        name="block_account",
        status_code=200,
        opt={"scopes": manager_scopes},
    )
    async def block_account(
        self, request: AnyRequest, customer_id: UUID, data: StatusChange, customers: Customers
    ) -> Response[Customer]:
        """Blocks the customer's account with a reason: no points move until it is unblocked."""
        stored = await customers.set_account_block(
            mutation_for(request, data, customer_id),
            customer_id,
            True,
            data.reason,
            renderer(Customer),
        )
        return respond(request, stored)

    @post(
        "/customers/{customer_id:uuid}/unblock",
        name="unblock_account",
        status_code=200,
        opt={"scopes": manager_scopes},
    )
    async def unblock_account(
        self, request: AnyRequest, customer_id: UUID, data: StatusChange, customers: Customers
    ) -> Response[Customer]:
        """Unblocks the customer's account."""
        stored = await customers.set_account_block(
            mutation_for(request, data, customer_id),
            customer_id,
            False,
            data.reason,
            renderer(Customer),
        )
        return respond(request, stored)
