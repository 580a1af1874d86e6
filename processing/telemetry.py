"""Structured logs and every Prometheus metric the processing center exports, in one place so
that dashboards and alerts can be checked against it."""

import logging
import os
import sys

import msgspec
import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from processing.core.live_check import DifferenceKind

# With several server workers each process writes its samples to files in this folder and
# /metrics, whichever worker answers, adds them up. ``bonus serve`` sets it before it starts the
# workers; prometheus-client reads it when it is first imported.
multiprocess_folder_variable = "PROMETHEUS_MULTIPROC_DIR"
content_type = CONTENT_TYPE_LATEST

requests_total = Counter(
    "bonus_requests_total",
    "HTTP requests handled, by operation and outcome.",
    ["operation", "outcome"],
)
request_duration_seconds = Histogram(
    "bonus_request_duration_seconds",
    "HTTP request latency by operation.",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
rejections_total = Counter(
    "bonus_rejections_total", "Requests refused with a problem code.", ["code"]
)
http_edge_refusals_total = Counter(
    "bonus_http_edge_refusals_total",
    "Requests the server itself refused at the HTTP edge (api/edge.py), by reason: "
    "header_too_large, read_timeout, server_busy.",
    ["reason"],
)
idempotent_replays_total = Counter(
    "bonus_idempotent_replays_total", "Requests answered from a stored idempotent response."
)
lock_wait_seconds = Histogram(
    "bonus_lock_wait_seconds",
    "Time spent waiting for a per-account lock: its turn in this process, then Redis.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
)
lock_timeouts_total = Counter(
    "bonus_lock_timeouts_total",
    "Lock waits that reached their bound; the request went on under Postgres row locks alone.",
)
degraded_requests_total = Counter(
    "bonus_degraded_requests_total",
    "Requests served without the Redis lock because Redis failed or was recently failing.",
    ["reason"],
)
points_moved_total = Counter(
    "bonus_points_total", "Points moved by committed operations, by movement.", ["movement"]
)
expiry_sweeps_total = Counter("bonus_expiry_sweeps_total", "Expiry sweeps finished.")
expired_holds_total = Counter(
    "bonus_expired_holds_total", "Holds released at the end of their TTL."
)
webhook_deliveries_total = Counter(
    "bonus_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, retried (failed, tried again), dead.",
    ["outcome"],
)
messages_total = Counter(
    "bonus_messages_total",
    "Trigger messages by channel and outcome: sent, retried (an attempt failed, tried again), "
    "failed (after the last attempt), suppressed (never sent); reason says why for the last "
    "two (no_consent, frequency_cap, no_address, or the class of the provider's failure).",
    ["channel", "outcome", "reason"],
)
# The failure-rate alert divides by these: every channel's series exist from the start.
for _channel in ("sms", "email"):
    for _outcome in ("sent", "failed"):
        messages_total.labels(_channel, _outcome, "")
outbound_failures_total = Counter(
    "bonus_outbound_failures_total",
    "Requests to webhook receivers and partners that failed, by class: refused_address (the "
    "host resolved to an address we never send to), connect_failed, timeout, tls, transport, "
    "http_status.",
    ["class"],
)
channel_events_total = Counter(
    "bonus_channel_events_total",
    "Partner events handled from the inbox, by partner and outcome: done, retried, dead, "
    "deferred (the partner asked us to wait).",
    ["partner", "outcome"],
)
points_limit_refusals_total = Counter(
    "bonus_points_limit_refusals",
    "Accruals and refunds of a till's or shop's key refused for the points they would create, "
    "by limit: key_points_per_call_max, key_points_per_day_max.",
    ["limit"],
)
for _limit in ("key_points_per_call_max", "key_points_per_day_max"):
    points_limit_refusals_total.labels(limit=_limit)  # a zero series before the first refusal
auth_failures_total = Counter(
    "bonus_auth_failures",
    "Requests refused authentication, by reason: missing_key, unknown_key (or revoked), "
    "throttled (the address failed too often and was refused before any lookup).",
    ["reason"],
)
for _reason in ("missing_key", "unknown_key", "throttled"):
    auth_failures_total.labels(reason=_reason)
api_key_lookups_total = Counter(
    "bonus_api_key_lookups",
    "API keys looked up in Postgres (neither cached live nor recently found unknown), by "
    "result: found, unknown.",
    ["result"],
)
for _result in ("found", "unknown"):
    api_key_lookups_total.labels(result=_result)
sms_codes_total = Counter(
    "bonus_sms_codes_total",
    "SMS confirmation codes handed to the provider, by outcome: sent, not_sent.",
    ["outcome"],
)
enrollments_total = Counter(
    "bonus_enrollments_total",
    "Customers who joined through a program's public enrollment page (decision 0031).",
)
enrollment_refusals_total = Counter(
    "bonus_enrollment_refusals_total",
    "Requests to the public enrollment pages refused by an abuse limit, by the limit's name.",
    ["limit"],
)
live_check_accounts_total = Counter(
    "bonus_live_check_accounts",
    "Customer accounts the live consistency check has checked (decision 0028).",
)
live_check_differences_total = Counter(
    "bonus_live_check_differences",
    "Differences the live consistency check found, by kind (the checks of bonus reconcile: "
    "posted, reserved, debt, lot_entries, lot_holds, refunds, unbalanced_operations, and a "
    "program day's report rollups: report_points, report_liability); a difference that stays "
    "is counted again each walk.",
    ["kind"],
)
for _kind in DifferenceKind:
    live_check_differences_total.labels(kind=_kind.value)  # a zero series before the first find
# Gauges say how to combine the worker processes' values; a single process ignores it.
expiry_backlog = Gauge(
    "bonus_expiry_backlog",
    "Accounts with overdue lots and holds past TTL seen by the last sweep.",
    multiprocess_mode="livemax",
)
google_wallet_updates_total = Counter(
    "bonus_google_wallet_updates_total",
    "Patches of Google Wallet loyalty objects by outcome: patched (Google took the card's new "
    "values), retried (Google failed or refused; tried again after a backoff, never dropped).",
    ["outcome"],
)
for _outcome in ("patched", "retried"):
    google_wallet_updates_total.labels(outcome=_outcome)
google_wallet_backlog = Gauge(
    "bonus_google_wallet_backlog",
    "Google Wallet objects with a change not yet patched (pending), and those among them whose "
    "last patch failed (failing), as the worker last counted them.",
    ["state"],
    multiprocess_mode="livemax",
)
webhook_backlog = Gauge(
    "bonus_webhook_backlog",
    "Outbox events not yet fanned out (unrelayed), deliveries waiting (pending) and given up "
    "(dead), as the relay last counted them.",
    ["state"],
    multiprocess_mode="livemax",
)
live_check_accounts_differing = Gauge(
    "bonus_live_check_accounts_differing",
    "Customer accounts whose last live check found a difference, whichever worker found it: "
    "it falls when a later walk finds them clean.",
    multiprocess_mode="livemax",
)
live_check_report_days_differing = Gauge(
    "bonus_live_check_report_days_differing",
    "Program days whose report rollups the live consistency check last found apart from the "
    "ledger (decision 0025): bonus reports rebuild mends them, after a time zone change too.",
    multiprocess_mode="livemax",
)
live_check_walk_completed_seconds = Gauge(
    "bonus_live_check_walk_completed_timestamp_seconds",
    "When the live consistency check last finished a walk over every customer account (Unix "
    "time; 0 until one has).",
    multiprocess_mode="livemax",
)
db_pool_size = Gauge(
    "bonus_db_pool_connections", "Connections in the Postgres pools.", multiprocess_mode="livesum"
)
db_pool_in_use = Gauge(
    "bonus_db_pool_connections_in_use", "Pool connections checked out.", multiprocess_mode="livesum"
)
db_pool_max = Gauge(
    "bonus_db_pool_connections_max",
    "The pools' maximum size, summed over worker processes.",
    multiprocess_mode="livesum",
)
# The program's figures (decision 0027), read from the report rollups by the worker every
# limits.program_gauges_seconds, not on each scrape.
program_liability_points = Gauge(
    "bonus_program_liability_points",
    "Points customers of the program hold (pending included), from the report rollups.",
    ["program_id"],
    multiprocess_mode="livemax",
)
program_active_customers = Gauge(
    "bonus_program_active_customers",
    "Customers of the program with an operation of their own (not an expiry, a merge or an "
    "import) in its last limits.active_customers_days days.",
    ["program_id"],
    multiprocess_mode="livemax",
)
redis_up = Gauge(
    "bonus_redis_up",
    "1 when the last Redis call succeeded (in every worker process), else 0.",
    multiprocess_mode="livemin",
)


def exposition() -> bytes:
    """The text /metrics serves: this process's metrics, or every live worker's added up."""
    if os.environ.get(multiprocess_folder_variable):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def serve_metrics(host: str, port: int) -> None:
    """/metrics on a port of its own, on a thread: for the worker, which serves no HTTP of its
    own, and for ``bonus serve`` with ``BONUS_METRICS_PORT``, where with several workers the
    parent adds up every live worker's metrics."""
    if os.environ.get(multiprocess_folder_variable):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        start_http_server(port, addr=host, registry=registry)
        return
    start_http_server(port, addr=host)


def forget_this_process() -> None:
    """A stopping worker's live gauges leave the sums (its counters stay counted)."""
    if os.environ.get(multiprocess_folder_variable):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


_log_encoder = msgspec.json.Encoder(enc_hook=repr)


def _log_line(event: dict[str, object], **_: object) -> bytes:
    return _log_encoder.encode(event)


quiet_loggers = ("httpx", "httpcore")


def configure_logging(level: str = "INFO") -> None:
    """One JSON object per line on stdout, with context variables merged in."""
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper())
    # httpx and httpcore log every request's full URL at INFO (and headers at DEBUG): a
    # Bitrix24 inbound-webhook URL is itself a credential (its code opens the whole CRM), and
    # webhook and partner URLs may carry tokens. Their warnings and errors still come through.
    for name in quiet_loggers:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            # msgspec encodes a request's log line about ten times faster than the json module;
            # what it cannot encode is written as its repr, as structlog's default does.
            structlog.processors.JSONRenderer(serializer=_log_line),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=True,
    )
