"""The ``bonus`` command: serve, worker, migrate, create-program, create-key, connect, reconcile,
expire, export, import."""

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID, uuid4

import asyncpg
import msgspec
import structlog

from processing import telemetry
from processing.adapters.postgres.migrations import LedgerUnreachable, has_ledger
from processing.adapters.sealing import Keyring, SecretsKeyError
from processing.core import limits
from processing.ledger_location import (
    creating_commands,
    described,
    empty_database,
    missing_embedded_ledger,
)
from processing.runtime import Runtime, resolve_urls, stop_embedded_servers
from processing.service.admin import create_key
from processing.service.certificates.expiry import expire_certificates
from processing.service.ledger.expiry import sweep
from processing.service.ledger.reconcile import reconcile
from processing.service.loyalty.export import Unencodable, export_program
from processing.service.loyalty.imports import (
    ImportOutcome,
    ImportRequest,
    UnusableFile,
    file_rows,
    import_file,
    write_report,
)
from processing.service.loyalty.membership import sweep_memberships
from processing.service.partners.channels import PartnerRejected
from processing.service.partners.commands import PartnerCommand
from processing.service.partners.registry import Registration, registered, registry
from processing.service.partners.translation import Unusable
from processing.service.ports import DatabaseRefusedData, DatabaseUnavailable, PartnerUnavailable
from processing.service.records import ProgramSettings
from processing.settings import Settings, admin_key_refusal, load_settings

log = structlog.get_logger(__name__)


def emit(value: object) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


async def with_runtime(settings: Settings, action: Callable[[Runtime], Awaitable[int]]) -> int:
    runtime = await Runtime.open(settings)
    try:
        return await action(runtime)
    finally:
        await runtime.close()


async def do_migrate(runtime: Runtime) -> int:
    emit({"migrated": True})
    return 0


def do_create_program(args: argparse.Namespace) -> Callable[[Runtime], Awaitable[int]]:
    async def action(runtime: Runtime) -> int:
        settings = ProgramSettings(
            name=args.name,
            currency=args.currency,
            country=args.country,
            expiry_days=args.expiry_days,
        )
        async with runtime.database.transaction() as store:
            program = await store.insert_program(uuid4(), settings)
        emit(program)
        return 0

    return action


def do_create_key(args: argparse.Namespace) -> Callable[[Runtime], Awaitable[int]]:
    async def action(runtime: Runtime) -> int:
        async with runtime.database.transaction() as store:
            if (
                args.program_id is not None
                and await store.get_program(args.program_id, None) is None
            ):
                sys.stderr.write(f"bonus create-key: no program with id {args.program_id}\n")
                return 2
            key = await create_key(store, args.program_id, args.name, args.scopes, args.store_id)
        emit(key)
        return 0

    return action


def do_connect(args: argparse.Namespace) -> Callable[[Runtime], Awaitable[int]]:
    """A partner connection; prints its id and the path its webhooks are to be sent to."""

    async def action(runtime: Runtime) -> int:
        async with runtime.database.reader() as store:
            if await store.get_program(args.program_id, None) is None:
                sys.stderr.write(f"bonus connect: no program with id {args.program_id}\n")
                return 2
        secrets = dict(item.partition("=")[::2] for item in args.secret)
        settings = dict(args.setting)
        try:
            connection = await runtime.channels.connect(
                args.program_id, args.partner, args.account, secrets, settings
            )
        except ValueError as error:
            sys.stderr.write(f"bonus connect: {error}\n")
            return 2
        emit(
            {
                "connection_id": connection.id,
                "partner": connection.partner,
                "account": connection.account,
                "webhook_path": f"/hooks/{connection.partner}/{connection.id}",
            }
        )
        return 0

    return action


def do_partner_command(
    registration: Registration, command: PartnerCommand[Any], args: argparse.Namespace
) -> Callable[[Runtime], Awaitable[int]]:
    """A partner's own subcommand (its folder's ``command.py``), on one of its connections."""

    async def action(runtime: Runtime) -> int:
        connection = await runtime.channels.connection(args.connection_id)
        if connection is None or connection.partner != registration.name:
            sys.stderr.write(
                f"bonus {command.name}: no {registration.label} connection {args.connection_id}\n"
            )
            return 2
        try:
            report = await command.run(runtime.partner(command.handler), connection)
        except (PartnerRejected, PartnerUnavailable, Unusable) as error:
            sys.stderr.write(f"bonus {command.name}: {command.counterpart} refused: {error}\n")
            return 1
        emit(report)
        return 0

    return action


