"""The deterministic simulation (``deterministic.py``): at least 100,000 operations per seed on
the in-memory plan writer, the same seeds shorter on Postgres, and a run that is the same run
every time from its seed. ``make soak`` runs a million per seed.

``BONUS_SIM_OPERATIONS`` sets the operations per seed on memory; ``BONUS_SIM_SEED`` runs one
seed of your choosing (the seed and step a failure names)."""

import os
import time

import pytest

from tests.conftest import Api
from tests.simulation.deterministic import Fault, MemorySimulated, Simulation
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
