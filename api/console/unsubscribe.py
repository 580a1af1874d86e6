"""The page a person reaches from the unsubscribe link in a marketing message's text.

The one-click address of the ``List-Unsubscribe`` header (``POST /v1/unsubscribe/{token}``,
RFC 8058) is for mail clients. A person who opens the link in the text gets this page instead:
``GET`` only asks, with one button, because mail scanners and link previews open every link they
find and must not withdraw anyone's consent; the button's ``POST`` withdraws it through the same
use case (source ``unsubscribe``). No key and no session: the signed token is the authority, as
for the one-click address, so the form needs no CSRF token (whoever holds the link may already
POST it). Russian by default, English with ``?lang=en``; the console's stylesheet, nothing from
another host.
"""

from typing import Any, Final

from litestar import Controller, Request, get, post
from litestar.response import Template

from api.console.pages import html, security_headers
from processing.core.triggers import Channel
from processing.runtime import Runtime
from processing.service.records import Accepted

AnyRequest = Request[Any, Any, Any]
# A token longer than any we sign is not one of ours (links.py makes about 100 characters).
token_length_max: Final = 200

words: Final[dict[str, dict[str, str]]] = {
    "ru": {
        "title": "Отписка от рассылки",
        "ask_email": "Больше не получать письма с предложениями программы?",
        "ask_sms": "Больше не получать SMS с предложениями программы?",
        "ask_push": "Больше не получать уведомления с предложениями программы?",
        "ask_phone": "Больше не получать звонки с предложениями программы?",
        "hint": "Сообщения о ваших баллах и коды подтверждения будут приходить как прежде.",
        "confirm": "Отписаться",
        "done": "Готово: вы отписались. Согласие можно дать снова на кассе или в личном кабинете.",
        "invalid": "Ссылка недействительна. Откройте её из последнего письма целиком.",
    },
    "en": {
        "title": "Unsubscribe",
        "ask_email": "Stop receiving the program's offers by e-mail?",
        "ask_sms": "Stop receiving the program's offers by SMS?",
        "ask_push": "Stop receiving the program's offers as notifications?",
        "ask_phone": "Stop receiving the program's offers by phone?",
        "hint": "Messages about your points and confirmation codes keep coming as before.",
        "confirm": "Unsubscribe",
        "done": "Done: you are unsubscribed. You may agree again at the till or in your account.",
        "invalid": "This link is not valid. Open it in full from the latest message.",
    },
}


def locale_of(lang: str | None) -> str:
    return lang if lang in words else "ru"


def unsubscribe_page(
    locale: str, token: str, *, channel: Channel | None, done: bool = False
) -> Template:
    """The page: a question with its button, the answer after it, or 404 for a link that is
    not one we signed."""
    return Template(
        template_name="unsubscribe/page.html",
        context={
            "t": words[locale],
            "locale": locale,
            "token": token,
            "channel": channel.value if channel else None,
            "done": done,
        },
        media_type=html,
        status_code=404 if channel is None else 200,
    )


class UnsubscribePageController(Controller):
    path = "/unsubscribe/{token:str}"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers

    @get("", name="unsubscribe_page")
    async def ask(self, runtime: Runtime, token: str, lang: str | None = None) -> Template:
        """Asks; withdraws nothing."""
        locale = locale_of(lang)
        return unsubscribe_page(locale, token, channel=self.channel(runtime, token))

    @post("", name="unsubscribe_page_confirm", status_code=200)
    async def confirm(self, runtime: Runtime, token: str, lang: str | None = None) -> Template:
        """Withdraws the consent the link names; pressed twice, answers the same."""
        locale = locale_of(lang)
        channel = self.channel(runtime, token)
        if channel is None:
            return unsubscribe_page(locale, token, channel=None)
        outcome = await runtime.unsubscribes.unsubscribe(token)
        return unsubscribe_page(
            locale, token, channel=channel if isinstance(outcome, Accepted) else None, done=True
        )

    @staticmethod
    def channel(runtime: Runtime, token: str) -> Channel | None:
        if len(token) > token_length_max:
            return None
        return runtime.unsubscribes.unsubscribe_channel(token)
