"""The webhook sender: an HTTP POST through one pooled, address-checked client per relay."""

import httpx

from processing.adapters.outbound_http import (
    Resolver,
    checked_client,
    count_failure,
    failure_class,
    system_resolver,
)
from processing.core.outbound import OutboundPolicy
from processing.service.ports import SendFailed


class HttpxSender:
    def __init__(
        self, timeout_seconds: float, policy: OutboundPolicy, resolver: Resolver = system_resolver
    ) -> None:
        self.client = checked_client(
            policy,
            timeout_seconds,
            httpx.Limits(max_connections=50, max_keepalive_connections=20),
            {"User-Agent": "bonus-processing-webhooks/1"},
            resolver,
        )

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            kind = failure_class(error)
            count_failure(kind)
            raise SendFailed(kind) from None  # the class only: socket errors map a network
        return response.status_code

    async def close(self) -> None:
        await self.client.aclose()
