"""The deterministic simulation's backend on the in-memory plan writer, and its invariant checks.

After every step the checks read what the writer appended since the step before (entries,
operations, holds) and check every account and lot that was written, whichever request wrote
it, plus the accounts the step names: so each invariant is checked at the step that could break
it, at a cost that follows the step, not the ledger. ``check_all`` recomputes all of it from
the whole ledger, from nothing kept between checks, at the intervals ``deterministic.py`` sets
and at the end: the incremental sums are themselves checked against a count from scratch.
"""

import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from processing.adapters.memory.turns import MemoryTurns
from processing.core import limits
from processing.core.model import HoldStatus, OperationType
from processing.service.ports import AccountLocks, Database, NewOperation
from processing.service.records import Actor, StoredResponse
from tests.turns_backends import MemoryDatabase, NoLocks

# The operations that resolve a hold: each hold is resolved by one of them, once.
resolving = frozenset({OperationType.commit, OperationType.cancel, OperationType.expire})
Value = TypeVar("Value")


class Clock:
    """The database's clock, moved only by the simulation."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class WriteOnce(dict[Any, Any]):
    """The writer's idempotency answers: a key answers once, so the simulation's store refuses
    to overwrite or drop one, at the write that tries (``check_all`` compares them all again)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        assert key not in self, f"the answer under {key} was written again"
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        raise AssertionError(f"the answer under {key} was dropped")

    def pop(self, *arguments: Any) -> Any:
        raise AssertionError(f"an answer was dropped: {arguments}")


