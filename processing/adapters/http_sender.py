"""The webhook sender: an HTTP POST through one pooled httpx client per relay."""

import httpx

from processing.service.ports import SendFailed


class HttpxSender:
    def __init__(self, timeout_seconds: float) -> None:
        self.client = httpx.AsyncClient(
            timeout=timeout_seconds,
            follow_redirects=False,  # a redirect is not an acknowledgement
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            headers={"User-Agent": "bonus-processing-webhooks/1"},
        )

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise SendFailed(f"{type(error).__name__}: {error}") from error
        return response.status_code

    async def close(self) -> None:
        await self.client.aclose()
