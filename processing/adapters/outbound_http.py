"""The one way the center opens an HTTP connection to a URL someone else gave it (webhook
receivers, partners' APIs): an httpx client whose network backend resolves the host itself,
checks every address against the outbound policy, and connects to the checked address.

Checking a URL when it is stored is not enough: a name can resolve to a public address then
and to 127.0.0.1 or 169.254.169.254 later (DNS rebinding), and resolving once to check and
again to connect leaves a gap between the two. Here the address checked is the address the
socket is opened to; TLS still verifies the certificate against the host name, because httpcore
starts TLS with the URL's host as the server name. The client never follows redirects and
ignores proxy variables (a proxy would be the only address checked); if redirects were ever
followed, every hop would open a connection through this backend and be checked the same way.
"""

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from processing import telemetry
from processing.core.outbound import FailureClass, OutboundPolicy, check_address

# Resolves (host, port) to addresses; the tests give one that answers what they need.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class AddressRefused(httpcore.ConnectError):
    """The host resolved to an address the policy does not send to."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: OutboundPolicy, resolver: Resolver = system_resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface names it
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self.resolver(host, port), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout("name resolution timed out") from None
        except OSError:
            raise httpcore.ConnectError("name resolution failed") from None
        # Every address must pass: a name with one public and one private record would
        # otherwise reach the private one whenever the public one is down.
        if not addresses or not all(check_address(address, self.policy) for address in addresses):
            raise AddressRefused("the host resolves to an address this server does not send to")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # noqa: S101 - the loop ran at least once
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface names it
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool opened on the checked backend."""

    def __init__(
        self, policy: OutboundPolicy, limits: httpx.Limits, resolver: Resolver = system_resolver
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(policy, resolver),
        )


def checked_client(
    policy: OutboundPolicy,
    timeout_seconds: float,
    limits: httpx.Limits,
    headers: dict[str, str],
    resolver: Resolver = system_resolver,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=CheckedTransport(policy, limits, resolver),
        timeout=timeout_seconds,
        follow_redirects=False,  # a redirect is not an acknowledgement, nor a place to go
        trust_env=False,
        headers=headers,
    )


def failure_class(error: BaseException) -> FailureClass:
    """The class of an httpx error, from the chain of causes httpx and httpcore keep."""
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    # A URL httpx will not even parse (0177.0.0.1 is refused by it as a malformed IPv4
    # address) is as unsendable as one that resolves inside.
    if isinstance(error, httpx.InvalidURL | httpx.UnsupportedProtocol) or any(
        isinstance(item, AddressRefused) for item in chain
    ):
        return FailureClass.refused_address
    if any(isinstance(item, ssl.SSLError | ssl.CertificateError) for item in chain):
        return FailureClass.tls
    if isinstance(error, httpx.TimeoutException):
        return FailureClass.timeout
    if isinstance(error, httpx.ConnectError):
        return FailureClass.connect_failed
    return FailureClass.transport


def count_failure(kind: FailureClass) -> None:
    telemetry.outbound_failures_total.labels(kind.value).inc()