# What --encoding names, as Python writes it: UTF-8 with a byte order mark, by which Excel (and
# 1C's habit of passing files through it) tells UTF-8 from the ANSI code page.
export_encodings = {"utf-8": "utf-8-sig", "cp1251": "cp1251"}


def do_export(args: argparse.Namespace) -> Callable[[Runtime], Awaitable[int]]:
    """The program's customers and open lots as CSV (docs/import-export.md), to a file that
    appears only once it is complete, or to stdout with ``-``."""

    async def action(runtime: Runtime) -> int:
        async with runtime.database.reader() as store:
            if await store.get_program(args.program_id, None) is None:
                sys.stderr.write(f"bonus export: no program with id {args.program_id}\n")
                return 2
        try:
            with export_target(args.output, export_encodings[args.encoding]) as out:
                count = await export_program(
                    runtime.database, args.program_id, out, args.separator, args.batch_rows
                )
        except OSError as error:
            sys.stderr.write(f"bonus export: cannot write {args.output}: {error.strerror}\n")
            return 2
        except Unencodable as error:
            sys.stderr.write(f"bonus export: {error}; export with --encoding utf-8\n")
            return 1
        sys.stderr.write(
            f"bonus export: {count.customers} customers, {count.lots} lots, {count.points} points\n"
        )
        return 0

    return action


@contextlib.contextmanager
def export_target(output: str, encoding: str) -> Iterator[TextIO]:
    """stdout for ``-``; otherwise a temporary file beside ``output``, renamed onto it when the
    export is complete and removed when it is not, so a failed export never leaves half a
    file where an importer would take it for a whole one."""
    if output == "-":
        out = io.TextIOWrapper(sys.stdout.buffer, encoding=encoding, newline="")
        try:
            yield out
        finally:
            out.flush()
            out.detach()
        return
    target = Path(output)
    descriptor, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with open(descriptor, "w", encoding=encoding, newline="") as out:
            yield out
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


def do_import(args: argparse.Namespace) -> Callable[[Runtime], Awaitable[int]]:
    """A file in the export's format into a program (docs/import-export.md): checked whole
    first, then applied in batches that a re-run resumes."""

    async def action(runtime: Runtime) -> int:
        try:
            sha256 = file_sha256(args.file)
            # Read as the rows are checked; nothing else runs on this event loop meanwhile.
            encoding = export_encodings[args.encoding]
            with open(args.file, encoding=encoding, newline="") as stream:  # noqa: ASYNC230
                request = ImportRequest(
                    program_id=args.program_id,
                    import_id=args.import_id or sha256.hex(),
                    file_sha256=sha256,
                    batch_customers=args.batch_customers,
                    dry_run=args.dry_run,
                    skip_invalid=args.skip_invalid,
                )
                with progress_bar() as progress:
                    rows = file_rows(stream, args.separator)
                    outcome = await import_file(runtime.database, request, rows, progress)
        except OSError as error:
            sys.stderr.write(f"bonus import: cannot read {args.file}: {error.strerror}\n")
            return 2
        except UnusableFile as error:
            sys.stderr.write(f"bonus import: {error}\n")
            return 2
        except (asyncpg.PostgresError, DatabaseRefusedData, DatabaseUnavailable) as error:
            sys.stderr.write(
                f"bonus import: the database refused a batch ({error}); what committed stays, "
                "and the same command resumes after it\n"
            )
            return 1
        return report_import(args, outcome)

    return action


def report_import(args: argparse.Namespace, outcome: ImportOutcome) -> int:
    if args.report is not None:
        try:
            with open(args.report, "w", encoding="utf-8-sig", newline="") as out:
                write_report(outcome.errors, out, args.separator)
        except OSError as error:
            sys.stderr.write(f"bonus import: cannot write {args.report}: {error.strerror}\n")
            return 2
    elif outcome.errors:
        for wrong in outcome.errors[: limits.import_errors_shown_max]:
            sys.stderr.write(f"bonus import: row {wrong.row}, {wrong.field}: {wrong.reason}\n")
        if len(outcome.errors) > limits.import_errors_shown_max:
            more = len(outcome.errors) - limits.import_errors_shown_max
            sys.stderr.write(f"bonus import: and {more} more; --report PATH lists them all\n")
    emit(summary_of(outcome))
    refused = bool(outcome.errors) and (args.dry_run or not args.skip_invalid)
    verb = "would import" if args.dry_run else "imported"
    if refused and not args.dry_run:
        sys.stderr.write(
            f"bonus import: nothing imported: {outcome.invalid_rows} invalid rows; correct them "
            "or pass --skip-invalid to import the other customers\n"
        )
    elif not outcome.written and not args.dry_run:
        sys.stderr.write(f"bonus import: {outcome.import_id} was imported before; nothing to do\n")
    else:
        sys.stderr.write(
            f"bonus import: {verb} {outcome.customers} customers, {outcome.lots} lots, "
            f"{outcome.points} points ({outcome.expired_lots} lots already expired, burned by "
            f"the next expiry sweep); {outcome.invalid_rows} invalid rows"
            + (" skipped\n" if outcome.invalid_rows and not args.dry_run else "\n")
        )
    return 1 if refused else 0


