"""The replayed-SQL baseline's scripts, written from the API's own statements. A script in
``pgbench/`` names a statement of the API with ``\\replay <name>`` and gives its parameters one a
line, ``$1`` first; this renders the statement as the API sends it (its text from ``QUERIES``,
the why-comments left out) with each parameter in its place, cast to the type Postgres infers for
the API's prepared statement. So the replay cannot drift from the API's text, and a parameter the
API adds or drops fails here instead of replaying something else.

A parameter is a pgbench variable where pgbench can hold the value. pgbench cannot send a null
parameter, so what the API sends as null is written ``null`` (Postgres folds it as it does in a
custom plan for the API's statement), and what the API computes in Python from the snapshot (the
event's payload, the answer's body, a lot's new totals) is an expression over variables.
"""

import re
from collections.abc import Iterator, Mapping, Sequence

from processing.adapters.postgres.queries import QUERIES

directive = "\\replay"
continued = " " * 8
_parameter = re.compile(r"\$(\d+)")


class ReplayError(ValueError):
    """A script's arguments do not fit the API's statement."""


def statement_text(name: str) -> str:
    """The API's statement without its comment lines (pgbench would read a ``$n`` in a comment
    as a parameter) and without its closing semicolon (the script ends it)."""
    lines = [line for line in QUERIES[name].splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip().removesuffix(";")


def parameters(name: str) -> list[int]:
    """The parameter numbers the API's statement uses."""
    return sorted({int(number) for number in _parameter.findall(statement_text(name))})


def render_statement(name: str, arguments: Sequence[str], types: Sequence[str]) -> str:
    used = parameters(name)
    if used != list(range(1, len(arguments) + 1)) or len(types) != len(arguments):
        raise ReplayError(
            f"{name} takes ${used[0]}..${used[-1]} ({len(types)} typed); "
            f"the script gives {len(arguments)}"
        )

    def argument(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return f"({arguments[number - 1]})::{types[number - 1]}"

    return _parameter.sub(argument, statement_text(name))


def blocks(lines: Sequence[str]) -> Iterator[tuple[int, int, str, list[str]]]:
    """Each ``\\replay`` block: its first and past-last line, the statement's name, its
    arguments (the lines indented by four spaces after it, one each; a line indented further
    continues the argument above it)."""
    index = 0
    while index < len(lines):
        if not lines[index].startswith(directive + " "):
            index += 1
            continue
        name = lines[index].removeprefix(directive).strip()
        end = index + 1
        arguments: list[str] = []
        while end < len(lines) and lines[end].startswith(" "):
            argument = lines[end].split(" -- ")[0].strip()
            if argument and lines[end].startswith(continued) and arguments:
                arguments[-1] += " " + argument
            elif argument:
                arguments.append(argument)
            end += 1
        yield index, end, name, arguments
        index = end


def render(script: str, types: Mapping[str, Sequence[str]]) -> str:
    """The pgbench script with every ``\\replay`` block written out; the line after a block
    (``\\gset ...`` or ``;``) ends the statement."""
    lines = script.splitlines()
    rendered: list[str] = []
    done = 0
    for start, end, name, arguments in blocks(lines):
        if name not in types:
            raise ReplayError(f"no parameter types for {name}")
        rendered += lines[done:start]
        rendered += render_statement(name, arguments, types[name]).splitlines()
        done = end
    rendered += lines[done:]
    return "\n".join(rendered) + "\n"


def replayed(script: str) -> list[tuple[str, list[str]]]:
    """The API statements a script replays, in order, with their arguments."""
    lines = script.splitlines()
    return [(name, arguments) for _, _, name, arguments in blocks(lines)]
