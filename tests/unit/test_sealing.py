"""Sealing secrets at rest: a value opens only under the key ring that holds its key and only
where it was sealed for, keys are read strictly, and development generates its key once."""

import base64
import stat
from pathlib import Path

import pytest

from processing.adapters.sealing import Keyring, SecretsKeyError, parse_keys, sealed
from processing.settings import Settings

old = base64.b64encode(b"o" * 32).decode()
new = base64.b64encode(b"n" * 32).decode()


def test_a_sealed_value_opens_where_it_was_sealed_and_says_no_clear_text() -> None:
    ring = Keyring(parse_keys(f"k1:{old}"))
    stored = ring.seal("whsec_c2VjcmV0", "webhook:1")
    assert sealed(stored)
    assert stored.startswith("sealed:v1:k1:")
    assert "c2VjcmV0" not in stored
    assert ring.open(stored, "webhook:1") == "whsec_c2VjcmV0"
    assert ring.seal("same", "x") != ring.seal("same", "x")  # a fresh data key and nonce each


def test_a_value_copied_to_another_row_does_not_open() -> None:
    ring = Keyring(parse_keys(f"k1:{old}"))
    with pytest.raises(SecretsKeyError, match="does not open"):
        ring.open(ring.seal("secret", "webhook:1"), "webhook:2")


def test_rotation_needs_the_old_key_until_resealed() -> None:
    before = Keyring(parse_keys(f"k1:{old}"))
    stored = before.seal("secret", "c")
    both = Keyring(parse_keys(f"k2:{new},k1:{old}"))
    assert both.current_id == "k2"
    assert both.open(stored, "c") == "secret"
    assert not both.current(stored)
    resealed = both.seal(both.open(stored, "c"), "c")
    after = Keyring(parse_keys(f"k2:{new}"))
    assert after.open(resealed, "c") == "secret"
    with pytest.raises(SecretsKeyError, match="not in the key ring"):
        after.open(stored, "c")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "id:base64key"),
        (f":{old}", "id:base64key"),
        ("k1:not base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "not 32 bytes"),
        (f"k1:{old},k1:{new}", "twice"),
    ],
)
def test_malformed_keys_are_refused(text: str, says: str) -> None:
    with pytest.raises(SecretsKeyError, match=says):
        parse_keys(text)


def test_outside_development_a_key_is_required(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://db/x", redis_url="redis://r")
    with pytest.raises(SecretsKeyError, match="BONUS_SECRETS_KEYS is required"):
        Keyring.from_settings(settings)
    assert not list(tmp_path.iterdir())


def test_development_generates_its_key_once_and_keeps_it_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    first = Keyring.from_settings(settings)
    key_file = tmp_path / "secrets.keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = Keyring.from_settings(settings)
    assert again.open(first.seal("secret", "c"), "c") == "secret"
    assert [path.name for path in tmp_path.iterdir()] == ["secrets.keys"]


def test_the_sms_key_is_derived_per_master_key() -> None:
    ring = Keyring(parse_keys(f"k2:{new},k1:{old}"))
    assert ring.sms_key("k2") != ring.sms_key("k1")
    assert ring.sms_key("k2") not in (b"n" * 32, None)
    assert ring.sms_key("gone") is None
