"""A token bucket in Redis, shared by every worker process: how a partner's rate limit (Bitrix24:
2 requests a second per portal, a burst of 50) is kept however many workers call it.

One Lua script reads the bucket, refills it for the time passed on Redis's own clock (so workers'
clocks never disagree), and takes a token or says how long until one is due; it runs atomically,
so racing workers can never take the same token. As with the account locks, Redis only spaces
the calls: when it cannot answer the call goes ahead, and the partner's own limit answer (429,
``QUERY_LIMIT_EXCEEDED``) defers or retries the event, so nothing stops because Redis is away."""

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# KEYS[1] the bucket; ARGV rate (tokens/s), burst, and optionally the time in milliseconds (tests
# pass their own clock; otherwise Redis's). Returns the milliseconds to wait, 0 = granted.
_take_script = """
local now_ms = tonumber(ARGV[3])
if now_ms == nil then
    local now = redis.call('time')
    now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('hmget', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, at = burst, now_ms end
tokens = math.min(burst, tokens + (now_ms - at) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('hset', KEYS[1], 'tokens', tostring(tokens), 'at', now_ms)
redis.call('pexpire', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


class RedisRateLimiter:
    def __init__(self, client: redis.Redis, prefix: str = "bonus:rate:") -> None:
        self.prefix = prefix
        self.take = client.register_script(_take_script)

    async def acquire(
        self, key: str, rate: float, burst: int, *, now_ms: int | None = None
    ) -> float:
        """Takes a token, or says how many seconds until one is due. ``now_ms`` is for tests
        that need time to stand still or jump; by default the bucket runs on Redis's clock."""
        args: list[float] = [rate, burst] if now_ms is None else [rate, burst, now_ms]
        try:
            wait_ms = await self.take(keys=[self.prefix + key], args=args)
        except RedisError as error:
            log.warning("rate_limiter_unavailable", key=key, error=repr(error))
            return 0.0
        return int(wait_ms) / 1000
