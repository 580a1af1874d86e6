"""Settings read from the environment: development mode follows the embedded servers unless it
is said outright, and survives the embedded URLs being filled in."""

import pytest

from processing.settings import load_settings


@pytest.mark.parametrize(
    ("environ", "development"),
    [
        ({}, True),
        ({"BONUS_DATABASE_URL": "postgresql://db/x", "BONUS_REDIS_URL": "redis://r"}, False),
        (
            {
                "BONUS_DATABASE_URL": "postgresql://db/x",
                "BONUS_REDIS_URL": "redis://r",
                "BONUS_DEVELOPMENT": "true",
            },
            True,
        ),
        ({"BONUS_DEVELOPMENT": "false"}, False),
    ],
)
def test_development_follows_the_embedded_servers_unless_set(
    environ: dict[str, str], development: bool
) -> None:
    assert load_settings(environ).is_development is development


@pytest.mark.parametrize(
    ("environ", "allow_http", "allow_private"),
    [
        ({}, True, True),
        ({"BONUS_DATABASE_URL": "postgresql://db/x", "BONUS_REDIS_URL": "redis://r"}, False, False),
        ({"BONUS_OUTBOUND_ALLOW_HTTP": "false"}, False, True),
        ({"BONUS_DEVELOPMENT": "false", "BONUS_OUTBOUND_ALLOW_PRIVATE": "true"}, False, True),
    ],
)
def test_outbound_allowances_follow_development_unless_set(
    environ: dict[str, str], allow_http: bool, allow_private: bool
) -> None:
    policy = load_settings(environ).outbound
    assert (policy.allow_http, policy.allow_private) == (allow_http, allow_private)
