"""Where the center may send a request: webhook receivers and partners' APIs.

A URL an operator gives us is checked twice. When it is stored (``check_url``): https only,
no ``user:pass@``, and a host that is neither a name for this machine nor an address we never
send to. When a request is sent (``check_address``, from the adapter that opens the socket):
every address the host resolves to *at that moment*, so a name that pointed somewhere public
when it was stored and points inside the network now is refused, and the socket is opened to
the address that was checked (no second lookup for DNS rebinding to slip through).

Refused always: link-local (169.254.0.0/16 with the cloud metadata service, fe80::/10),
unspecified, multicast, reserved and documentation ranges, IPv4 written in decimal, hex or
octal, and IPv6 that carries an IPv4 address (mapped, 6to4, NAT64, Teredo), which would let a
private IPv4 address pass as IPv6. Refused outside development: plain http, and loopback and
private addresses (10/8, 172.16/12, 192.168/16, fc00::/7) with the names of this machine.
"""

import ipaddress
from enum import StrEnum
from urllib.parse import urlsplit

import msgspec

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

url_length_max = 2000

# Names that mean this machine or its cloud's metadata service, whatever DNS says.
local_names = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
metadata_names = frozenset({"metadata", "metadata.google.internal", "instance-data"})

# Reachable only inside the network the server runs in; allowed by the development setting.
private_networks = tuple(
    ipaddress.ip_network(block)
    for block in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    )
)
# IPv6 blocks that embed an IPv4 address (IPv4-mapped is checked by ``ipv4_mapped``).
embedding_networks = tuple(
    ipaddress.ip_network(block)
    for block in ("2002::/16", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/32", "::/96")
)


class OutboundPolicy(msgspec.Struct, frozen=True, kw_only=True):
    allow_http: bool = False
    allow_private: bool = False


class UrlRefusal(StrEnum):
    """Why a URL is refused, in the order the checks run."""

    not_a_url = "not_a_url"
    scheme_not_allowed = "scheme_not_allowed"
    credentials_in_url = "credentials_in_url"
    address_not_allowed = "address_not_allowed"


class FailureClass(StrEnum):
    """How an outbound request failed, as operators and API callers see it. A class, never
    the socket's own words: those would tell a caller which ports are open inside."""

    refused_address = "refused_address"
    connect_failed = "connect_failed"
    timeout = "timeout"
    tls = "tls"
    transport = "transport"
    http_status = "http_status"


refusal_details = {
    UrlRefusal.not_a_url: "is not an absolute http(s) URL with a host",
    UrlRefusal.scheme_not_allowed: "must use https",
    UrlRefusal.credentials_in_url: "must not carry a user name or password",
    UrlRefusal.address_not_allowed: "points at an address this server does not send to",
}


def check_url(url: str, policy: OutboundPolicy) -> UrlRefusal | None:
    """None if ``url`` may be stored as a destination; otherwise why not. No name is
    resolved here: that happens at every send."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return UrlRefusal.not_a_url
    if len(url) > url_length_max or parts.scheme not in ("http", "https") or not parts.hostname:
        return UrlRefusal.not_a_url
    if any(character.isspace() or ord(character) < 32 for character in url):
        return UrlRefusal.not_a_url
    if parts.scheme == "http" and not policy.allow_http:
        return UrlRefusal.scheme_not_allowed
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return UrlRefusal.credentials_in_url
    if not host_allowed(parts.hostname, policy):
        return UrlRefusal.address_not_allowed
    return None


def host_allowed(host: str, policy: OutboundPolicy) -> bool:
    name = host.lower().rstrip(".")
    if name in metadata_names:
        return False
    if name in local_names or name.endswith(".localhost"):
        return policy.allow_private
    if numeric_ipv4(name):
        # Only the dotted-decimal form of four parts is an address we accept as written;
        # 2130706433, 0x7f.1 and 0177.0.0.1 are all 127.0.0.1 to a resolver.
        address = parse_ipv4(name)
        if address is None or str(address) != name:
            return False
        return address_allowed(address, policy)
    if ":" in name:
        return check_address(name, policy)
    return True


def numeric_ipv4(name: str) -> bool:
    """A host whose last label is a number is an IPv4 address to URL parsers and resolvers
    (the WHATWG URL rule), however it is written."""
    last = name.rsplit(".", 1)[-1]
    return last.isdigit() or (last[:2] == "0x" and all(c in "0123456789abcdef" for c in last[2:]))


def parse_ipv4(name: str) -> ipaddress.IPv4Address | None:
    """The address ``inet_aton`` would make of ``name`` (1 to 4 parts, each decimal, 0x-hex
    or 0-octal, the last filling the bytes left), or None if it is not one."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        number = parse_ipv4_part(part)
        if number is None:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_ipv4_part(part: str) -> int | None:
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def address_allowed(address: Address, policy: OutboundPolicy) -> bool:
    """Whether a request may be sent to ``address`` (a resolved or literal one)."""
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        return False
    if any(address in network for network in private_networks):
        return policy.allow_private
    if isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped is not None
        or address.sixtofour is not None
        or address.teredo is not None
        or any(address in network for network in embedding_networks)
    ):
        return False
    return address.is_global


def check_address(address: str, policy: OutboundPolicy) -> bool:
    """Whether a resolved address (as a resolver returns it: text, perhaps with a zone)
    may be connected to."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return address_allowed(parsed, policy)
