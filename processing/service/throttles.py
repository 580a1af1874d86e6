"""Failed authentication, throttled per client address: a token bucket in each process.

Every unknown or revoked key takes a token from its address's bucket; an
address with none left is answered 429 before its key is looked up, so a flood of bad keys costs
neither a database query nor a hash-table miss per request. Keys this process already knows to
be live (its key cache) still pass from a throttled address: a till behind the same NAT as a
broken one keeps working. The buckets live in process memory and are bounded in number; with N
processes an address may fail N times the burst before every one of them refuses it, which is
the price of not asking Redis on every failure.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

from processing.core import limits


class FailureThrottle:
    def __init__(
        self,
        burst: int = limits.auth_failures_burst,
        refill_seconds: float = limits.auth_failure_refill_seconds,
        addresses_max: int = limits.auth_failure_addresses_max,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.addresses_max = addresses_max
        self.clock = clock
        # address → (tokens, when they were counted); least recently failing first.
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, address: str, now: float) -> float:
        found = self.buckets.get(address)
        if found is None:
            return float(self.burst)
        tokens, at = found
        return min(float(self.burst), tokens + (now - at) / self.refill_seconds)

    def wait_seconds(self, address: str) -> float:
        """0 when ``address`` may try a key now; otherwise the seconds until it may."""
        tokens = self._tokens(address, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) * self.refill_seconds

    def failed(self, address: str) -> None:
        """Takes a token from the address's bucket (never below zero)."""
        now = self.clock()
        tokens = max(0.0, self._tokens(address, now) - 1)
        self.buckets[address] = (tokens, now)
        self.buckets.move_to_end(address)
        while len(self.buckets) > self.addresses_max:
            self.buckets.popitem(last=False)