def summary_of(outcome: ImportOutcome) -> dict[str, Any]:
    summary = msgspec.structs.asdict(outcome)
    del summary["errors"]
    return summary


def file_sha256(path: str) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


@contextlib.contextmanager
def progress_bar() -> Iterator["RichProgress"]:
    """Rows checked and customers imported, with their rate and the time left, on stderr;
    shown only when stdout is a terminal, so that a script or a pipe gets no bar."""
    bar = RichProgress(shown=sys.stdout.isatty())
    try:
        yield bar
    finally:
        bar.stop()


class RichProgress:
    def __init__(self, shown: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not shown,
        )
        self.task: Any = None

    def begin(self, phase: str, total: int | None) -> None:
        if self.task is None:
            self.progress.start()
        else:
            self.progress.stop_task(self.task)
        unit = "rows" if phase == "checking" else "customers"
        self.unit = unit
        self.task = self.progress.add_task(phase, total=total, rate=f"0 {unit}/s")

    def advance(self, count: int) -> None:
        self.progress.advance(self.task, count)
        speed = self.progress.tasks[-1].speed or 0
        self.progress.update(self.task, rate=f"{speed:,.0f} {self.unit}/s")

    def stop(self) -> None:
        self.progress.stop()


def batch_customers(value: str) -> int:
    customers = int(value)
    if not 0 < customers <= limits.import_batch_customers_max:
        raise argparse.ArgumentTypeError(
            f"expected 1 to {limits.import_batch_customers_max} customers, got {value!r}"
        )
    return customers


def import_id(value: str) -> str:
    if not 0 < len(value) <= limits.import_id_length_max or not value.isprintable():
        raise argparse.ArgumentTypeError(
            f"expected 1 to {limits.import_id_length_max} printable characters"
        )
    return value


def batch_rows(value: str) -> int:
    rows = int(value)
    if not 0 < rows <= limits.export_batch_rows_max:
        raise argparse.ArgumentTypeError(
            f"expected 1 to {limits.export_batch_rows_max} rows, got {value!r}"
        )
    return rows


# Every partner's own subcommands, by name, with the entry that adds each.
partner_commands = {
    command.name: (registration, command)
    for registration in registry
    for command in registration.commands
}


def setting_pair(value: str) -> tuple[str, Any]:
    """``NAME=VALUE``; a VALUE that is JSON (``["complete","delivered"]``) is decoded, any
    other is kept as the string."""
    name, equals, raw = value.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {value!r}")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


def secret_pair(value: str) -> str:
    name, equals, secret = value.partition("=")
    if not equals or not name or not secret:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {value!r}")
    return value


async def do_reconcile(runtime: Runtime) -> int:
    report = await reconcile(runtime.database)
    emit({"accounts_checked": report.accounts_checked, "differences": report.differences})
    return 0 if report.clean else 1


async def do_rotate_secrets(runtime: Runtime) -> int:
    """Re-seals every stored secret under the current key (the first of BONUS_SECRETS_KEYS),
    after which the older keys may be removed."""
    current = runtime.keyring.current_id
    async with runtime.database.transaction() as store:
        report = await store.seal_secrets(rotate=True)
        # PINs are HMACs, not sealed: each moves to the new key at its next right entry, and
        # the old key must stay until none is left under it.
        waiting = await store.certificate_pins_under_older_keys(current)
    emit(report | {"certificate_pins_under_older_keys": waiting, "key_id": current})
    return 0


def do_reports(args: argparse.Namespace) -> Callable[[Runtime], Awaitable[int]]:
    async def run(runtime: Runtime) -> int:
        points, liability = await runtime.reports.rebuild(args.program_id)
        emit({"report_points_rows": points, "report_liability_rows": liability})
        return 0

    return run


