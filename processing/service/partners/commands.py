"""What a partner adds to the ``bonus`` command: subcommands that act on one of its connections
(``bonus bitrix24-install --connection-id ID``). Each is defined in its partner's folder and
listed in its registry entry; the CLI builds them all the same way: it finds the connection,
refuses one of another partner (exit 2), runs the command with the partner's handler and prints
what it returns as JSON, or says who refused and exits 1 when the partner refuses or cannot be
reached."""

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import msgspec

from processing.service.partners.channels import Partner
from processing.service.records import Connection

P = TypeVar("P", bound=Partner)


class PartnerCommand(msgspec.Struct, Generic[P], frozen=True, kw_only=True):
    name: str  # as typed after ``bonus``
    help: str  # one line for ``bonus --help``
    counterpart: str  # what answers the command's calls, as its refusal says it: "the portal"
    handler: type[P]  # the partner's handler, which the command runs with
    run: Callable[[P, Connection], Awaitable[dict[str, Any]]]  # what it prints
