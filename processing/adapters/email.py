"""E-mail providers for trigger messages: the console one for development, SMTP for production.

SMTP goes through aiosmtplib with STARTTLS (the submission port, 587, upgrades the connection
before any credential is sent; ``smtp_starttls=false`` only for a relay on this machine). The
password is never logged, and a failure is stored as its class, never the server's words, which
may echo an address.

Connections are kept and reused: a campaign's thousands of e-mails would otherwise each pay a
TCP connect, a TLS handshake and a login, and many servers limit how often a client may
connect. At most ``connections_max`` are open at once; one is reused for at most
``messages_per_connection_max`` messages and only while it has been idle for less than
``idle_seconds_max``; one that failed in any way is closed, never reused (the relay retries the
message later, as it retries any failure).
"""

import asyncio
import contextlib
import ssl
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TextIO

import aiosmtplib

from processing.core import limits
from processing.service.ports import MessageNotSent, OutgoingMessage


def email_of(sender: str, message: OutgoingMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject or ""
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.body)  # text/plain; utf-8 for Cyrillic
    return email


class ConsoleEmail:
    """Prints each e-mail to a stream (standard error by default). For development only."""

    def __init__(self, sender: str, stream: TextIO | None = None) -> None:
        self.sender = sender
        self.stream = stream

    async def send(self, message: OutgoingMessage) -> str | None:
        stream = self.stream or sys.stderr
        email = email_of(self.sender, message)
        stream.write(f"[development e-mail]\n{email.as_string()}\n")
        stream.flush()
        return str(email["Message-ID"])


@dataclass
class _Session:
    """One open SMTP connection, logged in, with what decides whether it may be reused."""

    smtp: aiosmtplib.SMTP
    sent: int = 0
    idle_since: float = 0.0


class SmtpEmail:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        tls_context: ssl.SSLContext | None = None,
        timeout_seconds: float = 30.0,
        connections_max: int = limits.smtp_connections_max,
        messages_per_connection_max: int = limits.smtp_messages_per_connection_max,
        idle_seconds_max: float = limits.smtp_idle_seconds_max,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.tls_context = tls_context
        self.timeout_seconds = timeout_seconds
        self.messages_per_connection_max = messages_per_connection_max
        self.idle_seconds_max = idle_seconds_max
        self._slots = asyncio.Semaphore(connections_max)
        self._idle: list[_Session] = []

    def __repr__(self) -> str:  # never the password
        return f"SmtpEmail({self.host}:{self.port}, starttls={self.starttls})"

    async def send(self, message: OutgoingMessage) -> str | None:
        try:
            email = email_of(self.sender, message)
        except ValueError:  # an address or header no e-mail can carry
            raise MessageNotSent("invalid_message") from None
        async with self._slots:
            session = None
            try:
                session = await self._session()
                await session.smtp.send_message(email)
            except aiosmtplib.SMTPRecipientsRefused:
                raise MessageNotSent("smtp_recipient_refused") from None
            except aiosmtplib.SMTPAuthenticationError:
                raise MessageNotSent("smtp_authentication") from None
            except aiosmtplib.SMTPResponseException as error:
                raise MessageNotSent(f"smtp_{error.code}") from None
            except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as error:
                raise MessageNotSent(f"smtp_{type(error).__name__}") from None
            else:
                session.sent += 1
                session.idle_since = time.monotonic()
                if session.sent < self.messages_per_connection_max:
                    self._idle.append(session)
                    session = None  # kept: not closed below
            finally:
                if session is not None:
                    await self._close(session)
        return str(email["Message-ID"])

    async def _session(self) -> _Session:
        """The most recently used idle connection still fit to reuse, else a new one
        (connected, upgraded with STARTTLS and logged in)."""
        while self._idle:
            session = self._idle.pop()
            fresh = time.monotonic() - session.idle_since < self.idle_seconds_max
            if fresh and session.smtp.is_connected:
                return session
            await self._close(session)
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            use_tls=False,
            tls_context=self.tls_context,
            timeout=self.timeout_seconds,
        )
        await smtp.connect()
        return _Session(smtp=smtp)

    async def _close(self, session: _Session) -> None:
        """QUIT when the connection still answers, else just drop it."""
        if session.smtp.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await asyncio.wait_for(session.smtp.quit(), self.timeout_seconds)
        session.smtp.close()

    async def close(self) -> None:
        """Closes the idle connections (at shutdown)."""
        idle, self._idle = self._idle, []
        for session in idle:
            await self._close(session)
