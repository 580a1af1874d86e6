"""An assertion that survives ``python -O``: the ledger must never continue past a broken rule."""


class InvariantViolation(AssertionError):
    """A rule of the ledger was broken: a bug, never an expected outcome."""


def invariant(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantViolation(message)
