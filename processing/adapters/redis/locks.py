"""Per-account locks in Redis: a random token, a TTL, compare-and-delete release and a bounded
wait. They only reduce contention. When Redis fails, or the wait reaches its bound, the request
goes on under Postgres row locks alone, a metric counts it, and nothing fails because of Redis.
The code never assumes it still holds the lock once the TTL may have passed.

Requests of one process on one account first queue for their turn in the process (an asyncio
lock, first come first served, handed on the moment it is released), and only the one whose turn
it is asks Redis. Without that queue every waiter polled Redis with backoff, the lock stood free
between a release and the next poll, nobody's turn was kept, and a hot account reached two
thirds of the pairs a second it reaches now, with a p99 three to four times as long (see
loadtests/RESULTS.md). Across processes and instances Redis still decides.
"""

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

import redis.asyncio as redis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from processing import telemetry
from processing.core import limits

log = structlog.get_logger(__name__)

# Deletes the key only if it still holds our token, so a late release never frees another's lock.
_release_script = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


@dataclass
class _Turn:
    """This process's queue for one account: the lock and how many requests hold or wait for it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class RedisAccountLocks:
    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_ms: int = limits.lock_ttl_ms,
        wait_ms_max: int = limits.lock_wait_ms_max,
    ) -> None:
        self.client = client
        self.ttl_ms = ttl_ms
        self.wait_ms_max = wait_ms_max
        self._release = client.register_script(_release_script)
        self._skip_until = 0.0
        self._turns: dict[UUID, _Turn] = {}

    @property
    def pausing(self) -> bool:
        """Whether requests skip Redis now, in the pause after a recent Redis failure."""
        return time.monotonic() < self._skip_until

    @property
    def accounts_in_use(self) -> int:
        """Accounts that a request of this process holds or waits for now."""
        return len(self._turns)

    @asynccontextmanager
    async def around(self, account_id: UUID) -> AsyncIterator[None]:
        started = time.monotonic()
        deadline = started + self.wait_ms_max / 1000
        key = f"bonus:lock:account:{account_id}"
        token = secrets.token_hex(16)
        async with self._turn(account_id, started, deadline) as ours:
            acquired = await self._acquire(key, token, started, deadline) if ours else False
            try:
                yield
            finally:
                if acquired:
                    await self._release_quietly(key, token)

    @asynccontextmanager
    async def _turn(self, account_id: UUID, started: float, deadline: float) -> AsyncIterator[bool]:
        """Waits, until ``deadline`` at most, for this process's earlier requests on the account
        to finish; yields whether the turn came (if not, the request goes on without a lock)."""
        turn = self._turns.get(account_id)
        if turn is None:
            turn = self._turns[account_id] = _Turn()
        turn.users += 1
        try:
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    await turn.lock.acquire()
            except TimeoutError:
                telemetry.lock_timeouts_total.inc()
                telemetry.lock_wait_seconds.observe(time.monotonic() - started)
                yield False
                return
            try:
                yield True
            finally:
                turn.lock.release()
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._turns[account_id]

    async def _acquire(self, key: str, token: str, started: float, deadline: float) -> bool:
        if self.pausing:
            telemetry.degraded_requests_total.labels(reason="redis_recently_failed").inc()
            return False
        pause_ms = 1.0
        try:
            while True:
                if await self.client.set(key, token, nx=True, px=self.ttl_ms):
                    telemetry.lock_wait_seconds.observe(time.monotonic() - started)
                    telemetry.redis_up.set(1)
                    return True
                if time.monotonic() >= deadline:
                    telemetry.lock_timeouts_total.inc()
                    telemetry.lock_wait_seconds.observe(time.monotonic() - started)
                    return False
                await asyncio.sleep(random.uniform(0.5, 1.0) * pause_ms / 1000)  # noqa: S311
                pause_ms = min(pause_ms * 2, limits.lock_retry_ms_max)
        except (TimeoutError, RedisError, OSError) as error:
            self._note_failure(error)
            return False

    async def _release_quietly(self, key: str, token: str) -> None:
        try:
            await self._release(keys=[key], args=[token])
        except (TimeoutError, RedisError, OSError) as error:
            # The lock's TTL frees it anyway; the ledger never depended on it.
            self._note_failure(error)

    def _note_failure(self, error: BaseException) -> None:
        self._skip_until = time.monotonic() + limits.redis_retry_after_failure_ms / 1000
        telemetry.redis_up.set(0)
        telemetry.degraded_requests_total.labels(reason="redis_error").inc()
        log.warning("redis_lock_degraded", error=repr(error))


class NoAccountLocks:
    """For one-shot commands (expire, reconcile) where Postgres row locks are enough."""

    @asynccontextmanager
    async def around(self, account_id: UUID) -> AsyncIterator[None]:
        yield


def create_client(url: str, timeout_ms: int = limits.redis_timeout_ms) -> redis.Redis:
    timeout = timeout_ms / 1000
    # No client-side retries: a failed call degrades this request at once instead of tripling
    # its wait; the breaker above decides when to try Redis again.
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
        retry=Retry(NoBackoff(), 0),
    )
