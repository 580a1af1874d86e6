"""A small migration runner: numbered ``.sql`` files applied once each, in order, under an
advisory lock so that several instances starting at once migrate exactly once."""

from importlib import resources

import asyncpg
import structlog

from processing.adapters.postgres.store import Connection

log = structlog.get_logger(__name__)

# Any constant works; it only has to be the same in every process that migrates.
_migration_lock_id = 7_311_202_611


def available() -> list[tuple[str, str]]:
    folder = resources.files("processing.migrations")
    files = sorted(item.name for item in folder.iterdir() if item.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), folder.joinpath(name).read_text("utf-8")) for name in files]


async def migrate(connection: Connection) -> list[str]:
    await connection.execute("select pg_advisory_lock($1)", _migration_lock_id)
    try:
        await connection.execute(
            "create table if not exists schema_migrations "
            "(version text primary key, applied_at timestamptz not null default now())"
        )
        done = {
            row["version"]
            for row in await connection.fetch("select version from schema_migrations")
        }
        applied = []
        for version, sql in available():
            if version in done:
                continue
            async with connection.transaction():
                await connection.execute(sql)
                await connection.execute(
                    "insert into schema_migrations (version) values ($1)", version
                )
            log.info("migration_applied", version=version)
            applied.append(version)
        return applied
    finally:
        await connection.execute("select pg_advisory_unlock($1)", _migration_lock_id)


class LedgerUnreachable(Exception):
    """The database could not be connected to; ``misconfigured`` when the server refused what
    was asked (a wrong password, no such database, a malformed URL) rather than not answering."""

    def __init__(self, reason: str, *, misconfigured: bool) -> None:
        super().__init__(reason)
        self.misconfigured = misconfigured


async def has_ledger(url: str) -> bool:
    """True when the database at ``url`` was migrated before: there is a ledger to act on."""
    try:
        connection = await asyncpg.connect(url)
    except (asyncpg.PostgresError, ValueError) as error:
        raise LedgerUnreachable(f"refused: {error}", misconfigured=True) from error
    except (OSError, TimeoutError) as error:
        raise LedgerUnreachable(f"did not answer: {error}", misconfigured=False) from error
    try:
        found = await connection.fetchval("select to_regclass('schema_migrations') is not null")
        return bool(found)
    finally:
        await connection.close()
