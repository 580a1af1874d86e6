"""The deterministic simulation (``deterministic.py``): at least 100,000 operations per seed on
the in-memory plan writer, the same seeds shorter on Postgres, and a run that is the same run
every time from its seed. ``make soak`` runs a million per seed.

``BONUS_SIM_OPERATIONS`` sets the operations per seed on memory; ``BONUS_SIM_SEED`` runs one
seed of your choosing (the seed and step a failure names). A writer broken on purpose, one way
per invariant, is caught at the step that broke it."""

import os
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from processing.adapters.memory.turns import LotRow, MemoryTurns
from processing.core.model import HoldStatus
from processing.service.ports import Applied, Plan
from processing.service.records import StoredResponse
from tests.conftest import Api
from tests.simulation.deterministic import Fault, Simulation
from tests.simulation.memory_backend import MemorySimulated
from tests.simulation.postgres_backend import PostgresSimulated

operations_per_seed = int(os.environ.get("BONUS_SIM_OPERATIONS", "100000"))
seeds = [int(os.environ["BONUS_SIM_SEED"])] if "BONUS_SIM_SEED" in os.environ else [1, 20261204]
postgres_operations = 500


@pytest.mark.parametrize("seed", seeds)
async def test_memory_simulation_keeps_every_invariant(seed: int) -> None:
    simulation = Simulation(MemorySimulated(), seed)
    started = time.perf_counter()
    stats = await simulation.run(operations_per_seed)
    elapsed = time.perf_counter() - started
    print(  # noqa: T201 (shown with -s: what the run did)
        f"seed {seed}: {operations_per_seed} operations in {elapsed:.1f} s, "
        f"faults {dict(simulation.faults.injected)}, outcomes {dict(stats.outcomes)}"
    )
    assert_exercised(simulation, operations_per_seed)


def assert_exercised(simulation: Simulation, operations: int) -> None:
    """The run did what it is for: every fault fired, every outcome happened."""
    stats, share = simulation.stats, operations // 500
    assert min(simulation.faults.injected[fault] for fault in Fault) >= share, (
        simulation.faults.injected
    )
    for outcome in (
        "accrue accepted",
        "adjust accepted",
        "reserve accepted",
        "commit accepted",
        "cancel accepted",
        "refund accepted",
    ):
        assert stats.outcomes[outcome] >= share, stats.outcomes
    assert stats.outcomes["hold expired"] + stats.outcomes["commit hold_expired"] >= share // 10
    assert stats.outcomes["reserve insufficient_points"] >= 1, stats.outcomes
    assert min(stats.replays, stats.reused, stats.jumps, stats.restarts) >= share // 10


async def test_a_seed_is_the_same_run_every_time() -> None:
    digests = []
    for _ in range(2):
        simulation = Simulation(MemorySimulated(), 42)
        await simulation.run(3_000)
        digests.append(simulation.stats.digest.hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.parametrize("seed", seeds)
async def test_postgres_simulation_keeps_every_invariant(api: Api, seed: int) -> None:
    simulation = Simulation(await PostgresSimulated.open(api), seed, accounts=10)
    await simulation.run(postgres_operations)
    assert sum(simulation.faults.injected.values()) >= 20, simulation.faults.injected
    assert simulation.stats.outcomes["commit accepted"] >= 20, simulation.stats.outcomes


def resolved(plan: Plan) -> UUID:
    hold_id = plan.change.operation.hold_id
    assert hold_id is not None
    return hold_id


def release_too_little(memory: MemoryTurns, plan: Plan) -> None:
    """A cancel that leaves a point earmarked on the lot."""
    hold = memory.holds[resolved(plan)]
    memory.lots[hold.allocations[0].lot_id].held += 1


def drop_the_counter_entry(memory: MemoryTurns, plan: Plan) -> None:
    """A commit whose entries no longer sum to zero."""
    memory.entries.pop()


def leave_the_hold_active(memory: MemoryTurns, plan: Plan) -> None:
    """A commit that spends the points but leaves its hold active."""
    hold = memory.holds[resolved(plan)]
    hold.status, hold.committed_points, hold.resolved_by = HoldStatus.active, None, None


def refund_past_the_original(memory: MemoryTurns, plan: Plan) -> None:
    """A refund counted past what the operation it refunds moved (I6)."""
    original = plan.change.operation.refund_of
    assert original is not None
    memory.refunded[original] = abs(memory.operations[original].points) + 1


def move_points_without_entries(memory: MemoryTurns, plan: Plan) -> None:
    """An accrual whose lot and balance agree with each other, but not with the entries."""
    account = memory.accounts[plan.change.operation.account_id]
    lot: LotRow = next(iter(memory.open_lots[account.id].values()))
    lot.remaining += 1
    lot.points += 1
    account.posted += 1


def overwrite_an_answer(memory: MemoryTurns, plan: Plan) -> None:
    """A reserve that stores its answer again under its key, changed."""
    changed = StoredResponse(status_code=500, media_type="application/json", body=b"{}")
    memory.answers[plan.key_id, plan.key] = (plan.fingerprint, changed)


breakages: dict[str, tuple[str, Callable[[MemoryTurns, Plan], None]]] = {
    "release too little": ("cancel", release_too_little),
    "drop the counter entry": ("commit", drop_the_counter_entry),
    "leave the hold active": ("commit", leave_the_hold_active),
    "refund past the original": ("refund", refund_past_the_original),
    "move points without entries": ("accrual", move_points_without_entries),
    "overwrite an answer": ("reserve", overwrite_an_answer),
}


@pytest.mark.parametrize("breakage", list(breakages))
async def test_a_broken_writer_is_caught_at_the_step_it_breaks(
    breakage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = MemorySimulated()
    simulation = Simulation(backend, 7)
    kind, corrupt = breakages[breakage]
    broken_at: list[int] = []
    apply_plan = backend.memory.apply_plan

    async def broken(plan: Plan) -> Any:
        applied = await apply_plan(plan)
        due = simulation.step_number >= 1_000 and not broken_at
        if due and applied is Applied.applied and plan.change.operation.type == kind:
            broken_at.append(simulation.step_number)
            corrupt(backend.memory, plan)
        return applied

    monkeypatch.setattr(backend.memory, "apply_plan", broken)
    with pytest.raises(AssertionError) as caught:
        await simulation.run(4_000)
    assert broken_at, f"no {kind} was applied to break"
    assert f"step {broken_at[0]}:" in " ".join(caught.value.__notes__), caught.value
