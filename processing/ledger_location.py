"""Which ledger a ``bonus`` command acts on, and the refusal to take an empty database for the
ledger the user meant: only ``serve`` and ``migrate`` create one. Run from the wrong directory,
``reconcile`` used to create and migrate a fresh embedded database and report it clean."""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from processing.adapters import embedded
from processing.settings import Settings

# The commands that may create (and migrate) a ledger where none exists.
creating_commands = frozenset({"serve", "migrate"})


def described(settings: Settings) -> str:
    """The ledger the settings name, for a person: the embedded cluster's folder, or the
    configured URL without its password."""
    if settings.database_url is None:
        return f"embedded Postgres in {Path(settings.data_dir).resolve() / 'postgres'}"
    return redacted(settings.database_url)


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    credentials, _, host = parts.netloc.rpartition("@")
    user = credentials.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def missing_embedded_ledger(settings: Settings) -> str | None:
    """Why a command that must not create a ledger refuses before any server starts: the data
    directory holds no embedded cluster. None when there is one, or a database is configured."""
    if settings.database_url is not None:
        return None
    data_dir = Path(settings.data_dir).resolve()
    if embedded.has_cluster(data_dir):
        return None
    return (
        f"no ledger in {data_dir} (BONUS_DATA_DIR, relative to the current directory). Run the "
        "command where `make run` serves, or set BONUS_DATA_DIR to the server's data directory "
        "or BONUS_DATABASE_URL to its database; `bonus migrate` creates a new ledger"
    )


def empty_database(settings: Settings) -> str:
    return (
        f"{described(settings)} holds no ledger (it was never migrated). Point "
        "BONUS_DATABASE_URL or BONUS_DATA_DIR at the server's ledger; `bonus migrate` creates a "
        "new one"
    )
