"""Import hygiene: the layers of the code, and what the scriptable paths never load.

The layers (front ends > state > config > api > base) are contracts in pyproject.toml, checked
with import-linter; a cycle or a widget imported into the state layer fails here. ``--once``,
``--check`` and ``config`` must not pay for Textual or Rich, nor for the exporter's libraries
(prometheus_client, bcrypt, PyYAML), nor for ``web``'s (aiohttp, textual-serve, Jinja2), nor for
apprise unless they deliver or check a notification channel (``--once --notify``, ``config
validate``); the TUI loads apprise only after start-up, and neither ``watch`` nor the ``web``
server (its sessions are TUI processes of their own) ever loads Textual. Checked in a fresh interpreter, against the simulator, with
this checkout's sources whatever PYTHONPATH says (a relative ``src`` means nothing in tmp_path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    """This checkout's sources first; the environment of the moment, so the per-test config and
    data directories of conftest apply (not the real ones of the user running the tests)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


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
heavy = sorted(m for m in sys.modules if m.split(".")[0] in (
    "textual", "rich", "tomlkit", "apprise", "prometheus_client", "bcrypt", "yaml", "aiohttp", "textual_serve",
    "jinja2", "plotext", "textual_plotext"))
heavy += [m for m in ("cuadra_top.heap",) if m in sys.modules]  # the TUI's upkeep (ctypes), never a script's
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


# apprise itself loads PyYAML and bcrypt: where apprise may load, so may they.
@pytest.mark.parametrize("argv, allowed", [
    (["--once"], ()), (["--once", "--json"], ()), (["--check"], ()), (["config", "validate"], ("apprise", "yaml", "bcrypt")),
    (["config", "show"], ()), (["--version"], ()), (["--once", "--notify"], ("apprise", "yaml", "bcrypt")),
], ids=lambda value: " ".join(value) if isinstance(value, list) else ("+".join(value) or "none"))
def test_scriptable_paths_never_import_textual_rich_or_the_exporter(argv, allowed, sim, receiver, tmp_path, isolated_env):
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n'
                      f'[[notify]]\nurls = ["{receiver.url("hook")}"]\n')
    config.chmod(0o600)
    args = ["--config", str(config), *(["--no-history"] if argv[0] in ("--once", "--check") else []), *argv]
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=child_env())
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, result
    heavy = [m for m in report["heavy"] if m.split(".")[0] not in allowed]
    assert heavy == [], f"{' '.join(argv)} imported {heavy[:5]}"


WATCH_PROBE = """
import json, os, signal, sys, threading
from cuadra_top.cli import main
threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
code = main(sys.argv[1:])
textual = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
print(json.dumps({"code": code, "heavy": textual}), file=sys.stderr)
"""


