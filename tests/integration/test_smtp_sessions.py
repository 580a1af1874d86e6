"""The SMTP channel keeps its connections (decision 0023): against a real aiosmtpd server that
requires STARTTLS and a login, e-mails share one logged-in connection; a connection is replaced
after its message bound, after it sat idle too long, and after any failure; no more connections
are open at once than the bound, however many e-mails are sent together."""

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processing.adapters.email import SmtpEmail
from processing.service.ports import MessageNotSent, OutgoingMessage
from tests.fakes import smtp
from tests.fakes.smtp import SmtpServer, smtp_server


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def channel(mail: SmtpServer, **bounds: Any) -> SmtpEmail:
    return SmtpEmail(
        mail.host,
        mail.port,
        "bonus@shop.example",
        username=smtp.username,
        password=smtp.password,
        tls_context=ssl.create_default_context(cafile=mail.ca_file),
        timeout_seconds=5.0,
        **bounds,
    )


def letter(n: int) -> OutgoingMessage:
    return OutgoingMessage(
        recipient=f"customer{n}@example.ru", subject=f"Письмо {n}", body="Здравствуйте!"
    )


async def test_e_mails_share_one_logged_in_connection(mail: SmtpServer) -> None:
    email = channel(mail)
    try:
        for n in range(3):
            assert await email.send(letter(n))
    finally:
        await email.close()

    assert [m["Subject"] for m in mail.received] == ["Письмо 0", "Письмо 1", "Письмо 2"]
    assert mail.logins == 1


async def test_a_connection_is_replaced_after_its_bound_and_after_a_failure(
    mail: SmtpServer,
) -> None:
    email = channel(mail, messages_per_connection_max=2)
    try:
        for n in range(3):
            await email.send(letter(n))
        assert mail.logins == 2  # two messages on the first, the third on a second

        mail.refusals = 1
        with pytest.raises(MessageNotSent, match="smtp_451"):
            await email.send(letter(3))
        await email.send(letter(4))  # not on the connection that failed
    finally:
        await email.close()

    assert mail.logins == 3
    assert len(mail.received) == 4


async def test_a_connection_idle_too_long_is_not_reused(mail: SmtpServer) -> None:
    email = channel(mail, idle_seconds_max=0.0)
    try:
        for n in range(2):
            await email.send(letter(n))
    finally:
        await email.close()

    assert (len(mail.received), mail.logins) == (2, 2)


async def test_e_mails_sent_together_open_no_more_connections_than_the_bound(
    mail: SmtpServer,
) -> None:
    email = channel(mail, connections_max=2)
    try:
        await asyncio.gather(*(email.send(letter(n)) for n in range(8)))
    finally:
        await email.close()

    assert len(mail.received) == 8
    assert mail.logins == 2
