"""Every partner in the registry is wired everywhere it has to be: its folder holds its
translation, receiver and handler; the app serves its receiver at ``/hooks/{name}/{connection_id}``
under the route name the published contract lists; its handler is built under its name;
``bonus connect`` offers it, and ``bonus`` offers each subcommand its folder defines (and no
other partner subcommand); and the secrets-at-rest test seals every secret it keeps."""

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api import contract
from api.app import create_app
from processing import cli
from processing.service.partners.registry import PartnerServices, Registration, registry
from processing.settings import Settings
from tests.integration.test_secrets_at_rest import partner_secrets

root = Path(__file__).resolve().parents[2]
partners = root / "processing" / "service" / "partners"
by_name = pytest.mark.parametrize("registration", registry, ids=lambda entry: entry.name)


@pytest.fixture(scope="module")
def spec() -> Any:
    settings = Settings(database_url="postgresql://unused/unused", redis_url="redis://unused")
    with TestClient(create_app(settings, runtime=object())) as client:  # type: ignore[arg-type]
        return client.get("/schema/openapi.json").json()


def test_every_partner_folder_is_registered_once() -> None:
    folders = {path.name for path in partners.iterdir() if (path / "__init__.py").exists()}
    assert folders == {registration.name for registration in registry}
    assert len(registry) == len({registration.name for registration in registry})


@by_name
def test_a_partner_is_one_folder(registration: Registration) -> None:
    folder = partners / registration.name
    for module in ("translation.py", "receiver.py", "partner.py"):
        assert (folder / module).is_file(), f"{registration.name} has no {module}"
    assert (
        registration.receive.__module__
        == f"processing.service.partners.{registration.name}.receiver"
    )


@by_name
def test_its_receiver_is_served_and_in_the_contract(
    registration: Registration, spec: dict[str, Any]
) -> None:
    operation = spec["paths"][f"/hooks/{registration.name}/{{connection_id}}"]["post"]
    assert operation["operationId"] == registration.receiver
    assert operation["security"] == []  # a partner cannot send our API key
    assert contract.ROUTES[registration.receiver] is contract.partner_receiver


def stand_ins() -> PartnerServices:
    stand_in: Any = object()
    return PartnerServices(
        database=stand_in,
        ledger=stand_in,
        loyalty=stand_in,
        pos=stand_in,
        api=stand_in,
        limiter=stand_in,
    )


@by_name
def test_its_handler_is_built_under_its_name(registration: Registration) -> None:
    assert registration.build(stand_ins()).name == registration.name


@by_name
def test_connect_offers_it(registration: Registration) -> None:
    program = "00000000-0000-0000-0000-000000000001"
    args = cli.parser().parse_args(
        ["connect", "--program-id", program, "--partner", registration.name, "--account", "a"]
    )
    assert args.partner == registration.name


@by_name
def test_the_cli_offers_its_own_commands(registration: Registration) -> None:
    connection = "00000000-0000-0000-0000-000000000002"
    for command in registration.commands:
        assert command.run.__module__ == f"processing.service.partners.{registration.name}.command"
        assert command.handler is type(registration.build(stand_ins()))
        args = cli.parser().parse_args([command.name, "--connection-id", connection])
        assert (args.command, str(args.connection_id)) == (command.name, connection)


def test_every_partner_command_comes_from_the_registry() -> None:
    names = [command.name for entry in registry for command in entry.commands]
    assert len(names) == len(set(names))
    assert all(
        command.name.startswith(f"{entry.name}-")
        for entry in registry
        for command in entry.commands
    )
    assert set(cli.partner_commands) == set(names)
    assert {"bitrix24-install", "retailcrm-install"} <= set(names)  # as the README shows them


@by_name
def test_the_secrets_at_rest_test_seals_every_secret_it_keeps(registration: Registration) -> None:
    assert set(partner_secrets) == {entry.name for entry in registry}
    assert set(partner_secrets[registration.name]) == set(registration.secrets)


def test_connect_refuses_a_partner_not_registered(capsys: pytest.CaptureFixture[str]) -> None:
    program = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(SystemExit):
        cli.parser().parse_args(
            ["connect", "--program-id", program, "--partner", "ozon", "--account", "a"]
        )
    assert "invalid choice" in capsys.readouterr().err
