"""Import hygiene: the layers of the code, and what the scriptable paths never load.

The layers (front ends > state > config > api > base) are contracts in pyproject.toml, checked
with import-linter; a cycle or a widget imported into the state layer fails here. ``--once``,
``--check`` and ``config`` must not pay for Textual or Rich: they are checked in a fresh
interpreter, against the simulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_layer_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


PROBE = """
import json, sys
from cuadra_top.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # argparse's own exit (--version)
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich", "tomlkit"))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [
    ["--once"], ["--once", "--json"], ["--check"], ["config", "validate"], ["config", "show"], ["--version"],
], ids=lambda argv: " ".join(argv))
def test_scriptable_paths_never_import_textual_or_rich(argv, sim, tmp_path, isolated_env):
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    config.chmod(0o600)
    args = ["--config", str(config), *(["--no-history"] if argv[0] in ("--once", "--check") else []), *argv]
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, result
    assert report["heavy"] == [], f"{' '.join(argv)} imported {report['heavy'][:5]}"


STATUS_PROBE = PROBE.replace(
    'if m.split(".")[0] in ("textual", "rich", "tomlkit")',
    'if m.split(".")[0] in ("textual", "rich", "tomlkit", "pydantic", "httpx", "httpcore", "keyring", "asyncio")'
    ' and sys.modules[m] is not None')  # None: cuadra_top's block of httpx._main, not an import


def test_status_from_the_cache_imports_no_heavy_library(sim, tmp_path, isolated_env):
    """tmux runs it every few seconds: from the history, no HTTP stack, no validation library,
    no keyring, no event loop (the first run fetches and records; the probe is the second)."""
    assert "pydantic" in STATUS_PROBE and "is not None" in STATUS_PROBE
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n'
                      f'[[org]]\nname = "beta"\napi_url = "{sim.base_url}"\ntoken_command = "echo beta-token"\n')
    config.chmod(0o600)
    args = ["status", "--config", str(config)]
    first = subprocess.run([sys.executable, "-m", "cuadra_top", *args], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first
    assert sim.request_count() == 2
    result = subprocess.run([sys.executable, "-c", STATUS_PROBE, *args], capture_output=True, text=True, timeout=60)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0 and result.stdout == "alpha 10% · beta 10%\n", result
    assert report["heavy"] == [], f"status imported {report['heavy'][:5]}"
    assert sim.request_count() == 2
