"""Start-up chores: the operator key from BONUS_ADMIN_KEY and, in embedded mode, a demo program
with keys a newcomer can use at once."""

import json
import os
from pathlib import Path
from uuid import uuid4

import msgspec

from processing.runtime import Runtime
from processing.service.admin import create_key, secret_hash
from processing.service.records import ProgramSettings

demo_program_name = "Demo coffee shop"


class DemoKeys(msgspec.Struct, frozen=True, kw_only=True):
    program_id: str
    # None when BONUS_ADMIN_KEY was set: the operator already has a key.
    admin_key: str | None
    pos_key: str


async def ensure_operator_key(runtime: Runtime, secret: str) -> None:
    async with runtime.database.transaction() as store:
        await store.ensure_operator_key(uuid4(), "BONUS_ADMIN_KEY", secret_hash(secret))
    runtime.admin.forget_keys()  # a rotated-out secret must not live on in this process


async def ensure_demo(runtime: Runtime, data_dir: Path, given_admin_key: str | None) -> DemoKeys:
    """Creates the demo program and its keys once; later starts print the same keys, which are
    kept in the data directory (readable by this user only) because only hashes are stored.
    An operator key is made only when BONUS_ADMIN_KEY gives none: then that key is the one."""
    path = data_dir / "demo-keys.json"
    keys = load_demo_keys(path)
    if keys is None:
        keys = await create_demo(runtime)
        save_private(path, msgspec.to_builtins(keys))
    if given_admin_key is not None:
        return msgspec.structs.replace(keys, admin_key=None)
    if keys.admin_key is None:
        async with runtime.database.transaction() as store:
            admin = await create_key(store, None, "make run operator", ["admin"], None)
        keys = msgspec.structs.replace(keys, admin_key=str(admin.key))
        save_private(path, msgspec.to_builtins(keys))
    return keys


async def create_demo(runtime: Runtime) -> DemoKeys:
    """The demo program and a till key for it (no operator key yet)."""
    async with runtime.database.transaction() as store:
        program = await store.find_program_by_name(demo_program_name)
        if program is None:
            settings = ProgramSettings(name=demo_program_name, currency="RUB", expiry_days=365)
            program = await store.insert_program(uuid4(), settings)
        pos = await create_key(store, program.id, "make run till", ["pos"], "store-1")
    return DemoKeys(program_id=str(program.id), admin_key=None, pos_key=str(pos.key))


def load_demo_keys(path: Path) -> DemoKeys | None:
    return msgspec.json.decode(path.read_bytes(), type=DemoKeys) if path.exists() else None


def save_private(path: Path, value: object) -> None:
    """Writes JSON readable by the owner only: the file holds secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(value, file, indent=2)
