"""A sliding-window rate limit per partner API key in Redis, shared by every worker process
(RetailCRM allows 10 requests a second per key and answers 429/503 above it). One Lua script
trims the window, counts and records a call atomically, on Redis's own clock, so processes
with skewed clocks still share one window. Redis only spaces the calls: when it fails the call
goes ahead (the partner's own limit answer is then retried with the inbox backoff)."""

import asyncio
import hashlib
import secrets

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from processing.service.ports import PartnerUnavailable

log = structlog.get_logger(__name__)
rate_requests_max = 10
rate_window_ms = 1000
# Calls leave us a few milliseconds apart from when they reach the partner: a margin on the
# window keeps network jitter from putting 11 calls into the partner's second.
rate_window_margin_ms = 150
rate_wait_ms_max = 5000

# KEYS[1] the window; ARGV: window ms, max calls, a unique member. Returns 0 when the call is
# recorded, else the milliseconds until the oldest call leaves the window.
_acquire_script = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now_ms + 1)
"""


class RedisRateLimiter:
    def __init__(
        self,
        client: redis.Redis,
        *,
        requests_max: int = rate_requests_max,
        window_ms: int = rate_window_ms + rate_window_margin_ms,
        wait_ms_max: int = rate_wait_ms_max,
    ) -> None:
        self.requests_max = requests_max
        self.window_ms = window_ms
        self.wait_ms_max = wait_ms_max
        self._acquire = client.register_script(_acquire_script)

    async def acquire(self, key: str) -> None:
        # The key itself never reaches Redis: a digest names its window.
        window = "bonus:rate:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        waited_ms = 0
        while True:
            try:
                wait_ms = int(
                    await self._acquire(
                        keys=[window],
                        args=[self.window_ms, self.requests_max, secrets.token_hex(8)],
                    )
                )
            except (RedisError, OSError) as error:
                log.warning("rate_limiter_unavailable", error=repr(error))
                return
            if wait_ms == 0:
                return
            if waited_ms + wait_ms > self.wait_ms_max:
                raise PartnerUnavailable("the partner API key's rate is spent; try again later")
            await asyncio.sleep(wait_ms / 1000)
            waited_ms += wait_ms
