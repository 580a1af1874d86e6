"""A program's rules as the use cases read them: the current version, or the one an operation
recorded; version 0 is the defaults of a program never given rules."""

from uuid import UUID

from processing.core.rules import Rules
from processing.service.ports import Store
from processing.service.records import RulesRecord


def defaults(program_id: UUID) -> RulesRecord:
    return RulesRecord(program_id=program_id, version=0, rules=Rules(), created_at=None)


async def current_rules(store: Store, program_id: UUID) -> RulesRecord:
    found = await store.current_rules(program_id)
    return found or defaults(program_id)


async def rules_of(store: Store, program_id: UUID, version: int) -> RulesRecord:
    """The rules an operation recorded (version 0: the defaults)."""
    found = await store.rules_version(program_id, version) if version else None
    return found or defaults(program_id)