async def do_expire(runtime: Runtime) -> int:
    report = await sweep(runtime.database)
    closed, burned = await expire_certificates(runtime.database, None)
    await sweep_memberships(runtime.database)
    emit(msgspec.structs.replace(report, expired_certificates=closed, burned_minor=burned))
    return 0


async def do_worker(runtime: Runtime) -> int:
    """The background loops until the process is stopped: the expiry sweep (lots past expiry,
    holds past their TTL), the webhook relay with the trigger messages it feeds, the partner
    channels' sweeps, the campaigns, the live consistency check and the Google Wallet objects'
    patches."""
    from processing.workers.expiry import run_expiry_loop

    settings = runtime.settings
    if settings.worker_metrics_port:
        try:
            telemetry.serve_metrics(settings.host, settings.worker_metrics_port)
        except OSError as error:  # a taken port costs the metrics, never the sweeps
            log.error(
                "worker_metrics_unavailable", port=settings.worker_metrics_port, error=str(error)
            )
    await asyncio.gather(
        run_expiry_loop(runtime.database, runtime.settings.expiry_interval_seconds),
        runtime.run_relay(),
        runtime.run_program_gauges(),
        runtime.run_messages(),
        runtime.run_channels(),
        runtime.run_campaigns(),
        runtime.run_live_check(),
        runtime.run_google_wallet(),
        runtime.run_wallet(),
    )
    return 0


def exit_after_shutdown(signum: int, frame: object) -> None:
    """uvicorn drains in-flight requests on SIGTERM, then raises the signal again so the process
    ends the way it was asked to. Ending with SystemExit instead lets ``serve`` stop the embedded
    servers it started rather than leave them running without an owner."""
    raise SystemExit(0)


def serve(settings: Settings, embedded: bool) -> int:
    import uvicorn

    # Workers inherit the resolved URLs; the embedded servers stay with this parent process.
    os.environ["BONUS_DATABASE_URL"] = str(settings.database_url)
    os.environ["BONUS_REDIS_URL"] = str(settings.redis_url)
    metrics_folder = share_metrics_between_workers() if settings.workers > 1 else None
    signal.signal(signal.SIGTERM, exit_after_shutdown)
    try:
        asyncio.run(announce(settings, embedded))
        if settings.metrics_port:
            telemetry.serve_metrics(settings.host, settings.metrics_port)
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=20,
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            # The edge's bounds (header bytes, read timeout) live in this protocol; see
            # api/edge.py. The request cap is the app's middleware.
            http="api.edge:EdgeProtocol",
            timeout_keep_alive=settings.http_keep_alive_seconds,
        )
    finally:
        stop_embedded_servers()
        if metrics_folder is not None:
            shutil.rmtree(metrics_folder, ignore_errors=True)
    return 0


def share_metrics_between_workers() -> str:
    """A fresh folder for prometheus-client's multiprocess mode, named in the environment the
    workers inherit, so that /metrics answers for the whole server whichever worker serves it."""
    folder = tempfile.mkdtemp(prefix="bonus-metrics-")
    os.environ[telemetry.multiprocess_folder_variable] = folder
    return folder