def test_watch_never_imports_textual_and_ends_cleanly_on_sigterm(sim, receiver, tmp_path, isolated_env):
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n'
                      f'[[notify]]\nurls = ["{receiver.url("hook")}"]\n')
    config.chmod(0o600)
    result = subprocess.run([sys.executable, "-c", WATCH_PROBE, "--config", str(config), "--no-history", "watch"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, result.stderr
    assert "alpha: ok" in result.stderr and "stopped" in result.stderr


def test_the_web_server_never_imports_textual(tmp_path, isolated_env):
    """Each browser session is a TUI process of its own; the server bridges bytes."""
    probe = WATCH_PROBE.replace('("textual", "rich")', '("textual",)')
    result = subprocess.run([sys.executable, "-c", probe, "--demo", "web", "--listen", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=child_env())
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, result.stderr
    assert "cuadra-top web: the demo on http://127.0.0.1:" in result.stderr


TUI_PROBE = """
import asyncio, json, sys, time
from cuadra_top.config import load_config
from cuadra_top.tui.factory import TuiOptions, make_app
from cuadra_top.tui.screenshots import wait_for_data

async def main():
    app = make_app(TuiOptions(load_config(sys.argv[1], {}).settings, environ={}))
    async with app.run_test() as pilot:
        await wait_for_data(app, pilot.pause)
        on_screen = "apprise" in sys.modules
        deadline = time.monotonic() + 15
        while app.delivery.dispatcher is None and time.monotonic() < deadline:
            await pilot.pause(0.1)
        print(json.dumps({"at_start": on_screen, "later": "apprise" in sys.modules}), file=sys.stderr)

asyncio.run(main())
"""


def test_the_tui_loads_apprise_only_after_start_up(sim, receiver, tmp_path, isolated_env):
    """The channels are built after start-up (0.3 s of imports): the first screen never waits on them."""
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n'
                      f'[[notify]]\nurls = ["{receiver.url("hook")}"]\n')
    config.chmod(0o600)
    result = subprocess.run([sys.executable, "-c", TUI_PROBE, str(config)], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {"at_start": False, "later": True}, result.stderr


@pytest.mark.parametrize("argv", [
    ["history"], ["history", "--daily"], ["history", "--format", "csv"], ["history", "--daily", "--format", "json"],
], ids=lambda argv: " ".join(argv))
def test_the_history_command_never_imports_textual_or_rich(argv, tmp_path, isolated_env):
    from datetime import datetime, timedelta, timezone

    from cuadra_top.api.models import parse_usage
    from cuadra_top.state.history import History

    data = tmp_path / "data"
    usage = parse_usage({"storage": {"used": 1, "limit": 10}, "credits": {"used": 5, "limit": 50},
                         "plan": {"tier": "pro"}})
    at = datetime(2026, 10, 1, tzinfo=timezone.utc)
    with History(data / "cuadra-top" / "history.sqlite3") as history:
        history.record_many([("k", "alpha", at + timedelta(hours=hour), usage) for hour in range(3)])
    env = {**os.environ, "XDG_DATA_HOME": str(data), "TZ": "Europe/Berlin", "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=env)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0 and "alpha" in result.stdout, result
    assert report["heavy"] == [], f"{' '.join(argv)} imported {report['heavy'][:5]}"


STATUS_PROBE = PROBE.replace(
    '"textual_plotext"))',
    '"textual_plotext", "pydantic", "httpx", "httpcore", "keyring", "asyncio") and sys.modules[m] is not None)')
# None above: the block of httpx._main


def test_status_from_the_cache_imports_no_heavy_library(sim, tmp_path, isolated_env):
    """tmux runs it every few seconds: from the history, no HTTP stack, no validation library,
    no keyring, no event loop (the first run fetches and records; the probe is the second)."""
    assert "pydantic" in STATUS_PROBE and "is not None" in STATUS_PROBE and "plotext" in STATUS_PROBE
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n'
                      f'[[org]]\nname = "beta"\napi_url = "{sim.base_url}"\ntoken_command = "echo beta-token"\n')
    config.chmod(0o600)
    args = ["status", "--config", str(config)]
    first = subprocess.run([sys.executable, "-m", "cuadra_top", *args], capture_output=True, text=True, timeout=60,
                           env=child_env())
    assert first.returncode == 0, first
    assert sim.request_count() == 2
    result = subprocess.run([sys.executable, "-c", STATUS_PROBE, *args], capture_output=True, text=True, timeout=60,
                            env=child_env())
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0 and result.stdout == "alpha 10% · beta 10%\n", result
    assert report["heavy"] == [], f"status imported {report['heavy'][:5]}"
    assert sim.request_count() == 2


FIRST_SCREEN_PROBE = """
import asyncio, json, sys, time
from cuadra_top.config import load_config
from cuadra_top.state.trends import open_trends
from cuadra_top.tui.factory import TuiOptions, make_app

HTTP = ("httpx", "httpcore", "anyio", "h11", "certifi")

def http_stack():
    return sorted(m for m in sys.modules if m.split(".")[0] in HTTP and sys.modules[m] is not None)

async def main():
    loaded = load_config(sys.argv[1], {})
    seen = {"before_app": http_stack()}
    app = make_app(TuiOptions(loaded.settings, environ={}, start_org="alpha", persist_theme=False,
                              trends=open_trends(True, open_later=True)))  # as the command line opens it
    start = app.monitor.start

    async def observed_start():
        seen["stored_answer_drawn"] = "from history" in app.main_screen.header_line
        seen["at_start"] = http_stack()
        await start()

    app.monitor.start = observed_start
    async with app.run_test() as pilot:
        deadline = time.monotonic() + 15
        while app.monitor.state_of("alpha").fetched is None and time.monotonic() < deadline:
            await pilot.pause(0.05)
        seen["live"] = app.monitor.state_of("alpha").fetched is not None
    seen["later"] = "httpx" in sys.modules
    print(json.dumps(seen), file=sys.stderr)

asyncio.run(main())
"""
# None above: the block of httpx._main


def test_the_tuis_first_screen_loads_no_http_stack(sim, tmp_path, isolated_env):
    """The answer the history kept is on screen before the HTTP stack is imported (httpx and
    httpcore, with their TLS context: ~100 ms of CPU): the pools are built after it."""
    config = tmp_path / "config.toml"
    config.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    config.chmod(0o600)
    env = {**child_env(), "XDG_DATA_HOME": str(tmp_path / "data")}
    stored = subprocess.run([sys.executable, "-m", "cuadra_top", "--once", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert stored.returncode == 0, stored  # an earlier run: the answer is in the history
    result = subprocess.run([sys.executable, "-c", FIRST_SCREEN_PROBE, str(config)], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path, env=env)
    seen = json.loads(result.stderr.strip().splitlines()[-1])
    assert seen == {"before_app": [], "stored_answer_drawn": True, "at_start": [], "live": True, "later": True}, (
        result.stderr)
