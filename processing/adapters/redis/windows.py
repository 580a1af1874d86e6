"""Fixed-window counters in Redis for the public pages' abuse limits (decision 0031): one
``INCR`` of the window's key, with its expiry set when the window opens, in one script so that a
key is never left without an expiry. Unlike the partners' token bucket, these fail closed: a
page that sends SMS at a stranger's request must not send them unmetered because Redis is away.
"""

import redis.asyncio as redis
from redis.exceptions import RedisError

from processing.service.ports import AbuseWindowsUnavailable

# KEYS[1] the window's key; ARGV[1] its length in seconds. Returns the count with this one.
_count_script = """
local count = redis.call('incr', KEYS[1])
if count == 1 then redis.call('expire', KEYS[1], tonumber(ARGV[1])) end
return count
"""


class RedisAbuseWindows:
    def __init__(self, client: redis.Redis, prefix: str = "bonus:abuse:") -> None:
        self.client = client
        self.prefix = prefix
        self.script = client.register_script(_count_script)

    async def count(self, key: str, window_seconds: int) -> int:
        """Counts one request in the current window of ``window_seconds`` (windows start at
        multiples of it on Redis's clock) and answers the window's count."""
        try:
            seconds, _ = await self.client.time()
            window = int(seconds) // window_seconds
            counted = await self.script(
                keys=[f"{self.prefix}{key}:{window_seconds}:{window}"], args=[window_seconds]
            )
        except (RedisError, OSError, TimeoutError) as error:
            raise AbuseWindowsUnavailable(repr(error)) from None
        return int(counted)
