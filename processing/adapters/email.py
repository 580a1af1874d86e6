"""E-mail providers for trigger messages: the console one for development, SMTP for production.

SMTP goes through aiosmtplib with STARTTLS (the submission port, 587, upgrades the connection
before any credential is sent; ``smtp_starttls=false`` only for a relay on this machine). The
password is never logged, and a failure is stored as its class, never the server's words, which
may echo an address.
"""

import ssl
import sys
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TextIO

import aiosmtplib

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
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.tls_context = tls_context
        self.timeout_seconds = timeout_seconds

    def __repr__(self) -> str:  # never the password
        return f"SmtpEmail({self.host}:{self.port}, starttls={self.starttls})"

    async def send(self, message: OutgoingMessage) -> str | None:
        try:
            email = email_of(self.sender, message)
        except ValueError:  # an address or header no e-mail can carry
            raise MessageNotSent("invalid_message") from None
        try:
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                use_tls=False,
                tls_context=self.tls_context,
                timeout=self.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused:
            raise MessageNotSent("smtp_recipient_refused") from None
        except aiosmtplib.SMTPAuthenticationError:
            raise MessageNotSent("smtp_authentication") from None
        except aiosmtplib.SMTPResponseException as error:
            raise MessageNotSent(f"smtp_{error.code}") from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as error:
            raise MessageNotSent(f"smtp_{type(error).__name__}") from None
        return str(email["Message-ID"])
