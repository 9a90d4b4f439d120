"""``cuadra-top watch`` (issue 11): the monitor without a screen, for systemd or a container.
One line per event on stderr (JSON lines with ``--json``), alerts delivered to the channels,
a clean exit on SIGTERM/SIGINT, exit 2 on a config error."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cuadra_top.config import ConfigError, load_config
from cuadra_top.watch import run_watch

ROOT = Path(__file__).resolve().parents[1]
HEADER_SECRET = "hdr-secret-9f8e7d6c"

pytestmark = pytest.mark.usefixtures("no_known_secrets")


def write_config(tmp_path: Path, sim, receiver, *, notify: str | None = None, interval: int = 1) -> Path:
    hook = receiver.url("hook") + f"?-X-Token={HEADER_SECRET}"
    notify = notify if notify is not None else f'[[notify]]\nurls = ["{hook}", "{receiver.url("topic", "ntfy")}"]\n'
    path = tmp_path / "config.toml"
    path.write_text(f"refresh_interval = {interval}\n"
                    + "".join(f'[[org]]\nname = "{n}"\napi_url = "{sim.base_url}"\ntoken = "{n}-token"\n'
                              for n in ("alpha", "beta")) + notify)
    path.chmod(0o600)
    return path


@pytest.fixture
def over_sim(start_sim, make_org):
    """alpha past its warn threshold from the start, beta fine."""
    return start_sim([make_org("alpha", credits_used_at_start=8_500, burn_per_hour=0.0),
                      make_org("beta", burn_per_hour=0.0)])


async def watch_for(settings, seconds: float, *, as_json: bool = False, where: str = "config.toml") -> tuple[int, str]:
    out = io.StringIO()
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    code = await run_watch(settings, {}, where, trends=None, as_json=as_json, out=out, stop=stop)
    return code, out.getvalue()


async def test_watch_polls_delivers_and_writes_a_line_per_event(tmp_path, over_sim, receiver):
    settings = load_config(str(write_config(tmp_path, over_sim, receiver)), {}).settings
    code, text = await watch_for(settings, 2.5)
    assert code == 0
    lines = text.splitlines()
    assert "watching 2 org(s) every 1s (alpha, beta); 2 notification target(s)" in lines[0]
    assert any(" alert raised WARNING: alpha: credits at 85.0% (warn at 80%)" in line and line.endswith(
        "(first sighting)") for line in lines), text
    assert sum(" alpha: ok, credits 8,500 / 10,000 (85.0%)" in line for line in lines) >= 2  # every answer
    assert any(" beta: ok, credits" in line for line in lines)
    assert lines[-1].endswith(" stopped")
    got = receiver.wait_for(2)
    assert all(r.json()["message"].startswith("alpha: credits at 85.0% (warn at 80%)") for r in got)
    time.sleep(0.3)
    assert len(receiver.received) == 2  # one crossing, one notice per URL, however many polls
    assert HEADER_SECRET not in text and f":{receiver.port}/" not in text


async def test_watch_json_lines(tmp_path, over_sim, receiver):
    settings = load_config(str(write_config(tmp_path, over_sim, receiver)), {}).settings
    code, text = await watch_for(settings, 1.5, as_json=True)
    records = [json.loads(line) for line in text.splitlines()]
    events = [r["event"] for r in records]
    assert events[0] == "start" and events[-1] == "stop" and "alert" in events and "org" in events
    alert = next(r for r in records if r["event"] == "alert")
    assert alert["message"].startswith("alpha: credits at 85.0% (warn at 80%)")
    assert {key: alert[key] for key in ("event", "org", "level", "kind", "first_sighting", "claimed")} == {
        "event": "alert", "org": "alpha", "level": "warning", "kind": "raised", "first_sighting": True, "claimed": True}
    assert set(alert) == {"at", "event", "org", "rule", "level", "kind", "message", "first_sighting", "claimed"}
    org = next(r for r in records if r["event"] == "org" and r["org"] == "beta")
    assert org["ok"] is True and org["usage"]["credits"]["used"] == 1000
    assert HEADER_SECRET not in text


async def test_a_failing_channel_is_one_line_however_many_alerts(tmp_path, start_sim, make_org, receiver, monkeypatch):
    from cuadra_top.notify import delivery

    monkeypatch.setattr(delivery, "BACKOFF", 0.01)
    receiver.behaviour["hook"] = 500
    sim = start_sim([make_org("alpha", credits_used_at_start=9_800, storage_used_at_start=9 * 1024**3,
                              burn_per_hour=0.0),
                     make_org("beta", credits_used_at_start=8_500, burn_per_hour=0.0)])
    settings = load_config(str(write_config(tmp_path, sim, receiver, notify=f'[[notify]]\nurls = ["{receiver.url("hook")}"]\n')),
                           {}).settings
    code, text = await watch_for(settings, 3.0)
    alerts = [line for line in text.splitlines() if " alert raised " in line]
    failing = [line for line in text.splitlines() if "failing" in line]
    assert len(alerts) == 3, text  # alpha credits + storage, beta credits
    assert len(failing) == 1 and "[[notify]] #1 urls[1] (json://********) failing:" in failing[0], text


async def test_a_channel_that_cannot_work_stops_watch_before_polling(tmp_path, sim, receiver):
    settings = load_config(str(write_config(tmp_path, sim, receiver,
                                            notify='[[notify]]\nurls = ["ntfy://ntfy.example.com/t"]\n')), {}).settings
    with pytest.raises(ConfigError, match=r"urls\[1\] \(ntfy://\*{8}\).*use ntfys://"):
        await watch_for(settings, 5)


def run_watch_process(config: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "cuadra_top", "--config", str(config), "--no-history", "watch",
                             *extra], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 20) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"no {needle!r} in {lines}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_watch_ends_cleanly_on_sigterm_and_sigint(tmp_path, over_sim, receiver, isolated_env, signum):
    process = run_watch_process(write_config(tmp_path, over_sim, receiver))
    try:
        wait_for_line(process, "beta: ok")
        receiver.wait_for(2)
        started = time.monotonic()
        process.send_signal(signum)
        assert process.wait(10) == 0
        assert time.monotonic() - started < 5
        rest = process.stderr.read()
        assert rest.rstrip().endswith("stopped") and "Traceback" not in rest
        assert process.stdout.read() == ""  # the events go to stderr; stdout stays empty
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_watch_json_from_the_command_line(tmp_path, over_sim, receiver, isolated_env):
    process = run_watch_process(write_config(tmp_path, over_sim, receiver), "--json")
    try:
        lines = wait_for_line(process, '"event": "alert"')
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        records = [json.loads(line) for line in lines + process.stderr.read().splitlines()]
        assert records[0]["event"] == "start" and records[-1]["event"] == "stop"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("argv, expected", [
    (["--once", "watch"], "watch runs until stopped"),
    (["--json", "watch"], "put --json after watch"),
])
def test_watch_usage_errors(tmp_path, sim, receiver, isolated_env, argv, expected, capsys):
    from cuadra_top.cli import main

    config = write_config(tmp_path, sim, receiver)
    assert main(["--config", str(config), *argv]) == 2
    assert expected in capsys.readouterr().err


def test_watch_config_errors_exit_2_with_one_line(tmp_path, sim, receiver, isolated_env):
    config = write_config(tmp_path, sim, receiver, notify='[[notify]]\nurls = ["json://hooks.example.com/x"]\n')
    process = run_watch_process(config)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert err.count("\n") == 1 and "use jsons://" in err and "hooks.example.com/x" not in err


def test_watch_org_polls_only_that_org(tmp_path, over_sim, receiver, isolated_env):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "cuadra_top", "--config", str(write_config(tmp_path, over_sim, receiver)),
                                "--no-history", "--org", "beta", "watch"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = wait_for_line(process, "beta: ok")
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        text = "".join(lines) + process.stderr.read()
        assert "watching 1 org(s)" in text and "alpha" not in text
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
