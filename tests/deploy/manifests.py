"""Readers for the files under deploy/ and a small PromQL scanner: which ``bonus_*`` series and
which label names an alert or a panel uses. Only what the tests need, not a PromQL parser."""

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

root = Path(__file__).resolve().parents[2]
deploy = root / "deploy"

# The graceful drain `bonus serve` gives uvicorn, read from the code so the Kubernetes timing
# check follows it.
_graceful = re.compile(r"timeout_graceful_shutdown\s*=\s*(\d+)")


def load_yaml(relative: str) -> list[Any]:
    text = (deploy / relative).read_text(encoding="utf-8")
    return [document for document in yaml.safe_load_all(text) if document is not None]


def yaml_files() -> list[Path]:
    return sorted([*deploy.rglob("*.yml"), *deploy.rglob("*.yaml")])


def compose() -> dict[str, Any]:
    (document,) = load_yaml("docker-compose.yml")
    result: dict[str, Any] = document
    return result


def kubernetes_objects() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted((deploy / "k8s").glob("*.yaml"))
        for document in load_yaml(str(path.relative_to(deploy)))
    ]


def kubernetes_object(kind: str, name: str) -> dict[str, Any]:
    found = [
        item
        for item in kubernetes_objects()
        if item["kind"] == kind and item["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


# The operations dashboard, and the program's beside it (decision 0027).
dashboard_files = ("bonus.json", "program.json")


def dashboard(name: str = "bonus.json") -> dict[str, Any]:
    path = deploy / "grafana" / "dashboards" / name
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def alert_rules() -> list[dict[str, Any]]:
    (document,) = load_yaml("prometheus/alerts.yml")
    return [rule for group in document["groups"] for rule in group["rules"]]


def uvicorn_graceful_seconds() -> int:
    found = _graceful.search((root / "processing" / "cli.py").read_text(encoding="utf-8"))
    assert found is not None, "processing/cli.py no longer sets timeout_graceful_shutdown"
    return int(found.group(1))


# ---- the Dockerfile, as (instruction, arguments) per logical line -------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    logical: list[str] = []
    current = ""
    for line in (deploy / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    instructions = []
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append((keyword, arguments))
    return stages


def dockerfile_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for keyword, arguments in stage:
        if keyword == "ENV":
            values.update(token.split("=", 1) for token in shlex.split(arguments) if "=" in token)
    return values


# ---- PromQL -------------------------------------------------------------------------------

_string = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_series = re.compile(r"\bbonus_[A-Za-z0-9_:]*")
_selector = re.compile(r"\b(bonus_[A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_matcher = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_grouping = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
histogram_suffixes = ("_bucket", "_count", "_sum")


def without_strings(expression: str) -> str:
    """Label values such as ``job="bonus_api"`` must not read as metric names."""
    return _string.sub('""', expression)


def series_names(expression: str) -> set[str]:
    return set(_series.findall(without_strings(expression)))


def family_of(series: str) -> str:
    """``bonus_x_seconds_bucket`` → ``bonus_x_seconds``, ``bonus_x_total`` → ``bonus_x``: the
    name prometheus_client's parser gives the family; the same on both sides of the check."""
    for suffix in histogram_suffixes:
        if series.endswith(suffix):
            series = series.removesuffix(suffix)
            break
    return series.removesuffix("_total")


def selector_labels(expression: str) -> dict[str, set[str]]:
    """The label names matched in ``bonus_x{...}``, per series name."""
    found: dict[str, set[str]] = {}
    for name, matchers in _selector.findall(without_strings(expression)):
        found.setdefault(name, set()).update(_matcher.findall(matchers))
    return found


def grouping_labels(expression: str) -> set[str]:
    """The label names in ``by (...)``, ``without (...)``, ``on (...)`` and the like."""
    return {
        label.strip()
        for group in _grouping.findall(without_strings(expression))
        for label in group.split(",")
        if label.strip()
    }


def dashboard_expressions() -> dict[str, str]:
    """Every query of the dashboards, wherever it sits (panel targets, rows, template
    variables), named by the dashboard, the panel title or variable name and the target's
    refId."""
    found: dict[str, str] = {}

    def visit(node: Any, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item, where)
        if not isinstance(node, dict):
            return
        where = str(node.get("title") or node.get("name") or where)
        if "refId" in node:
            where = f"{where} {node['refId']}"
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found[f"dashboard {where!r} {key}"] = value
            visit(value, where)

    for name in dashboard_files:
        visit(dashboard(name), name)
    return found


def alert_expressions() -> dict[str, str]:
    return {rule["alert"]: rule["expr"] for rule in alert_rules()}


def all_expressions() -> dict[str, str]:
    return {**{f"alert {name}": expr for name, expr in alert_expressions().items()},
            **dashboard_expressions()}  # fmt: skip
