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
