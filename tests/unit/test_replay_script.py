"""The replayed baseline's script gives each statement it replays exactly the parameters the
API's statement takes, and rendering puts every argument in its parameter's place, cast to that
parameter's type, or refuses a script that does not fit."""

import re
from pathlib import Path

import pytest

from loadtests import replay

script = (Path(replay.__file__).parent / "pgbench" / "reserve_commit.sql").read_text()


def test_the_pair_replays_load_then_apply_for_each_request() -> None:
    assert [name for name, _ in replay.replayed(script)] == ["load_turn", "apply_plan"] * 2


@pytest.mark.parametrize("index", range(4))
def test_each_replayed_statement_names_every_parameter_once(index: int) -> None:
    name, arguments = replay.replayed(script)[index]
    assert len(arguments) == len(replay.parameters(name)) == replay.parameters(name)[-1]


def test_rendering_puts_each_argument_in_its_place_with_its_type() -> None:
    name, arguments = replay.replayed(script)[0]
    types = [f"type{number}" for number in range(1, len(arguments) + 1)]
    rendered = replay.render_statement(name, arguments, types)

    assert not re.search(r"\$\d", rendered)
    assert "(:reserve_key)::type2" in rendered
    assert "(null)::type4" in rendered
    assert "--" not in rendered  # no comment, where pgbench would read a parameter
    text = replay.statement_text(name)
    assert rendered.count("::type2") == text.count("$2")


def test_a_script_that_does_not_fit_the_statement_is_refused() -> None:
    name, arguments = replay.replayed(script)[1]
    types = ["text"] * len(arguments)
    with pytest.raises(replay.ReplayError):
        replay.render_statement(name, arguments[:-1], types[:-1])
    with pytest.raises(replay.ReplayError):
        replay.render(script, {"load_turn": ["text"] * 10})  # apply_plan's types unknown
