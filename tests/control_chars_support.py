"""Shared by tests/unit/test_control_chars.py and tests/tui/test_control_chars_tui.py."""

from __future__ import annotations

import json
import re

import pytest


HOSTILE = [
    "evil\x1b]0;PWNED\x07",
    "two\nlines",
    "c1\x9b31mred\x85next",
    "bidi\u202eevil\u2066x\u2069",
    "sep\u2028para\u2029del\x7f",
    "cr\rtab\tnul\x00",
]


CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What must never reach a terminal (a newline only where the output means one)."""


def assert_clean(text: str, where: str) -> None:
    found = CONTROL.search(text)
    assert found is None, f"{where}: {found.group()!r} at {found.start()} in {text[max(found.start() - 40, 0):][:80]!r}"


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string with \uXXXX escapes is a TOML basic string


WRONG = "wrong\x1b[31mtoken"
"""An org whose token the API rejects: its name on the error row, the no-data line."""


@pytest.fixture
def hostile_config(start_sim, make_org, tmp_path):
    """One simulated org per hostile name (85% used: a WARNING each), and WRONG."""
    orgs = [make_org(f"org{i}", credits_used_at_start=8_500, burn_per_hour=0.0) for i in range(len(HOSTILE))]
    sim = start_sim(orgs)
    tables = [f"[[org]]\nname = {toml_string(name)}\napi_url = {toml_string(sim.base_url)}\ntoken = \"org{i}-token\"\n"
              for i, name in enumerate(HOSTILE)]
    tables.append(f'[[org]]\nname = {toml_string(WRONG)}\napi_url = "{sim.base_url}"\ntoken = "not-a-token"\n')
    path = tmp_path / "config.toml"
    path.write_text("\n".join(tables))
    path.chmod(0o600)
    return path, sim

