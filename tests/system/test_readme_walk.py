"""The README's walk-through works as written: ``bonus serve`` (what ``make run`` runs) starts
on a fresh data directory with its embedded servers, and every shell block from "Calling the
API" to the partner channels runs in order, in one bash, against it, with no command failing
and no HTTP error. The SMS code the user would read off the server's shell is read from its
output, and it arrived in Russian."""

import asyncio
import re
from pathlib import Path

import httpx

from tests import servers
from tests.system.processes import bonus, environment, stop, wait_until_ready
from tests.system.readme_walk import readme, walk_blocks, walk_script

walk_timeout_seconds = 300


def test_the_walk_is_the_readmes_shell_blocks() -> None:
    blocks = walk_blocks(readme.read_text(encoding="utf-8"))
    text = "\n".join(blocks)
    # What a new user could not do before: create the shop's key, PUT the rules, identify the
    # customer they enrolled.
    assert "/v1/api-keys" in text
    assert "-X PUT $API/v1/programs/$PROGRAM/rules" in text
    assert '"8 (912) 345-67-89"' in text
    assert '"8 912 345-67-89"' in text
    assert "[...]" not in text  # no placeholder a shell would send as it is


async def test_the_readme_walk_runs_as_written_against_a_live_server(tmp_path: Path) -> None:
    port = servers.free_port()
    env = environment(port=str(port), log_level="WARNING")
    env.pop("BONUS_DATA_DIR", None)  # the default, .data in the folder serve runs in
    serve_out, serve_err = tmp_path / "serve.out", tmp_path / "serve.err"
    with serve_out.open("wb") as stdout, serve_err.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            bonus, "serve", env=env, cwd=tmp_path, stdout=stdout, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await wait_until_ready(client, process, serve_out, serve_err)
        # The user reads the code off the server's shell; here, off its standard error.
        read_code = (
            "sed -n 's/.*development SMS to [^]]*] [^0-9]*\\([0-9]\\{6\\}\\).*/\\1/p' "
            f"{serve_err} | tail -1"
        )
        script = tmp_path / "walk.sh"
        script.write_text(walk_script(port, read_code), encoding="utf-8")
        walk = await asyncio.create_subprocess_exec(
            "bash", str(script), cwd=tmp_path, env=environment(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(walk.communicate(), walk_timeout_seconds)
        said = output.decode(errors="replace")
        assert walk.returncode == 0, said[-4000:]
        assert '"available":4850' in said  # the balance the README shows
        assert '"default":false' in said  # the program's own SMS text was stored
        sent = re.findall(r"\[development SMS to \+79123456789\] (.*)", serve_err.read_text())
        assert sent, serve_err.read_text()[-2000:]
        russian = r"Код \d{6} для оплаты баллами \(5 мин\)\. Назовите его только кассиру\."
        assert re.fullmatch(russian, sent[0]), sent
    finally:
        await stop(process)
