"""The layering the design rests on, checked on the import statements themselves: the core is
pure (standard library and msgspec only), the wire schemas import nothing of ours, the services
reach storage only through their ports, and the HTTP layer never talks to a database driver."""

import ast
import sys
from pathlib import Path

import pytest

root = Path(__file__).resolve().parents[2]
stdlib = sys.stdlib_module_names


def imports_of(folder: str) -> dict[str, set[str]]:
    """Every top-level-qualified module each file under ``folder`` imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(root))] = names
    return found


def offenders(folder: str, allowed: tuple[str, ...], *, stdlib_ok: bool = True) -> list[str]:
    return sorted(
        f"{path}: {name}"
        for path, names in imports_of(folder).items()
        for name in names
        if not (stdlib_ok and name.split(".")[0] in stdlib)
        and not any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)
    )


@pytest.mark.parametrize(
    ("folder", "allowed"),
    [
        pytest.param("processing/core", ("msgspec", "processing.core"), id="core-is-pure"),
        pytest.param("schemas", ("msgspec", "schemas"), id="schemas-stand-alone"),
        pytest.param(
            "processing/service",
            # Pure libraries, no I/O: phone numbers, and Jinja2's sandbox for trigger templates.
            ("msgspec", "structlog", "phonenumbers", "jinja2", "processing.core",
             "processing.service", "processing.telemetry", "processing"),
            id="service-uses-ports",
        ),
    ],
)  # fmt: skip
def test_layers_import_only_what_they_may(folder: str, allowed: tuple[str, ...]) -> None:
    assert offenders(folder, allowed) == []


def test_services_do_not_import_adapters_or_the_web_layer() -> None:
    forbidden = ("processing.adapters", "api", "asyncpg", "redis", "litestar")
    reached = [
        f"{path}: {name}"
        for path, names in imports_of("processing/service").items()
        for name in names
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    ]
    assert reached == []


def test_the_http_layer_reaches_storage_only_through_the_runtime() -> None:
    forbidden = ("processing.adapters", "asyncpg", "redis")
    reached = [
        f"{path}: {name}"
        for path, names in imports_of("api").items()
        for name in names
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    ]
    assert reached == []


def test_the_checker_sees_a_forbidden_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule above is only worth something if it can fail."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text("import asyncpg\nfrom datetime import date\n")
    monkeypatch.setattr(sys.modules[__name__], "root", tmp_path)
    assert offenders("core", ("msgspec",)) == ["core/bad.py: asyncpg"]


def test_controllers_name_their_services_not_the_runtime() -> None:
    """Handlers take the services they use as dependencies; only the health probes, which check
    the pools themselves, take the runtime."""
    reached = [
        path
        for path, names in imports_of("api/controllers").items()
        if "processing.runtime" in names and not path.endswith("health.py")
    ]
    assert reached == []
