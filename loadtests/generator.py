"""The load generator: an open model (requests start on a fixed schedule whatever the server
does, so a slow server cannot hide its tail) and a closed model (N clients back to back, for
maximum throughput).

Latency in the open model is measured from when a request was *due*, not when it was sent
(Gil Tene's coordinated-omission correction). A request that cannot start because the in-flight
cap is reached is counted as dropped, like k6's ``dropped_iterations``.
"""

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

# One unit of work: it sends one or more requests with ``client`` and returns the outcome of
# each ("ok", a problem code, "http_500", "transport_error").
Task = Callable[["Client"], Awaitable[list[str]]]


def operation_of(path: str) -> str:
    """The API operation a path names, for per-request latency."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return {"holds": "reserve", "refunds": "refund", "accruals": "accrue"}.get(last, last)


class Client:
    """A thin JSON client over one aiohttp session, returning (status, body), that also times
    each request by operation into ``timings`` (set by the model running it)."""

    def __init__(self, session: aiohttp.ClientSession, key: str) -> None:
        self.session = session
        self.headers = {"Authorization": f"Bearer {key}"}
        self.timings: defaultdict[str, list[float]] = defaultdict(list)

    async def get(self, path: str) -> tuple[int, dict[str, object]]:
        started = time.perf_counter()
        async with self.session.get(path, headers=self.headers) as response:
            result = response.status, await response.json(content_type=None)
        self.timings[operation_of(path)].append(time.perf_counter() - started)
        return result

    async def post(
        self, path: str, body: object, idempotency_key: str
    ) -> tuple[int, dict[str, object]]:
        headers = {**self.headers, "Idempotency-Key": idempotency_key}
        started = time.perf_counter()
        async with self.session.post(path, json=body, headers=headers) as response:
            result = response.status, await response.json(content_type=None)
        self.timings[operation_of(path)].append(time.perf_counter() - started)
        return result


def is_failure(outcome: str) -> bool:
    """A failure of the service rather than an expected business refusal."""
    return outcome.startswith(("http_5", "transport"))


def outcome_of(status: int, body: dict[str, object]) -> str:
    if status < 400:
        return "ok"
    code = body.get("code")
    return str(code) if code else f"http_{status}"


@dataclass
class Stats:
    """What one run measured: latencies of whole tasks in seconds, outcomes of each request."""

    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    offered_rate: float | None = None
    # Latency of single requests by operation, from when each was sent.
    requests: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Per task: seconds from the run's start to when it was due, its latency, whether it failed.
    started: float = 0.0
    timeline: list[tuple[float, float, bool]] = field(default_factory=list)
    # CPU microseconds per task, by whose: "machine" (everything on it), and where the bench
    # could tell them apart "api", "postgres", "redis", "generator".
    cpu_us: dict[str, float] = field(default_factory=dict)
    # Commands Redis processed per task: four a mutating request (SET, then the release script's
    # EVALSHA and the GET and DEL it runs), more when lock waiters poll.
    redis_commands: float | None = None

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float, samples: list[float] | None = None) -> float:
        """The nearest-rank percentile in milliseconds, of the tasks or of ``samples``."""
        values = self.latencies if samples is None else samples
        if not values:
            return float("nan")
        ordered = sorted(values)
        rank = min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000

    @property
    def errors(self) -> int:
        """Requests that failed for a reason other than an expected business refusal."""
        return sum(count for outcome, count in self.outcomes.items() if is_failure(outcome))

    def summary(self) -> dict[str, object]:
        return {
            "scenario": self.name,
            "offered_per_second": self.offered_rate,
            "throughput_per_second": round(self.throughput, 1),
            "tasks": len(self.latencies),
            "dropped": self.dropped,
            "p50_ms": round(self.percentile(0.50), 2),
            "p90_ms": round(self.percentile(0.90), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "p999_ms": round(self.percentile(0.999), 2),
            "outcomes": dict(self.outcomes.most_common()),
            "errors": self.errors,
            "cpu_us_per_task": {whose: round(us) for whose, us in self.cpu_us.items()},
            "redis_commands_per_task": (
                None if self.redis_commands is None else round(self.redis_commands, 2)
            ),
            "requests": {
                operation: {
                    "count": len(samples),
                    "p50_ms": round(self.percentile(0.50, samples), 2),
                    "p99_ms": round(self.percentile(0.99, samples), 2),
                }
                for operation, samples in sorted(self.requests.items())
            },
        }


def session_for(base_url: str, connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    return aiohttp.ClientSession(base_url=base_url, connector=connector, timeout=timeout)


async def attempt(task: Task, client: Client, stats: Stats, due: float) -> None:
    try:
        outcomes = await task(client)
    except (aiohttp.ClientError, TimeoutError):
        outcomes = ["transport_error"]
    latency = time.perf_counter() - due
    stats.latencies.append(latency)
    stats.outcomes.update(outcomes)
    stats.timeline.append((due - stats.started, latency, any(map(is_failure, outcomes))))


async def open_model(
    name: str, task: Task, client: Client, rate: float, seconds: float, in_flight_max: int = 512
) -> Stats:
    """Starts ``rate`` tasks per second for ``seconds``, each at its due time."""
    stats = Stats(name=name, offered_rate=rate)
    client.timings = stats.requests
    running: set[asyncio.Task[None]] = set()
    started = stats.started = time.perf_counter()
    total = int(rate * seconds)
    for index in range(total):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(running) >= in_flight_max:
            stats.dropped += 1
            continue
        job = asyncio.create_task(attempt(task, client, stats, due))
        running.add(job)
        job.add_done_callback(running.discard)
    if running:
        await asyncio.wait(running)
    stats.seconds = time.perf_counter() - started
    return stats


async def closed_model(
    name: str, task: Task, client: Client, concurrency: int, seconds: float
) -> Stats:
    """``concurrency`` clients, each starting its next task when the last one answered."""
    stats = Stats(name=name)
    client.timings = stats.requests
    started = stats.started = time.perf_counter()
    deadline = started + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            await attempt(task, client, stats, time.perf_counter())

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    stats.seconds = time.perf_counter() - started
    return stats
