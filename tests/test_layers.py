"""Import hygiene: the layers of the code, and what the scriptable paths never load.

The layers (front ends > state > config > api > base) are contracts in pyproject.toml, checked
with import-linter; a cycle or a widget imported into the state layer fails here. ``--once``,
``--check`` and ``config`` must not pay for Textual or Rich, nor for the exporter's libraries
(prometheus_client, bcrypt, PyYAML): they are checked in a fresh interpreter, against the simulator.
"""

from __future__ import annotations

import json
import os
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
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("textual", "rich", "tomlkit", "prometheus_client", "bcrypt", "yaml"))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [
    ["--once"], ["--once", "--json"], ["--check"], ["config", "validate"], ["config", "show"], ["--version"],
], ids=lambda argv: " ".join(argv))
def test_scriptable_paths_never_import_textual_rich_or_the_exporter(argv, sim, tmp_path, isolated_env):
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    config.chmod(0o600)
    args = ["--config", str(config), *(["--no-history"] if argv[0] in ("--once", "--check") else []), *argv]
    # This checkout's sources, whatever the caller's PYTHONPATH (a relative "src" means nothing in tmp_path).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=env)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, result
    assert report["heavy"] == [], f"{' '.join(argv)} imported {report['heavy'][:5]}"
