"""The published OpenAPI: Litestar's generated document, rewritten to say what the server does.

Litestar knows the paths, parameters and handler docstrings; it does not know our errors
(problem+json with a machine code), which calls require ``Idempotency-Key``, or which routes
are public. And its component schemas are its own reading of our msgspec Structs, which loses
what msgspec enforces on the wire (unknown fields refused, nested bounds). So:

- request and reply schemas are msgspec's own JSON Schema of the handler's ``data`` and reply
  types (``msgspec.json.schema_components``): the schema the strict decoder checks bodies
  against, so a body valid by the document is one the server decodes;
- each operation's problem statuses, headers and security come from ``api/contract.py``;
- problems are one ``Problem`` schema whose ``code`` is the enum of every rejection code.

The rewrite runs once per app, when the document is first asked for.
"""

import copy
import types
import typing
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from api import contract
from api.errors import PROBLEMS, problem_media_type
from processing.core import limits
from processing.core.rejections import Rejection
from schemas.api import Problem

ref_template: Final = "#/components/schemas/{name}"
json_media_type: Final = "application/json"
bodiless_statuses: Final = frozenset({204, 304})

idempotency_key_header: Final = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": (
        "Unique per request you mean: a retry with the same key and body answers the stored "
        "response (rejections included) and applies nothing twice; the same key with another "
        "body answers 422, and while the first is in flight, 409."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": limits.idempotency_key_length_max,
        "pattern": "^[!-~]+$",
    },
}
replayed_header: Final = {
    "description": "Present, as `true`, when this is the stored answer to an earlier request.",
    "schema": {"type": "string", "enum": ["true"]},
}
retry_after_header: Final = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
retry_statuses: Final = frozenset({429, 503})


class Publisher:
    """Turns Litestar's document into the published one, once per app."""

    def __init__(self) -> None:
        self._published: dict[int, dict[str, Any]] = {}

    def published(self, app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
        key = id(generated)
        if key not in self._published:
            self._published = {key: publish(app, generated)}
        return self._published[key]


class PublishedJson(JsonRenderPlugin):
    """``/schema/openapi.json``: the published document."""

    def __init__(self, publisher: Publisher) -> None:
        super().__init__()
        self.publisher = publisher

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, self.publisher.published(request.app, openapi_schema))


def handlers_by_operation(app: Litestar) -> dict[tuple[str, str], HTTPRouteHandler]:
    found: dict[tuple[str, str], HTTPRouteHandler] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                found[(route.path_format or "/", method.lower())] = handler
    return found


