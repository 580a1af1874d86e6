"""Reads from partners' REST APIs, and a CRM's form-encoded edits, over one pooled,
address-checked httpx client. Errors name the failure's class, the status and the path,
never the credentials, the query or the socket's own words."""

from typing import Any
from urllib.parse import urlsplit

import httpx

from processing.adapters.outbound_http import checked_client, count_failure, failure_class
from processing.core.outbound import FailureClass, OutboundPolicy
from processing.service.ports import PartnerUnavailable


def unavailable(method: str, path: str, error: Exception) -> PartnerUnavailable:
    kind = failure_class(error)
    count_failure(kind)
    return PartnerUnavailable(f"{method} {path}: {kind.value}")


class HttpxPartnerApi:
    def __init__(self, timeout_seconds: float, policy: OutboundPolicy) -> None:
        self.client = checked_client(
            policy,
            timeout_seconds,
            httpx.Limits(max_connections=20, max_keepalive_connections=10),
            {"User-Agent": "bonus-processing-channels/1", "Accept": "application/json"},
        )

    async def get_json(self, url: str, headers: dict[str, str]) -> Any:
        path = urlsplit(url).path
        try:
            response = await self.client.get(url, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise unavailable("GET", path, error) from None
        return self.decoded("GET", path, response)

    async def post_form(self, url: str, headers: dict[str, str], form: dict[str, str]) -> Any:
        path = urlsplit(url).path
        try:
            response = await self.client.post(url, headers=headers, data=form)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise unavailable("POST", path, error) from None
        return self.decoded("POST", path, response)

    @staticmethod
    def decoded(method: str, path: str, response: httpx.Response) -> Any:
        if not 200 <= response.status_code < 300:
            count_failure(FailureClass.http_status)
            raise PartnerUnavailable(f"{method} {path} answered {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise PartnerUnavailable(f"{method} {path} answered with no JSON") from None

    async def post_json(self, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        path = urlsplit(url).path.rsplit("/", 1)[-1]  # a webhook URL holds its secret code
        try:
            response = await self.client.post(url, json=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise unavailable("POST", path, error) from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    async def close(self) -> None:
        await self.client.aclose()
