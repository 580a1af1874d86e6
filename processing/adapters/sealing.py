"""Secrets at rest: envelope encryption with AES-256-GCM under keys from the environment.

Each value gets a fresh data key; the value is sealed with the data key, and the data key with
the current master key. What is stored, ``sealed:v1:<key id>:<wrapped data key>:<sealed
value>`` (base64url), names the master key it needs, so a key ring of the current key and the
previous ones opens everything while ``bonus rotate-secrets`` re-seals it under the current key;
then an old key can be removed. Each value is bound to where it is kept (a context such as
``webhook:<id>``, as associated data): a sealed value copied to another row does not open.

Keys come from ``BONUS_SECRETS_KEYS`` = ``id:base64key,id:base64key`` (32-byte keys, current
first). In development without it, a key is generated once into ``<data dir>/secrets.keys``.
The SMS code HMAC key is derived from a master key with HKDF, so there is one secret to keep.
"""

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from processing.settings import Settings

prefix = "sealed:v1:"
key_bytes = 32
nonce_bytes = 12
key_file_name = "secrets.keys"
sms_key_info = b"bonus-processing sms code hmac v1"
link_key_info = b"bonus-processing unsubscribe link hmac v1"
certificate_pin_key_info = b"bonus-processing gift certificate pin hmac v1"


class SecretsKeyError(ValueError):
    """The key configuration is missing or malformed, or a sealed value cannot be opened."""


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_keys(text: str) -> dict[str, bytes]:
    """``id:base64key,...`` in order, the current key first."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in text.split(",")):
        key_id, _, encoded = item.partition(":")
        if not key_id or not key_id.replace("-", "").replace("_", "").isalnum():
            raise SecretsKeyError("BONUS_SECRETS_KEYS: each key is id:base64key, id alphanumeric")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise SecretsKeyError(f"BONUS_SECRETS_KEYS: key {key_id} is not base64") from None
        if len(key) != key_bytes:
            raise SecretsKeyError(f"BONUS_SECRETS_KEYS: key {key_id} is not {key_bytes} bytes")
        if key_id in keys:
            raise SecretsKeyError(f"BONUS_SECRETS_KEYS: key id {key_id} appears twice")
        keys[key_id] = key
    return keys


def new_key_line() -> str:
    return f"dev-{secrets.token_hex(4)}:{base64.b64encode(secrets.token_bytes(key_bytes)).decode()}"


def development_keys(data_dir: Path) -> str:
    """The development key ring, generated once into the data directory (mode 0600)."""
    path = data_dir / key_file_name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        written = path.with_name(f"{key_file_name}.{os.getpid()}")
        descriptor = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(new_key_line() + "\n")
        try:  # whole or not at all, and the first process to get there wins
            os.link(written, path)
        except FileExistsError:
            pass
        finally:
            written.unlink()
    return path.read_text().strip()


class Keyring:
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise SecretsKeyError("BONUS_SECRETS_KEYS holds no key")
        self.keys = dict(keys)
        self.current_id = next(iter(self.keys))

    @classmethod
    def from_settings(cls, settings: Settings) -> "Keyring":
        if settings.secrets_keys:
            return cls(parse_keys(settings.secrets_keys))
        if settings.is_development:
            return cls(parse_keys(development_keys(Path(settings.data_dir).resolve())))
        raise SecretsKeyError(
            "BONUS_SECRETS_KEYS is required outside development: id:base64key of 32 random "
            'bytes, e.g. k1:$(python -c "import os,base64;print(base64.b64encode(os.urandom(32))'
            '.decode())")'
        )

    def seal(self, plaintext: str, context: str) -> str:
        data_key = AESGCM.generate_key(bit_length=key_bytes * 8)
        value_nonce, key_nonce = os.urandom(nonce_bytes), os.urandom(nonce_bytes)
        sealed = AESGCM(data_key).encrypt(value_nonce, plaintext.encode(), context.encode())
        wrapped = AESGCM(self.keys[self.current_id]).encrypt(
            key_nonce, data_key, f"{self.current_id}|{context}".encode()
        )
        envelope = f"{encode(key_nonce + wrapped)}:{encode(value_nonce + sealed)}"
        return f"{prefix}{self.current_id}:{envelope}"

    def open(self, stored: str, context: str) -> str:
        key_id, wrapped, sealed = self.parts(stored)
        master = self.keys.get(key_id)
        if master is None:
            raise SecretsKeyError(f"a secret is sealed under key {key_id}, not in the key ring")
        try:
            data_key = AESGCM(master).decrypt(
                wrapped[:nonce_bytes], wrapped[nonce_bytes:], f"{key_id}|{context}".encode()
            )
            plain = AESGCM(data_key).decrypt(
                sealed[:nonce_bytes], sealed[nonce_bytes:], context.encode()
            )
        except InvalidTag:
            raise SecretsKeyError(f"a secret sealed under key {key_id} does not open") from None
        return plain.decode()

    @staticmethod
    def parts(stored: str) -> tuple[str, bytes, bytes]:
        if not stored.startswith(prefix):
            raise SecretsKeyError("the value is not sealed")
        key_id, wrapped, sealed = stored.removeprefix(prefix).split(":")
        return key_id, decode(wrapped), decode(sealed)

    def current(self, stored: str) -> bool:
        """Whether ``stored`` is sealed under the current key (rotation leaves it)."""
        return stored.startswith(f"{prefix}{self.current_id}:")

    def sms_key(self, key_id: str) -> bytes | None:
        """The HMAC key for SMS codes derived from master key ``key_id``; None if that key is
        no longer in the ring."""
        master = self.keys.get(key_id)
        if master is None:
            return None
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=sms_key_info).derive(
            master
        )

    def certificate_pin_key(self, key_id: str) -> bytes | None:
        """The HMAC key for gift certificates' PINs derived from master key ``key_id``; None if
        that key is no longer in the ring."""
        master = self.keys.get(key_id)
        if master is None:
            return None
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=certificate_pin_key_info
        ).derive(master)

    def link_key(self, key_id: str) -> bytes | None:
        """The HMAC key for links sent to customers (unsubscribe) derived from master key
        ``key_id``; None if that key is no longer in the ring."""
        master = self.keys.get(key_id)
        if master is None:
            return None
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=link_key_info).derive(
            master
        )


def sealed(value: str) -> bool:
    return value.startswith(prefix)
