"""Named SQL queries, loaded once from the ``.sql`` files beside this module.

Each query in a file starts with a ``-- name: <name>`` line, followed by a comment saying why
it exists and then the statement. Names are unique across files.
"""

from importlib import resources
from typing import Final

_marker: Final = "-- name:"


def parse(text: str) -> dict[str, str]:
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(_marker):
            if name is not None:
                queries[name] = "\n".join(lines).strip()
            name, lines = line.removeprefix(_marker).strip(), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        queries[name] = "\n".join(lines).strip()
    return queries


def load() -> dict[str, str]:
    queries: dict[str, str] = {}
    folder = resources.files(__package__).joinpath("sql")
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not item.name.endswith(".sql"):
            continue
        for name, sql in parse(item.read_text(encoding="utf-8")).items():
            if name in queries:
                raise ValueError(f"query {name} is defined twice")
            queries[name] = sql
    return queries


QUERIES: Final = load()
