"""The README's walk-through as one bash script: every ``sh`` block from "## Calling the API"
to the marker where the partner channels begin, in order, as a new user pastes them."""

import re
from pathlib import Path

readme = Path(__file__).resolve().parents[2] / "README.md"
walk_starts = "## Calling the API"
walk_ends = "<!-- walk-through ends"
_block = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# What the user reads off the `make run` shell: the SMS code. The walk's line stands for it.
code_line = re.compile(r"^CODE=\d+ .*$", re.MULTILINE)


def walk_blocks(text: str) -> list[str]:
    start = text.index(walk_starts)
    end = text.index(walk_ends, start)
    return _block.findall(text[start:end])


def walk_script(port: int, code_command: str) -> str:
    """The blocks joined, against ``port`` instead of 8000, failing at the first command that
    fails or answers an HTTP error; ``code_command`` prints the last SMS code the server sent."""
    blocks = walk_blocks(readme.read_text(encoding="utf-8"))
    body = "\n".join(blocks).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    body = code_line.sub(lambda _: f"CODE=$({code_command})", body)
    prelude = (
        "set -euo pipefail\n"
        # Any 4xx or 5xx fails the walk, with the problem it answered on standard output.
        'curl() { command curl --fail-with-body "$@"; echo; }\n'
    )
    return prelude + body
