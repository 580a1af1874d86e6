"""The outbound policy refuses every way of writing an internal address, names of this machine,
credentials in a URL and plain http outside development, and lets public https through."""

import pytest

from processing.core.outbound import OutboundPolicy, UrlRefusal, check_address, check_url

strict = OutboundPolicy()
development = OutboundPolicy(allow_http=True, allow_private=True)

# Hosts that reach this machine or the network around it, however they are written.
internal_urls = [
    "https://127.0.0.1/hooks",
    "https://127.0.0.1:8443/hooks",
    "https://localhost/hooks",
    "https://LOCALHOST./hooks",
    "https://api.localhost/hooks",
    "https://[::1]/hooks",
    "https://10.1.2.3/hooks",
    "https://172.16.0.1/hooks",
    "https://172.31.255.254/hooks",
    "https://192.168.1.1/hooks",
    "https://[fd00::1]/hooks",
]
# Refused even in development: the metadata service, unspecified, mapped and odd forms.
never_urls = [
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://[fe80::1]/hooks",
    "https://0.0.0.0/hooks",
    "https://[::]/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[::ffff:7f00:1]/hooks",
    "https://[::ffff:169.254.169.254]/hooks",
    "https://[2002:7f00:1::]/hooks",
    "https://[64:ff9b::7f00:1]/hooks",
    "https://2130706433/hooks",
    "https://0x7f000001/hooks",
    "https://0x7f.0.0.1/hooks",
    "https://0177.0.0.1/hooks",
    "https://127.1/hooks",
    "https://017700000001/hooks",
    "https://100.64.0.1/hooks",
    "https://224.0.0.1/hooks",
    "https://1.2.3.256/hooks",
]


@pytest.mark.parametrize("url", internal_urls + never_urls)
def test_internal_addresses_are_refused(url: str) -> None:
    assert check_url(url, strict) is UrlRefusal.address_not_allowed


@pytest.mark.parametrize("url", never_urls)
def test_some_addresses_are_refused_even_in_development(url: str) -> None:
    assert check_url(url, development) is UrlRefusal.address_not_allowed


@pytest.mark.parametrize("url", internal_urls)
def test_development_may_send_to_this_machine(url: str) -> None:
    assert check_url(url, development) is None


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("not-a-url", UrlRefusal.not_a_url),
        ("file:///etc/passwd", UrlRefusal.not_a_url),
        ("ftp://crm.example/x", UrlRefusal.not_a_url),
        ("https://", UrlRefusal.not_a_url),
        ("https://crm.example:99999/x", UrlRefusal.not_a_url),
        ("https://crm.example/a b", UrlRefusal.not_a_url),
        ("http://crm.example/hooks", UrlRefusal.scheme_not_allowed),
        ("https://user:pass@crm.example/hooks", UrlRefusal.credentials_in_url),
        ("https://user@crm.example/hooks", UrlRefusal.credentials_in_url),
        ("https://crm.example@127.0.0.1/hooks", UrlRefusal.credentials_in_url),
    ],
)
def test_malformed_plain_and_credentialled_urls_are_refused(url: str, refusal: UrlRefusal) -> None:
    assert check_url(url, strict) is refusal


@pytest.mark.parametrize(
    "url",
    ["https://crm.example/hooks", "https://93.184.216.34/x", "https://[2606:4700::1111]/x"],
)
def test_public_https_passes(url: str) -> None:
    assert check_url(url, strict) is None


def test_plain_http_passes_only_when_allowed() -> None:
    assert check_url("http://crm.example/hooks", OutboundPolicy(allow_http=True)) is None


@pytest.mark.parametrize(
    ("address", "strictly", "in_development"),
    [
        ("93.184.216.34", True, True),
        ("2606:4700::1111", True, True),
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("10.0.0.1", False, True),
        ("fd12::1", False, True),
        ("169.254.169.254", False, False),
        ("fe80::1%eth0", False, False),
        ("::ffff:127.0.0.1", False, False),
        ("0.0.0.0", False, False),  # noqa: S104 - the address under test, not a bind
        ("not-an-address", False, False),
    ],
)
def test_resolved_addresses(address: str, strictly: bool, in_development: bool) -> None:
    assert check_address(address, strict) is strictly
    assert check_address(address, development) is in_development
