"""SMS providers: the console one for development, a generic HTTP gateway for production.

Neither logs the text of a message (it holds a confirmation code); the console provider's whole
job is to show it to the developer at the till, on its own stream and nowhere else."""

import sys
from typing import TextIO

import httpx

from processing.service.ports import MessageNotSent, OutgoingMessage, SmsNotSent, SmsProvider


class ConsoleSms:
    """Prints each message to a stream (standard error by default). For development only:
    ``deploy/`` configures the HTTP provider."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    async def send(self, phone: str, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(f"[development SMS to {phone}] {text}\n")
        stream.flush()

    async def close(self) -> None:
        return None


class HttpSms:
    """POSTs ``{"to": phone, "text": text}`` as JSON to a gateway URL, with a bearer token when
    one is configured; any 2xx answer means the gateway took the message."""

    def __init__(self, url: str, token: str | None, timeout_seconds: float) -> None:
        headers = {"User-Agent": "bonus-processing-sms/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url
        self.client = httpx.AsyncClient(
            timeout=timeout_seconds, follow_redirects=False, headers=headers
        )

    async def send(self, phone: str, text: str) -> None:
        try:
            response = await self.client.post(self.url, json={"to": phone, "text": text})
        except httpx.HTTPError as error:
            # The error names the failure, never the request body.
            raise SmsNotSent(f"{type(error).__name__} from the SMS gateway") from None
        if not 200 <= response.status_code < 300:
            raise SmsNotSent(f"the SMS gateway answered {response.status_code}")

    async def close(self) -> None:
        await self.client.aclose()


class SmsMessages:
    """Trigger messages on the SMS channel, through the same gateway port as the codes."""

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    async def send(self, message: OutgoingMessage) -> str | None:
        try:
            await self.provider.send(message.recipient, message.body)
        except SmsNotSent:
            # The provider's words may name the gateway's answer; the stored reason is a class.
            raise MessageNotSent("sms_gateway_refused") from None
        return None
