"""One shape for every console form's POST (docs/decisions/0018-operator-console.md).

``console_action`` takes the steps every form shares, in this order: the session (or the
sign-in page), the posted form with its CSRF token and origin (403 and nothing changes), the
page the form is on (an operator key without a program is shown the program list), the form's
one-time key, which becomes the action's idempotency key; then the handler's own step, and the
answer: a field the step cannot take (``Wrong``) or the use case's refusal is shown on the page
again with its words, a success goes back to the page with ``?done=``.

A handler says only what is its own: where its form is (a ``Place``) and the step that reads
its fields and calls the use case with the ``Mutation`` its form makes.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from litestar import Request, Response
from litestar.response import Redirect, Template

from api.console.pages import (
    Problem,
    console_mutation,
    forbidden,
    problem_of,
    refused_text,
    session_or_sign_in,
)
from api.console.sessions import Signed, csrf_matches, form_key_of, form_of, same_origin
from api.console.words import words
from processing.runtime import Runtime
from processing.service.mutations import Mutation
from processing.service.records import StoredResponse

AnyRequest = Request[Any, Any, Any]


def nothing_kept(problem: Problem) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Place:
    """The page a form is on. ``show(message=, status_code=, **context)`` renders it again
    with what was wrong; a success goes back to ``back`` with ``done=`` added; ``missing``
    names the words for a thing not found; ``kept`` is what a refused form's page shows
    besides the message (the field the refusal names, the text as typed)."""

    show: Callable[..., Awaitable[Template]]
    back: str
    missing: str = "not_found"
    kept: Callable[[Problem], dict[str, Any]] = field(default=nothing_kept)
    program_id: UUID | None = None  # the program a program's page works in

    def done(self, done: str) -> str:
        return f"{self.back}{'&' if '?' in self.back else '?'}done={done}"


class Wrong(Exception):
    """A field the step cannot take: the page again with the words ``word`` names (or with
    ``message`` as it is), and nothing changed."""

    def __init__(
        self,
        word: str = "bad_text",
        *,
        message: str | None = None,
        status_code: int = 422,
        **context: Any,
    ) -> None:
        super().__init__(word)
        self.word, self.message, self.status_code, self.context = (
            word,
            message,
            status_code,
            context,
        )


@dataclass(frozen=True)
class Form:
    """A posted form that passed the shared checks: its fields and its one-time key."""

    signed: Signed
    fields: dict[str, str]
    key: str
    place: Place

    @property
    def program_id(self) -> UUID:
        """The program of a form on a program's page (``Place.program_id``)."""
        if self.place.program_id is None:
            raise LookupError("a program's form on a page of no program")
        return self.place.program_id

    def text(self, name: str) -> str:
        """A field without the white space around it ("" when it was not sent)."""
        return self.fields.get(name, "").strip()

    def mutation(self, operation: str, *parts: object) -> Mutation:
        """The idempotent request this form makes, with the session's key as the actor."""
        return console_mutation(self.signed.actor, self.key, operation, *parts)


Where = Callable[[Signed, dict[str, str]], Awaitable[Place | Response[Any]]]
Step = Callable[[Form], Awaitable[StoredResponse]]
# A success's answer: a word for ``?done=`` on the way back, or a page of its own.
Done = str | Callable[[Form, StoredResponse], Response[Any]]


async def console_action(
    request: AnyRequest, runtime: Runtime, where: Where, step: Step, done: Done
) -> Response[Any]:
    signed = await session_or_sign_in(request, runtime, None)
    if isinstance(signed, Redirect):
        return signed
    fields = await form_of(request)
    if fields is None or not same_origin(request) or not csrf_matches(signed.session, fields):
        return forbidden(signed)
    place = await where(signed, fields)
    if not isinstance(place, Place):
        return place
    locale = signed.session.locale
    key = form_key_of(fields)
    if key is None:
        return await place.show(message=words(locale)["bad_text"], status_code=422)
    form = Form(signed, fields, key, place)
    try:
        stored = await step(form)
    except Wrong as wrong:
        message = wrong.message or words(locale)[wrong.word]
        return await place.show(message=message, status_code=wrong.status_code, **wrong.context)
    if stored.status_code >= 400:
        problem = problem_of(stored)
        text = refused_text(locale, problem, missing=place.missing)
        return await place.show(message=text, status_code=stored.status_code, **place.kept(problem))
    if isinstance(done, str):
        return Redirect(place.done(done), status_code=303)
    return done(form, stored)