def without_none(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` → (X, True); anything else → (it, False)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        if len(members) < len(typing.get_args(annotation)):
            rest = members[0] if len(members) == 1 else typing.Union[tuple(members)]  # noqa: UP007
            return rest, True
    return annotation, False


def body_type(handler: HTTPRouteHandler) -> tuple[Any, bool] | None:
    """The handler's ``data`` type and whether the body may be omitted; None: no body."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return None
    annotation, optional = without_none(data.annotation)
    return annotation, optional or data.is_optional


def reply_type(handler: HTTPRouteHandler) -> Any | None:
    """The reply's wire type (``Response[Program]`` → ``Program``); None when it has none."""
    annotation = handler.parsed_fn_signature.return_type.annotation
    if annotation is Response or typing.get_origin(annotation) is Response:
        annotation = next(iter(typing.get_args(annotation)), Any)
    return None if annotation is Any or annotation is bytes else annotation


def any_value(annotation: Any) -> dict[str, Any]:
    """``object`` (free-form attributes) is any JSON value."""
    if annotation is object:
        return {"description": "Any JSON value."}
    raise NotImplementedError


def problem_schemas() -> dict[str, Any]:
    (_,), components = msgspec.json.schema_components([Problem], ref_template=ref_template)
    codes = [rejection.value for rejection in Rejection] + list(contract.service_codes)
    components["Problem"]["properties"]["code"] = {"$ref": ref_template.format(name="ProblemCode")}
    components["ProblemCode"] = {
        "type": "string",
        "enum": codes,
        "description": "The stable machine code of the refusal (processing/core/rejections.py).",
    }
    return components


def problem_response(status: int, codes: list[str]) -> dict[str, Any]:
    known = {rejection.value for rejection in Rejection}
    titles = [PROBLEMS[Rejection(code)][1] for code in codes if code in known]
    response: dict[str, Any] = {
        "description": "; ".join(titles or ["Service unavailable"])
        + f". Codes: {', '.join(f'`{code}`' for code in codes)}.",
        "content": {problem_media_type: {"schema": {"$ref": ref_template.format(name="Problem")}}},
    }
    if status in retry_statuses:
        response["headers"] = {"Retry-After": retry_after_header}
    return response


def publish(app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(generated)
    every = handlers_by_operation(app)
    handlers = {
        (path, method): every[(path, method)]
        for path, item in spec["paths"].items()
        for method in item
    }
    wire_types: list[Any] = []
    for handler in handlers.values():
        body = body_type(handler)
        wire_types.extend(item for item in (body and body[0], reply_type(handler)) if item)
    wire_types = list(dict.fromkeys(wire_types))
    refs, components = msgspec.json.schema_components(
        wire_types, schema_hook=any_value, ref_template=ref_template
    )
    schema_of = dict(zip(wire_types, refs, strict=True))
    components |= problem_schemas()
    codes = contract.codes_by_status()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            handler = handlers[(path, method)]
            rewrite(operation, handler, method, schema_of, codes)
    # Litestar's own components stay where its parameters still name them (an enum in a path).
    generated_components = generated.get("components", {}).get("schemas", {})
    missing = referenced(spec["paths"]) - set(components)
    while missing:
        for name in missing:
            components[name] = generated_components[name]
        missing = referenced(components) - set(components)
    spec.setdefault("components", {})["schemas"] = dict(sorted(components.items()))
    return spec


def referenced(value: Any) -> set[str]:
    """The component schemas ``value`` names anywhere inside it."""
    prefix = ref_template.format(name="")
    if isinstance(value, dict):
        found = {value["$ref"].removeprefix(prefix)} if "$ref" in value else set()
        return found.union(*(referenced(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(referenced(item) for item in value))
    return set()


def rewrite(
    operation: dict[str, Any],
    handler: HTTPRouteHandler,
    method: str,
    schema_of: dict[Any, Any],
    codes: dict[int, list[str]],
) -> None:
    public = bool(handler.opt.get("public"))
    body = body_type(handler)
    idempotent = contract.requires_idempotency_key(handler.name, method, public)
    operation["operationId"] = handler.name or operation["operationId"]
    if public:
        operation["security"] = []
    if idempotent:
        operation["parameters"] = [*operation.get("parameters", []), idempotency_key_header]
    if body is not None:
        operation["requestBody"] = {
            "required": not body[1],
            "content": {json_media_type: {"schema": schema_of[body[0]]}},
        }
    responses: dict[str, Any] = {}
    reply = reply_type(handler)
    successes = {handler.status_code} | contract.route_of(handler.name).successes
    for status in sorted(successes):
        generated = operation["responses"].get(str(handler.status_code), {})
        success: dict[str, Any] = {"description": generated.get("description", "Success")}
        if status in bodiless_statuses:
            pass  # 204 No Content, 304 Not Modified: no body whatever the handler's type
        elif reply is not None:
            success["content"] = {json_media_type: {"schema": schema_of[reply]}}
        elif "content" in generated:
            success["content"] = generated["content"]
        if idempotent:
            success["headers"] = {"Idempotent-Replayed": replayed_header}
        responses[str(status)] = success
    for status in sorted(contract.problem_statuses(handler.name, method, public, body is not None)):
        responses[str(status)] = problem_response(status, codes.get(status, []))
    operation["responses"] = responses