class MemorySimulated:
    """The simulation's backend on the in-memory plan writer, with its invariant checks."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.memory = MemoryTurns(self.clock)
        self.memory.answers = WriteOnce()
        self.database: Database = MemoryDatabase(self.memory)
        self.locks: AccountLocks = NoLocks()
        program_id = self.memory.add_program()
        self.actor = Actor(
            key_id=UUID(int=1), program_id=program_id, scopes=frozenset({"pos"}), store_id="s-1"
        )
        self.operator = Actor(
            key_id=UUID(int=2), program_id=None, scopes=frozenset({"admin"}), store_id=None
        )
        # What the entries say, read as they are appended (the ledger's own sums).
        self.entries_seen = self.operations_seen = self.holds_seen = 0
        self.by_account: Counter[UUID] = Counter()
        self.by_lot: Counter[UUID] = Counter()
        self.active: defaultdict[UUID, set[UUID]] = defaultdict(set)
        self.resolved: set[UUID] = set()  # the holds an operation resolved

    async def account(self, points: int) -> UUID:
        assert self.actor.program_id is not None
        account_id = self.memory.add_account(self.actor.program_id)
        self.memory.fund(account_id, points)
        return account_id

    async def fund(self, account_id: UUID, points: int) -> None:
        self.memory.fund(account_id, points)

    async def interfere(self, account_id: UUID) -> None:
        self.memory.fund(account_id, 1)

    async def tick(self, rng: random.Random) -> None:
        self.clock.now += timedelta(milliseconds=rng.randint(0, 200))

    async def jump(self, rng: random.Random, hold_ids: list[UUID]) -> None:
        ttl = limits.hold_ttl_seconds_default
        seconds = rng.randint(ttl // 2, 2 * ttl)
        self.clock.now += timedelta(seconds=seconds)

    async def operations(self) -> int:
        return len(self.memory.operations)

    async def owner(self, operation_id: UUID) -> list[UUID]:
        return [self.memory.operations[operation_id].account_id]

    async def answer(self, key: str) -> tuple[bytes, bytes] | None:
        return self._answer(key)

    async def check(self, touched: set[UUID]) -> None:
        accounts, lots = self._absorb()
        rows = self.memory.accounts
        for account_id in touched | accounts:
            if rows[account_id].kind == "customer":
                self._check_account(account_id)
        for lot_id in lots:
            self._check_lot(lot_id)

    def _absorb(self) -> tuple[set[UUID], set[UUID]]:
        """Reads what was written since the last check: every operation's entries sum to zero
        (I1), each account's and lot's sums are kept, a hold is resolved by one operation, and a
        refund stays within what it refunds (I6). Returns the accounts and lots written."""
        memory = self.memory
        entries, operations, holds = memory.entries, memory.operations, memory.holds
        lots: set[UUID] = set()
        if len(entries) > self.entries_seen:
            per_operation: dict[UUID, int] = {}
            by_account, by_lot = self.by_account, self.by_lot
            for entry in entries[self.entries_seen :]:
                operation_id = entry.operation_id
                per_operation[operation_id] = per_operation.get(operation_id, 0) + entry.points
                by_account[entry.account_id] += entry.points
                if entry.lot_id is not None:
                    by_lot[entry.lot_id] += entry.points
                    lots.add(entry.lot_id)
            self.entries_seen = len(entries)
            unbalanced = {operation: total for operation, total in per_operation.items() if total}
            assert not unbalanced, f"operations whose entries do not sum to zero: {unbalanced}"
        accounts: set[UUID] = set()
        if len(operations) > self.operations_seen:
            for operation in latest(operations, self.operations_seen):
                accounts.add(operation.account_id)
                self._absorb_operation(operation)
            self.operations_seen = len(operations)
        if len(holds) > self.holds_seen:
            for hold in latest(holds, self.holds_seen):
                self.active[hold.account_id].add(hold.id)
            self.holds_seen = len(holds)
        return accounts, lots

    def _absorb_operation(self, operation: NewOperation) -> None:
        memory = self.memory
        if operation.hold_id is not None and operation.type in resolving:
            assert operation.hold_id not in self.resolved, "a hold is resolved once"
            self.resolved.add(operation.hold_id)
            resolved_by = memory.holds[operation.hold_id].resolved_by
            assert resolved_by == operation.id, "a hold names the operation that resolved it"
        if operation.refund_of is not None:
            refunded = memory.refunded.get(operation.refund_of, 0)
            original = memory.operations[operation.refund_of]
            assert 0 <= refunded <= abs(original.points), "refunds stay within the original (I6)"

    def _check_account(self, account_id: UUID) -> None:
        memory = self.memory
        row = memory.accounts[account_id]
        held = self._earmarks(account_id)
        lots, by_lot = memory.open_lots[account_id], self.by_lot
        posted = reserved = 0
        for lot_id, lot in lots.items():
            assert 0 <= lot.held <= lot.remaining <= lot.points, f"lot out of bounds: {lot}"
            assert lot.remaining == by_lot[lot_id], "a lot's remaining = its entries"
            assert lot.held == held.get(lot_id, 0), "a lot's held = the active holds' earmarks"
            posted += lot.remaining
            reserved += lot.held
        assert row.posted == self.by_account[account_id], "posted = the account's entries (I2)"
        assert row.posted == posted, "posted = its lots"
        assert row.reserved == reserved == sum(held.values()), "reserved = its holds' earmarks"
        assert 0 <= row.reserved <= row.posted
        assert held.keys() <= lots.keys(), "an active hold earmarks open lots only"

    def _earmarks(self, account_id: UUID) -> dict[UUID, int]:
        """The points the account's active holds earmark, by lot; a hold found resolved leaves
        the set, checked as it goes."""
        holds, active = self.memory.holds, self.active[account_id]
        held: dict[UUID, int] = {}
        for hold_id in tuple(active):
            hold = holds[hold_id]
            if hold.status is not HoldStatus.active:
                active.discard(hold_id)
                assert hold_id in self.resolved, "a hold leaves active by an operation"
                committed = hold.status is HoldStatus.committed
                assert committed == (hold.committed_points is not None), "what a commit spent"
                continue
            assert hold.resolved_by is None, "an active hold is resolved by nothing"
            for allocation in hold.allocations:
                held[allocation.lot_id] = held.get(allocation.lot_id, 0) + allocation.points
        return held

    def _check_lot(self, lot_id: UUID) -> None:
        """A lot its entries moved, open or closed by them."""
        memory = self.memory
        lot = memory.lots[lot_id]
        assert lot.remaining == self.by_lot[lot_id], "a lot's remaining = its entries"
        assert 0 <= lot.held <= lot.remaining <= lot.points, f"lot out of bounds: {lot}"
        assert (lot_id in memory.open_lots[lot.account_id]) == (lot.remaining > 0), "open lots"

    async def check_all(self, answers: dict[str, tuple[bytes, bytes]]) -> None:
        """The whole ledger, recounted from the writer's records alone."""
        await self.check(set())
        memory = self.memory
        # Keyed by the ids' integers: a UUID hashes in Python, an int does not, and this loop
        # runs once per entry of the whole ledger.
        by_account: Counter[int] = Counter()
        by_lot: Counter[int] = Counter()
        for entry in memory.entries:
            by_account[entry.account_id.int] += entry.points
            if entry.lot_id is not None:
                by_lot[entry.lot_id.int] += entry.points
        assert by_account == by_int(self.by_account), "the kept sums = the entries, recounted"
        assert by_lot == by_int(self.by_lot), "the kept sums = the entries, recounted"
        assert sum(by_account.values()) == 0, "the ledger sums to zero"
        held = self._check_holds_all()
        for account_id, row in memory.accounts.items():
            if row.kind == "customer":
                self._check_account(account_id)
        for lot in memory.lots.values():
            assert lot.remaining == by_lot[lot.id.int], "a lot's remaining = its entries"
            assert lot.held == held[lot.id], "a lot's held = the active holds' earmarks on it"
            assert 0 <= lot.held <= lot.remaining <= lot.points, f"lot out of bounds: {lot}"
            assert (lot.id in memory.open_lots[lot.account_id]) == (lot.remaining > 0)
        for operation_id, refunded in memory.refunded.items():
            assert 0 <= refunded <= abs(memory.operations[operation_id].points), "refunds (I6)"
        self._check_answers_all(answers)

    def _check_holds_all(self) -> Counter[UUID]:
        """Every hold's status agrees with its resolution; returns the active earmarks."""
        memory = self.memory
        held: Counter[UUID] = Counter()
        for hold in memory.holds.values():
            assert (hold.status is HoldStatus.committed) == (hold.committed_points is not None)
            assert (hold.status is HoldStatus.active) == (hold.resolved_by is None)
            if hold.status is HoldStatus.active:
                for allocation in hold.allocations:
                    held[allocation.lot_id] += allocation.points
        resolutions = Counter(
            operation.hold_id
            for operation in memory.operations.values()
            if operation.hold_id is not None and operation.type in resolving
        )
        assert max(resolutions.values(), default=0) <= 1, "a hold is resolved once"
        assert resolutions.keys() == self.resolved, "the kept resolutions, recounted"
        return held

    def _check_answers_all(self, answers: dict[str, tuple[bytes, bytes]]) -> None:
        """Every answer the simulation was given is stored, once, unchanged. One pass over the
        store, by key: looking each one up would hash two ids per key."""
        found = 0
        for (_, key), (fingerprint, response) in self.memory.answers.items():
            expected = answers.get(key)
            if expected is not None:
                found += 1
                assert (fingerprint, response.body) == expected, f"the answer under {key} changed"
        assert found == len(answers), "every answer given is stored under its key, once"

    def _answer(self, key: str) -> tuple[bytes, bytes] | None:
        answers: Mapping[tuple[UUID, str], tuple[bytes, StoredResponse]] = self.memory.answers
        found = answers.get((self.actor.key_id, key)) or answers.get((self.operator.key_id, key))
        return None if found is None else (found[0], found[1].body)


def by_int(sums: Counter[UUID]) -> Counter[int]:
    return Counter({key.int: points for key, points in sums.items()})


def latest(rows: dict[Any, Value], seen: int) -> Iterator[Value]:
    """The rows added to an insertion-ordered dictionary since it held ``seen``, newest first,
    without walking the older ones."""
    return itertools.islice(reversed(rows.values()), len(rows) - seen)