async def announce(settings: Settings, embedded: bool) -> None:
    """Migrates, creates the operator key and, in embedded mode, the demo program, and says how
    to call the API."""
    from processing.bootstrap import ensure_demo, ensure_operator_key

    runtime = await Runtime.open(settings)
    try:
        if settings.admin_key:
            await ensure_operator_key(runtime, settings.admin_key)
        base = f"http://{settings.host}:{settings.port}"
        if embedded:
            keys = await ensure_demo(runtime, Path(settings.data_dir), settings.admin_key)
            # A key given in BONUS_ADMIN_KEY is the operator's: no second one, and not echoed.
            admin_key = keys.admin_key or "the one in BONUS_ADMIN_KEY"
            sys.stdout.write(
                f"\nBonus processing center (embedded Postgres and Redis in {settings.data_dir}/)\n"
                f"  admin key:        {admin_key}\n"
                f"  POS key (demo):   {keys.pos_key}\n"
                f"  demo program id:  {keys.program_id}\n"
                f"  API docs:         {base}/schema\n\n"
            )
        else:
            sys.stdout.write(f"\nBonus processing center on {base} (docs: {base}/schema)\n\n")
        sys.stdout.flush()
    finally:
        await runtime.close()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="bonus",
        description=__doc__,
        epilog="Exit status: 0 done; 1 the operation failed (reconcile found a difference, a "
        "partner refused, the database did not answer); 2 a usage or configuration error (bad "
        "arguments, an unknown id, a database that refuses the connection or holds no ledger: "
        "only serve and migrate create one). Every command says on stderr which ledger it used.",
    )
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="migrate and serve the HTTP API")
    commands.add_parser(
        "worker",
        help="run the background loops: expiry sweep, webhook relay and trigger messages, "
        "partner channels, campaigns",
    )
    commands.add_parser("migrate", help="apply database migrations")
    program = commands.add_parser("create-program", help="create a loyalty program")
    program.add_argument("--name", required=True)
    program.add_argument("--currency", type=code_of(3), default="RUB", help="ISO 4217")
    program.add_argument("--country", type=code_of(2), default="RU", help="ISO 3166-1 alpha-2")
    program.add_argument("--expiry-days", type=int, default=None)
    key = commands.add_parser("create-key", help="create an API key (the secret is shown once)")
    key.add_argument(
        "--program-id", type=UUID, default=None, help="omit for an operator key (admin only)"
    )
    key.add_argument("--name", required=True)
    key.add_argument(
        "--scopes",
        nargs="+",
        default=None,
        choices=["pos", "shop", "crm", "admin"],
        help="default: pos for a program key, admin for an operator key",
    )
    key.add_argument("--store-id", default=None)
    connect = commands.add_parser(
        "connect",
        help="connect a partner account (a Bitrix24 portal, a RetailCRM account, a Shopify or "
        "WooCommerce shop) to a program",
    )
    connect.add_argument("--program-id", type=UUID, required=True)
    connect.add_argument("--partner", required=True, choices=sorted(registered))
    connect.add_argument(
        "--account",
        required=True,
        help="Bitrix24: the portal's domain; Shopify: the shop's myshopify domain; "
        "WooCommerce: the site URL (https://...); RetailCRM: the account URL "
        "(https://x.retailcrm.ru)",
    )
    connect.add_argument(
        "--secret",
        type=secret_pair,
        action="append",
        default=[],
        help="NAME=VALUE, repeatable; Shopify: client_secret=<the app's client secret>; "
        "WooCommerce: webhook_secret=, consumer_key=, consumer_secret= (a read REST key); "
        "Bitrix24: webhook_url=<the inbound webhook's REST URL>, application_token=<the "
        "outgoing webhook's token>; RetailCRM: api_key=, trigger_secret= (the token its "
        "trigger sends)",
    )
    connect.add_argument(
        "--setting",
        type=setting_pair,
        action="append",
        default=[],
        help="NAME=VALUE (JSON or a string), repeatable; RetailCRM: "
        'completed_statuses=["complete"], cancelled_statuses=["cancel-other"], '
        "points_field=bonus_points",
    )
    for name, (_, partner_command) in partner_commands.items():
        added = commands.add_parser(name, help=partner_command.help)
        added.add_argument("--connection-id", type=UUID, required=True)
    commands.add_parser(
        "reconcile", help="recompute balances from entries; non-zero on any difference"
    )
    commands.add_parser("expire", help="run one expiry sweep")
    reports = commands.add_parser("reports", help="the report rollups (decision 0025)")
    report_commands = reports.add_subparsers(dest="report_command", required=True)
    rebuild = report_commands.add_parser(
        "rebuild",
        help="recompute the report rollups from the ledger (after a change of a program's "
        "time zone, or when reconcile finds them apart); the relay waits meanwhile",
    )
    rebuild.add_argument(
        "--program-id", type=UUID, default=None, help="one program (default: every program)"
    )
    export = commands.add_parser(
        "export",
        help="write a program's customers and balances as CSV, one row per open lot "
        "(docs/import-export.md)",
    )
    export.add_argument("--program-id", type=UUID, required=True)
    export.add_argument("--output", required=True, help="a file path, or - for stdout")
    export.add_argument("--encoding", choices=sorted(export_encodings), default="utf-8")
    export.add_argument("--separator", choices=[";", ","], default=";")
    export.add_argument(
        "--batch-rows",
        type=batch_rows,
        default=limits.export_batch_rows_default,
        help="rows fetched from the database at a time",
    )
    bulk = commands.add_parser(
        "import",
        help="import customers, cards and balances from a CSV file in the export's format "
        "(docs/import-export.md); checks every row first, resumes after a kill",
        epilog="Exit status: 0 imported (or, with --dry-run, every row is valid); 1 invalid "
        "rows (nothing written unless --skip-invalid), or the database refused a batch (the "
        "same command resumes); 2 an unknown program, a file it cannot read or not in the "
        "format, an import id used for another file.",
    )
    bulk.add_argument("--program-id", "--program", dest="program_id", type=UUID, required=True)
    bulk.add_argument("file", help="the CSV file, as bonus export writes it")
    bulk.add_argument("--encoding", choices=sorted(export_encodings), default="utf-8")
    bulk.add_argument("--separator", choices=[";", ","], default=";")
    bulk.add_argument("--dry-run", action="store_true", help="check every row and write nothing")
    bulk.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid customers and skip every customer with an invalid row",
    )
    bulk.add_argument(
        "--report", default=None, help="write the invalid rows here (row, field, reason)"
    )
    bulk.add_argument(
        "--import-id",
        default=None,
        type=import_id,
        help="names this import (default: the file's SHA-256); a re-run with it resumes",
    )
    bulk.add_argument(
        "--batch-customers",
        type=batch_customers,
        default=limits.import_batch_customers_default,
        help="customers written per transaction",
    )
    commands.add_parser(
        "rotate-secrets",
        help="re-seal every stored secret under the current key (the first of "
        "BONUS_SECRETS_KEYS); then the older keys may be removed",
    )
    return root


