"""The console's rules pages: the program's rules in force, shown readably, the history of
versions, the field-by-field difference between two versions, and an editor that saves a new
version through ``Loyalty.replace_rules`` (the use case of ``PUT /v1/programs/{id}/rules``).

The editor is a textarea of the rules as JSON, read with the API's own ``ProgramRules``
schema: a text that is not JSON, breaks the schema or contradicts itself (``check_rules``) is
shown again as the operator typed it, with the refusal beside the field it names. The program
is picked as on the other program pages (``api/console/operations.py``).
"""

import re
from functools import partial
from typing import Any, Final
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from api.console.actions import Form, Place, Where, Wrong, console_action
from api.console.diff import differences, shown
from api.console.operations import (
    cursor_in,
    in_program,
    notice_of,
    program_in,
    programs_page,
    refusal,
    size,
)
from api.console.pages import (
    console_exception_handlers,
    page,
    security_headers,
    session_or_sign_in,
    when,
)
from api.console.sessions import Signed, new_form_key
from api.console.words import words
from api.http import renderer
from processing.core.rules import Rules, basis_points_whole
from processing.runtime import Runtime
from processing.service.records import Accepted, Refused, RulesRecord, StoredResponse
from schemas.loyalty import ProgramRules, ProgramRulesView

AnyRequest = Request[Any, Any, Any]
# The editor's text: far more than twenty tiers and a few hundred rates need.
rules_text_max: Final = 100_000
_at_path = re.compile(r"- at `\$\.?([^`]*)`")
_unknown = re.compile(r"unknown field `([^`]+)`")


def percent(bp: int) -> str:
    """Basis points as a percentage: ``550`` is ``5.5 %``."""
    whole, part = divmod(bp * 100, basis_points_whole)
    return f"{whole}.{part:04d}".rstrip("0").rstrip(".") + " %"


def rules_text(rules: Rules) -> str:
    """The rules as the editor holds them: indented JSON, keys in the schema's order."""
    return msgspec.json.format(msgspec.json.encode(rules), indent=2).decode()


def schema_field(error: Exception) -> str | None:
    """The field a schema error names, as a path into the rules (``tiers[1].threshold_minor``)."""
    text = str(error)
    found = _at_path.search(text)
    path = found.group(1) if found else ""
    unknown = _unknown.search(text)
    if unknown:
        path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
    return path or None


def read_rules(text: str) -> Rules | tuple[str, str | None]:
    """The rules the editor's text says, or what is wrong with it and the field it names."""
    try:
        data = msgspec.json.decode(text.encode(), type=ProgramRules)
    except msgspec.ValidationError as error:
        return str(error), schema_field(error)
    except msgspec.DecodeError as error:
        return str(error), None
    return msgspec.convert(msgspec.to_builtins(data), Rules)


async def rules_page(
    runtime: Runtime,
    signed: Signed,
    program_id: UUID,
    *,
    before: int | None = None,
    notice: str | None = None,
    message: str | None = None,
    error_field: str | None = None,
    text: str | None = None,
    status_code: int = 200,
) -> Template:
    locale, actor = signed.session.locale, signed.actor
    current = await runtime.loyalty.rules(actor, program_id)
    history = await runtime.loyalty.rules_versions(actor, program_id, size, before)
    for outcome in (current, history):
        if isinstance(outcome, Refused):
            message = message or refusal(locale, outcome)
            status_code = status_code if status_code != 200 else 404
    record = current.value if isinstance(current, Accepted) else None
    return page(
        "console/rules.html",
        locale,
        signed,
        status_code,
        program_id=program_id,
        record=record,
        history=history.value if isinstance(history, Accepted) else None,
        first_page=before is not None,
        text=text if text is not None else (rules_text(record.rules) if record else ""),
        error_field=error_field,
        save_key=new_form_key(),
        percent=percent,
        notice=notice,
        message=message,
        when=when,
    )


def version_in(asked: str | None) -> int | None:
    try:
        version = int(asked) if asked else None
    except ValueError:
        return None
    return version if version is not None and 0 < version < 2**31 - 1 else None


def on_rules(runtime: Runtime) -> Where:
    """The editor's page, showing the text as it was sent and the field a refusal names."""

    def place(signed: Signed, program_id: UUID, fields: dict[str, str]) -> Place:
        return Place(
            show=partial(rules_page, runtime, signed, program_id, text=fields.get("rules", "")),
            back=f"/console/rules?program={program_id}",
            missing="nothing_found",
            kept=lambda problem: {"error_field": problem.field},
            program_id=program_id,
        )

    return in_program(runtime, "/console/rules", place)


class ConsoleRulesController(Controller):
    path = "/console/rules"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    @get("/", name="console_rules")
    async def rules(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        program: str | None = None,
        before: str | None = None,
        cursor: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        program_id = program_in(signed, program)
        if program_id is None:
            return await programs_page(runtime, signed, "/console/rules", cursor_in(cursor))
        notice = notice_of(signed.session.locale, done, ("rules_saved",))
        return await rules_page(
            runtime, signed, program_id, before=version_in(before), notice=notice
        )

    @post("/", name="console_save_rules", status_code=303)
    async def save(self, request: AnyRequest, runtime: Runtime) -> Response[Any]:
        """A refusal shows the text as typed, with the field it names."""

        async def step(form: Form) -> StoredResponse:
            text = form.fields.get("rules", "")
            if "\x00" in text or len(text) > rules_text_max:
                raise Wrong()
            read = read_rules(text)
            if isinstance(read, tuple):
                detail, field = read
                message = f"{words(form.signed.session.locale)['rules_refused']}: {detail}"
                raise Wrong(message=message, error_field=field)
            mutation = form.mutation("console_save_rules", form.program_id, text)
            return await runtime.loyalty.replace_rules(
                mutation, form.program_id, read, renderer(ProgramRulesView)
            )

        return await console_action(request, runtime, on_rules(runtime), step, "rules_saved")

    @get("/diff", name="console_rules_diff")
    async def diff(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        program: str | None = None,
        before: str | None = None,
        after: str | None = None,
    ) -> Response[Any]:
        """Version ``before`` against version ``after`` (by default the one just before it)."""
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        program_id = program_in(signed, program)
        if program_id is None:
            return await programs_page(runtime, signed, "/console/rules", None)
        locale, actor = signed.session.locale, signed.actor
        newer = version_in(after)
        older = version_in(before) or (newer - 1 if newer else None)
        if newer is None or older is None:
            return page(
                "console/rules_diff.html",
                locale,
                signed,
                422,
                program_id=program_id,
                message=words(locale)["bad_versions"],
            )
        found = [await runtime.loyalty.rules_version(actor, program_id, v) for v in (older, newer)]
        refused = next((item for item in found if isinstance(item, Refused)), None)
        if refused is not None or not all(isinstance(item, Accepted) for item in found):
            text = refusal(locale, refused) if refused else words(locale)["nothing_found"]
            return page(
                "console/rules_diff.html", locale, signed, 404, program_id=program_id, message=text
            )
        records: list[RulesRecord] = [item.value for item in found if isinstance(item, Accepted)]
        return page(
            "console/rules_diff.html",
            locale,
            signed,
            program_id=program_id,
            older=records[0],
            newer=records[1],
            changes=differences(
                msgspec.to_builtins(records[0].rules), msgspec.to_builtins(records[1].rules)
            ),
            shown=shown,
            when=when,
        )
