"""The connection pool and the two ways the service uses it: in a transaction, or to read."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import asyncpg

from processing.adapters.postgres.store import Connection, PostgresStore
from processing.adapters.sealing import Keyring
from processing.service.ports import DatabaseRefusedData, DatabaseUnavailable, RetryTransaction

# Business documents and open holds are unique per receipt: when two requests race on one, the
# loser fails on one of these and is retried, and the retry sees the winner's row.
_race_constraints = frozenset({"operations_document", "holds_open_document"})

# The server is gone or going: refused or cut connections (OSError), connection exceptions
# (class 08), the server shutting down or starting up (57P01, 57P02, 57P03), and a connection
# that a cut left in a corrupt protocol state (asyncpg's InternalClientError, "cannot switch to
# state ...": asyncpg issues 784 and 1069).
_unavailable = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.InternalClientError,
)
# A value the server (class 22) or asyncpg's own encoder refused: the request's fault.
_refused_data = (asyncpg.DataError, asyncpg.exceptions._base.DataError)


def _cause_of_unavailability(error: BaseException) -> BaseException | None:
    """The connection failure behind ``error``, if any. asyncpg reports a connection cut inside
    a transaction as an InterfaceError from the transaction's exit, raised while handling it."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _unavailable):
            return seen
        seen = seen.__context__
    return None


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    try:
        yield
    except _refused_data as error:
        raise DatabaseRefusedData(str(error)) from error
    except (*_unavailable, asyncpg.InterfaceError) as error:
        cause = _cause_of_unavailability(error)
        if cause is None:
            raise
        raise DatabaseUnavailable(repr(cause)) from error


@asynccontextmanager
async def _connection(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    async with _reachable(), pool.acquire() as connection:
        try:
            yield connection
        except asyncpg.InternalClientError:
            connection.terminate()  # its protocol state is corrupt: it must never be used again
            raise


async def _keep_session(connection: Connection) -> None:
    """The pool's reset on release. Before calling it asyncpg has already rolled back a
    transaction left open; asyncpg's default would then send one more statement on every
    release (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``), a round trip per
    request that a balance read cannot afford. The service leaves nothing for it to undo: its
    settings and advisory locks are transaction-scoped, it declares no cursors WITH HOLD and
    listens to nothing. (The migration runner's session lock is released by the runner itself.)
    """


def application_name(url: str) -> str:
    """The name the sessions show in pg_stat_activity: ``application_name`` from the URL when it
    has one (to tell instances apart), else ``bonus-processing``."""
    return parse_qs(urlsplit(url).query).get("application_name", ["bonus-processing"])[0]


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        reset=_keep_session,
        # Bounded waits: a stuck lock or runaway query fails one request, not the whole pool.
        server_settings={
            "application_name": application_name(url),
            "lock_timeout": "5s",
            "statement_timeout": "15s",
            "idle_in_transaction_session_timeout": "60s",
            "timezone": "UTC",
        },
    )


class PostgresDatabase:
    def __init__(self, pool: asyncpg.Pool, keyring: Keyring) -> None:
        self.pool = pool
        self.keyring = keyring

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresStore]:
        try:
            async with _connection(self.pool) as connection, connection.transaction():
                yield PostgresStore(connection, self.keyring)
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name in _race_constraints:
                raise RetryTransaction(error.constraint_name) from error
            raise

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[PostgresStore]:
        async with _connection(self.pool) as connection:
            yield PostgresStore(connection, self.keyring)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresStore]:
        """Several reads that must agree with each other, such as the checks of reconcile."""
        async with (
            _connection(self.pool) as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield PostgresStore(connection, self.keyring)