def code_of(length: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) != length or not value.isascii() or not value.isalpha():
            raise argparse.ArgumentTypeError(f"expected {length} letters, got {value!r}")
        return value.upper()

    return parse


def main(argv: list[str] | None = None) -> int:
    command_line = parser()
    args = command_line.parse_args(argv)
    if args.command == "create-key":
        if args.scopes is None:
            args.scopes = ["pos"] if args.program_id else ["admin"]
        if args.program_id is None and args.scopes != ["admin"]:
            command_line.error("a key without --program-id is an operator key: --scopes admin")
    raw = load_settings()
    telemetry.configure_logging(raw.log_level)
    creates = args.command in creating_commands
    refusal = None if creates else missing_embedded_ledger(raw)
    if refusal is not None:
        sys.stderr.write(f"bonus {args.command}: {refusal}\n")
        return 2
    sys.stderr.write(f"bonus {args.command}: ledger: {described(raw)}\n")
    try:
        Keyring.from_settings(raw)  # a missing or malformed key stops here, with its reason
    except SecretsKeyError as error:
        sys.stderr.write(f"bonus {args.command}: {error}\n")
        return 2
    if args.command == "serve":
        refusal = admin_key_refusal(raw)
        if refusal is not None:
            sys.stderr.write(f"bonus serve: {refusal}\n")
            return 2
        # The demo program is for a fresh machine only: never in a database someone configured.
        return serve(resolve_urls(raw, serving=True), embedded=raw.database_url is None)
    action = command_action(args)
    try:
        settings = resolve_urls(raw)
        if settings.database_url is None:
            raise ValueError("resolve_urls left the database URL unset")
        refused = check_ledger(args.command, raw, settings.database_url)
        return refused if refused is not None else asyncio.run(with_runtime(settings, action))
    finally:
        stop_embedded_servers()


def check_ledger(command: str, raw: Settings, url: str) -> int | None:
    """None when the command may go on; otherwise its exit status, with the reason on stderr:
    1 when the database does not answer, 2 when it refuses or holds no ledger to act on."""
    try:
        found = asyncio.run(has_ledger(url))
    except LedgerUnreachable as error:
        sys.stderr.write(f"bonus {command}: {described(raw)} {error}\n")
        return 2 if error.misconfigured else 1
    if not found and command not in creating_commands:
        sys.stderr.write(f"bonus {command}: {empty_database(raw)}\n")
        return 2
    return None


def command_action(args: argparse.Namespace) -> Callable[[Runtime], Awaitable[int]]:
    actions: dict[str, Callable[[Runtime], Awaitable[int]]] = {
        "worker": do_worker,
        "migrate": do_migrate,
        "reconcile": do_reconcile,
        "expire": do_expire,
        "rotate-secrets": do_rotate_secrets,
    }
    with_arguments = {
        "create-program": do_create_program,
        "create-key": do_create_key,
        "connect": do_connect,
        "export": do_export,
        "import": do_import,
        "reports": do_reports,
    }
    if args.command in partner_commands:
        return do_partner_command(*partner_commands[args.command], args)
    if args.command in with_arguments:
        return with_arguments[args.command](args)
    return actions[args.command]


if __name__ == "__main__":
    sys.exit(main())
