"""Outputs that cannot carry Unicode (issue 10, defect 13): ``LC_ALL=C`` without Python's UTF-8
mode, ``PYTHONIOENCODING=latin-1`` or ``ascii``. Every text the program prints gets ASCII
stand-ins instead of a crash or ``\xb7``-style escapes; UTF-8 output stays as it was.

Real processes against the simulator: the encoding is decided by the interpreter at start-up.

The TUI's side is in tests/tui/test_encodings_tui.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib

import pytest
from pty_session import PtyProcess, child_env, wait_until

from cuadra_top.tui.factory import TuiOptions, make_app


NAME = "acme—prod · ü"


WIDE = "组织-east"


PLAN = "Pro — Plus…"


NOT_UNICODE = {
    "LC_ALL=C": ({"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}, "ascii"),
    "latin-1": ({"PYTHONIOENCODING": "latin-1"}, "latin-1"),
    "ascii": ({"PYTHONIOENCODING": "ascii"}, "ascii"),
}
"""(environment, the encoding Python gives stdout and stderr in it)."""


SHOWN = {"ascii": ("acme-prod - \\u00fc", "Pro - Plus..."), "latin-1": ("acme-prod · ü", "Pro - Plus...")}
"""How the name and the plan read in each: what the encoding has is kept, the rest stands in."""


@pytest.fixture
def config(start_sim, make_org, tmp_path):
    """Two orgs with names and a plan that are not ASCII; the first one at 85% (a WARNING)."""
    sim = start_sim([make_org("one", plan_name=PLAN, credits_used_at_start=8_500, burn_per_hour=0.0),
                     make_org("two", burn_per_hour=0.0)])
    path = tmp_path / "config.toml"
    path.write_text(f'[[org]]\nname = {json.dumps(NAME, ensure_ascii=False)}\napi_url = "{sim.base_url}"\n'
                    f'token = "one-token"\n\n[[org]]\nname = "{WIDE}"\napi_url = "{sim.base_url}"\n'
                    'token = "two-token"\n', encoding="utf-8")
    path.chmod(0o600)
    return path


def run(tmp_path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cuadra_top", *args], env=child_env(tmp_path, **env),
                          capture_output=True, timeout=60)


def ascii_only(data: bytes) -> str:
    assert data.isascii(), data
    return data.decode("ascii")


def readable(data: bytes, encoding: str) -> str:
    """Text for people: in ``encoding``, and symbols have stand-ins, not Python-style escapes."""
    text = data.decode(encoding)
    assert not any(escape in text for escape in ("\\x", "\\u2014", "\\u00b7", "\\u2026", "\\u2588")), text
    return text


@pytest.mark.parametrize(("env", "encoding"), NOT_UNICODE.values(), ids=NOT_UNICODE.keys())
def test_once_table(config, tmp_path, env, encoding):
    result = run(tmp_path, env, "--once", "--no-history", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = readable(result.stdout, encoding).splitlines()
    name, plan = SHOWN[encoding]
    assert len(lines) == 3, lines
    assert lines[1].startswith(f"{name}  ") and f"{plan} (pro)" in lines[1] and "85.0%" in lines[1]
    assert lines[2].startswith("\\u7ec4\\u7ec7-east")  # a name in another script stays distinguishable
    assert lines[1].index("85.0%") == lines[2].index("10.0%")  # the columns stay aligned
    assert result.stderr == b""


@pytest.mark.parametrize(("env", "encoding"), NOT_UNICODE.values(), ids=NOT_UNICODE.keys())
def test_once_json_in_ascii_is_the_same_json(config, tmp_path, env, encoding):
    result = run(tmp_path, env, "--once", "--json", "--no-history", "--config", str(config))
    assert result.returncode == 0, result.stderr
    orgs = json.loads(ascii_only(result.stdout))["orgs"]
    assert [org["name"] for org in orgs] == [NAME, WIDE]  # escaped, not altered
    assert orgs[0]["usage"]["plan"]["name"] == PLAN


@pytest.mark.parametrize(("env", "encoding"), NOT_UNICODE.values(), ids=NOT_UNICODE.keys())
def test_check(config, tmp_path, env, encoding):
    result = run(tmp_path, env, "--check", "--no-history", "--config", str(config))
    assert result.returncode == 1, result  # WARNING
    line = readable(result.stdout, encoding)
    assert line.startswith(f"CUADRA WARNING - {SHOWN[encoding][0]}: credits at 85.0%") and line.count("\n") == 1


@pytest.mark.parametrize(("env", "encoding"), NOT_UNICODE.values(), ids=NOT_UNICODE.keys())
def test_config_show_reads_back_the_same(config, tmp_path, env, encoding):
    result = run(tmp_path, env, "--config", str(config), "config", "show")
    assert result.returncode == 0, result.stderr
    shown = tomllib.loads(result.stdout.decode(encoding))
    assert [org["name"] for org in shown["org"]] == [NAME, WIDE]


@pytest.mark.parametrize(("env", "encoding"), NOT_UNICODE.values(), ids=NOT_UNICODE.keys())
def test_errors_on_stderr(config, tmp_path, env, encoding):
    result = run(tmp_path, env, "--once", "--org", "nope", "--config", str(config))
    assert result.returncode == 2
    err = readable(result.stderr, encoding)
    assert err == f"cuadra-top: no org named 'nope'; configured: {SHOWN[encoding][0]}, \\u7ec4\\u7ec7-east\n", err
    assert result.stdout == b""


def test_utf8_output_is_unchanged(config, tmp_path):
    result = run(tmp_path, {"PYTHONIOENCODING": "utf-8"}, "--once", "--no-history", "--config", str(config))
    lines = result.stdout.decode("utf-8").splitlines()
    assert lines[1].startswith(NAME) and f"{PLAN} (pro)" in lines[1] and lines[2].startswith(WIDE)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pty is needed")
def test_tui_on_an_ascii_terminal_draws_ascii(config, tmp_path):
    """What reaches the terminal: ASCII only, cell for cell, no '\\u2588' for a gauge block."""
    child = PtyProcess([sys.executable, "-m", "cuadra_top", "--no-history", "--config", str(config)],
                       child_env(tmp_path, PYTHONIOENCODING="ascii"))
    try:
        wait_until(lambda: b"85.0% WARN" in child.output, 20, "the overview drawn")
        child.send(b"1")
        wait_until(lambda: b"Credits" in child.output and b"###" in child.output, 10, "the org drawn")
        child.send(b"\x10")  # ctrl+p: the command palette, and its icon
        wait_until(lambda: b"Search for commands" in child.output, 10, "the palette drawn")
        child.send(b"\x1b")
        time.sleep(0.3)  # an escape followed at once by q reads as alt+q
        child.send(b"q")
        assert child.wait_exit(10) == 0
        out = readable(bytes(child.output), "ascii")
        assert "\\U0001f50e" not in out and "\\u" not in out  # the palette's icon
        plain = re.sub(r"\x1b\[[0-9;?<>=$]*[A-Za-z~]", "", out)  # the text between the styles
        assert "+- Credits -" in plain and "acme-prod - u" in plain  # box corners; 'ü' is 'u' there
    finally:
        child.stop()


def test_stand_ins_keep_every_cell_in_place():
    from cuadra_top import glyphs

    line = "╭─ Credits ─╮ ████░░ 84.2% · acme… ▁▃▅▇ 组 é"
    cells = glyphs.ascii_cells(line)
    assert cells == "+- Credits -+ ####.. 84.2% - acme. _-=* ?? e"
    assert glyphs.ascii_cells("plain \x1b[1mascii\x1b[0m") == "plain \x1b[1mascii\x1b[0m"
    assert glyphs.ascii_text("a — b…\udcff") == "a - b...\\udcff"  # a lone surrogate, too

