"""Settings read from the environment: development mode follows the embedded servers unless it
is said outright, and survives the embedded URLs being filled in; outside development an admin
key must be long and no placeholder."""

import pytest

from processing.settings import admin_key_refusal, load_settings


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


production = {"BONUS_DATABASE_URL": "postgresql://db/x", "BONUS_REDIS_URL": "redis://r"}
long_random_key = "4f9c2e7a1b8d6f3e0a5c9b2d7e4f1a8c6b3d0e9f2a7c"


@pytest.mark.parametrize(
    ("environ", "refused_because"),
    [
        (production | {"BONUS_ADMIN_KEY": "change-me-local-admin-key"}, "placeholder"),
        (production | {"BONUS_ADMIN_KEY": "CHANGE_ME"}, "placeholder"),
        (
            production | {"BONUS_ADMIN_KEY": "Change-Me-To-A-Long-Random-Secret-Please"},
            "placeholder",
        ),
        (production | {"BONUS_ADMIN_KEY": long_random_key[:31]}, "31 characters"),
        (production | {"BONUS_ADMIN_KEY": long_random_key[:32]}, None),
        (production | {"BONUS_ADMIN_KEY": long_random_key}, None),
        (production, None),
        # Development (the embedded servers, or said outright) takes any key.
        ({"BONUS_ADMIN_KEY": "change-me-local-admin-key"}, None),
        (production | {"BONUS_ADMIN_KEY": "CHANGE_ME", "BONUS_DEVELOPMENT": "true"}, None),
    ],
)
def test_outside_development_a_placeholder_or_short_admin_key_is_refused(
    environ: dict[str, str], refused_because: str | None
) -> None:
    refusal = admin_key_refusal(load_settings(environ))
    if refused_because is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refused_because in refusal
        assert "BONUS_ADMIN_KEY" in refusal
        assert environ["BONUS_ADMIN_KEY"] not in refusal  # the key itself is never echoed
