"""The service's log: one JSON object per line on stdout, in a fresh process configured as
``bonus serve`` configures it. Values JSON has no type for (a UUID, a time) are written as
text, anything else as its repr, and the standard library's log lines still come through."""

import json
import subprocess
import sys
import uuid

program = """
import datetime, logging, uuid
import structlog
from processing import telemetry

telemetry.configure_logging("INFO")
log = structlog.get_logger("api.request")
log.info(
    "request",
    customer_id=uuid.UUID("{customer}"),
    at=datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC),
    duration_ms=1.5,
    thing=object(),
)
log.debug("not at info")
logging.getLogger("uvicorn").warning("plain")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("failed")
"""


def test_each_event_is_one_json_line_with_its_fields() -> None:
    customer = uuid.uuid4()
    done = subprocess.run(  # noqa: S603 - this interpreter, our own program
        [sys.executable, "-c", program.format(customer=customer)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = done.stdout.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]

    request, failed = events
    assert request["event"] == "request"
    assert request["level"] == "info"
    assert request["customer_id"] == str(customer)
    assert request["at"] == "2026-12-03T12:00:00Z"  # RFC 3339, not a repr
    assert request["duration_ms"] == 1.5
    assert request["thing"].startswith("<object object at ")
    assert request["timestamp"].endswith("Z")
    assert failed["level"] == "error"
    assert "ZeroDivisionError" in failed["exception"]
    assert "plain" in lines  # the standard library's line, as it was
    assert not any("not at info" in line for line in lines)
