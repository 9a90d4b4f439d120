"""Notification channels (issue 11, delivery): ``[[notify]]`` config, apprise URLs checked and
masked, delivery to a loopback webhook receiver, a dead webhook that never holds anything up,
a failing channel reported once, ``notify test``, ``--once --notify``.

The terminal (OSC sequences, the bell) is in ``test_notify_terminal.py``; ``watch`` in
``test_watch.py``."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cuadra_top import redaction
from cuadra_top.config import ConfigError, load_config
from cuadra_top.debuglog import LOGGER_NAME
from cuadra_top.notify.channels import Target, resolve, resolve_strictly, split_urls
from cuadra_top.notify.delivery import Dispatcher, Report
from cuadra_top.notify.service import NotifyService, deliver_once
from cuadra_top.state.alerts import Level, Notice, NoticeKind
from cuadra_top.state.monitor import AlertNotice
from conftest import run_cli
from notify_support import (  # what the unit and the TUI tests of this topic share
    settings_with,
    write_config,
)

pytestmark = [pytest.mark.usefixtures("no_known_secrets", "debug_log_restored")]


SLACK = "slack://T000SECRETA/B000SECRETB/XXXXsecretCCCC/#alerts"


NTFY_TOKEN = "tk_ntfysecrettoken1234"


def notice(org: str = "acme", level: Level = Level.WARNING, kind: NoticeKind = NoticeKind.RAISED,
           message: str | None = None) -> Notice:
    return Notice(org, "credits", level, kind, message or f"{org}: credits at 84.2% (warn at 80%)",
                  datetime(2026, 4, 15, 12, tzinfo=timezone.utc))


def target(url: str, number: int = 1, **kw) -> Target:
    return Target(number, f"[[notify]] #{number}", "urls[1]", url, **kw)


def test_notify_tables_load_with_their_defaults(tmp_path):
    path = write_config(tmp_path, f"""
[[notify]]
name = "ops"
urls = ["{SLACK}", "ntfys://ntfy.sh/my-topic"]

[[notify]]
urls = "ntfys://ntfy.sh/one-url-as-a-string"
min_level = "critical"
orgs = ["acme"]
recovered = false
""")
    settings = load_config(str(path), {}).settings
    first, second = settings.notify
    assert first.name == "ops" and first.min_level == "warning" and first.orgs is None and first.recovered
    assert [url.get_secret_value() for url in first.urls] == [SLACK, "ntfys://ntfy.sh/my-topic"]
    assert len(second.urls) == 1 and second.min_level == "critical" and second.orgs == ["acme"]
    assert not second.recovered
    assert settings.bell is True and settings.terminal_notify == "auto"  # on by default (the TUI)


@pytest.mark.parametrize("notify, expected", [
    ('[[notify]]\nurls = ["nope"]', "[[notify]] #1 key urls: entry 1 is not an apprise URL"),
    ('[[notify]]\nurls = []', "[[notify]] #1 key urls: is empty"),
    ('[[notify]]\nname = "ops"\nurls = ["ntfys://ntfy.sh/x"]\norgs = ["acmee"]',
     "[[notify]] #1 ('ops') key orgs: no org named 'acmee'; configured: acme"),
    ('[[notify]]\nurls = ["ntfys://ntfy.sh/x"]\nurls_env = "X"', "give one of urls, urls_env or urls_command"),
    ('[[notify]]\nname = "ops"', "[[notify]] #1 ('ops'): no URL; add urls"),
    ('[[notify]]\nurls = ["ntfys://ntfy.sh/x"]\nmin_level = "info"', "key min_level: Input should be 'warning'"),
    ('[[notify]]\nurlz = ["ntfys://ntfy.sh/x"]', "key urlz: unknown key; did you mean 'urls'?"),
    ('terminal_notify = "osc8"', "key terminal_notify: Input should be"),
])
def test_notify_config_errors_name_the_table_and_key(tmp_path, notify, expected):
    path = write_config(tmp_path, "" if notify.startswith("terminal") else notify,
                        top=notify if notify.startswith("terminal") else "")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_malformed_url_is_never_echoed(tmp_path):
    secret = "xoxb-not-a-url-but-a-secret-1234"
    path = write_config(tmp_path, f'[[notify]]\nurls = ["ntfys://ntfy.sh/ok", "{secret}"]')
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})
    assert "entry 2" in str(caught.value) and secret not in str(caught.value)


def test_config_show_masks_every_url_form(tmp_path, capsys):
    path = write_config(tmp_path, f"""
[[notify]]
urls = ["{SLACK}", "ntfys://ntfy.sh/topic?token={NTFY_TOKEN}"]

[[notify]]
urls_env = "OPS_URLS"

[[notify]]
urls_command = "echo {SLACK}"

[[notify]]
urls_env = "{SLACK}"
""")
    code, out, err = run_cli(capsys, "--config", str(path), "config", "show")
    assert code == 0, err
    assert 'urls = ["slack://********", "ntfys://********"]' in out
    assert 'urls_env = "OPS_URLS"' in out
    assert 'urls_command = "echo slack://********"' in out
    for secret in ("T000SECRETA", "B000SECRETB", "XXXXsecretCCCC", NTFY_TOKEN):
        assert secret not in out + err


def test_a_readable_config_holding_urls_gets_the_permission_warning(tmp_path):
    path = write_config(tmp_path, '[[notify]]\nurls = ["ntfys://ntfy.sh/topic"]',
                        orgs='[[org]]\nname = "acme"\ntoken_env = "ACME_TOKEN"\n')
    path.chmod(0o644)
    assert any("readable by others" in w for w in load_config(str(path), {}).warnings)


@pytest.mark.parametrize("url, secure", [
    ("json://hooks.example.com/alert", "jsons://"),
    ("xml://hooks.example.com/alert", "xmls://"),
    ("form://hooks.example.com/alert", "forms://"),
    ("ntfy://ntfy.example.com/topic", "ntfys://"),
    ("gotify://gotify.example.com/tokenABCDEF", "gotifys://"),
    ("mailto://user:pass@mail.example.com", "mailtos://"),
])
async def test_plain_http_to_a_remote_host_is_refused_naming_the_secure_scheme(tmp_path, url, secure):
    settings = settings_with(tmp_path, f'[[notify]]\nname = "ops"\nurls = ["ntfys://ntfy.sh/x", "{url}"]')
    with pytest.raises(ConfigError) as caught:
        await resolve_strictly(settings, {}, "config.toml")
    message = str(caught.value)
    assert message.startswith("config.toml: [[notify]] #1 ('ops') urls[2] (")
    assert f"use {secure}" in message and "loopback" in message
    assert url not in message and "user:pass" not in message


@pytest.mark.parametrize("url", [
    "json://127.0.0.1:9/hook", "ntfy://localhost:9/topic", "xml://[::1]:9/x", "form://127.0.0.2:9/x",
    "jsons://hooks.example.com/x", "ntfys://ntfy.sh/topic", "ntfy://topic-on-ntfy-sh", SLACK,
])
async def test_loopback_plain_http_and_encrypted_urls_are_accepted(tmp_path, url):
    settings = settings_with(tmp_path, f'[[notify]]\nurls = ["{url}"]')
    assert [t.url for t in await resolve_strictly(settings, {}, "c")] == [url]


@pytest.mark.parametrize("url, expected", [
    ("nosuchservice://abc/def", "apprise cannot use this URL"),
    ("slack://onlyonetoken", "apprise cannot use this URL"),
    ("jsons://hooks.example.com/x?verify=no", "certificates are always verified"),
])
async def test_urls_apprise_cannot_use_are_config_errors_without_the_url(tmp_path, url, expected):
    settings = settings_with(tmp_path, f'[[notify]]\nurls = ["{url}"]')
    with pytest.raises(ConfigError) as caught:
        await resolve_strictly(settings, {}, "c")
    assert expected in str(caught.value)
    assert url.split("://")[1] not in str(caught.value)


async def test_every_secret_part_of_a_url_is_registered(tmp_path):
    url = f"json://user:hunter2pass@127.0.0.1:9/hook?-X-Api-Key=headersecret99"
    settings = settings_with(tmp_path, f'[[notify]]\nurls = ["{SLACK}", "ntfys://ntfy.sh/t?token={NTFY_TOKEN}", "{url}"]')
    await resolve_strictly(settings, {}, "c")
    text = redaction.redact(f"T000SECRETA B000SECRETB XXXXsecretCCCC {NTFY_TOKEN} hunter2pass headersecret99 {SLACK}")
    assert set(text.split()) == {redaction.MASK}


def test_urls_are_split_on_whitespace_and_on_commas_before_a_scheme():
    text = f" {SLACK},ntfys://ntfy.sh/a\n mailtos://u:p@example.com?to=a@x.org,b@y.org json://127.0.0.1/x "
    assert split_urls(text) == [SLACK, "ntfys://ntfy.sh/a", "mailtos://u:p@example.com?to=a@x.org,b@y.org",
                                "json://127.0.0.1/x"]


async def test_urls_env(tmp_path):
    settings = settings_with(tmp_path, '[[notify]]\nurls_env = "OPS_URLS"')
    targets = await resolve_strictly(settings, {"OPS_URLS": f"{SLACK} ntfys://ntfy.sh/a"}, "c")
    assert [(t.entry, t.url) for t in targets] == [("urls_env[1]", SLACK), ("urls_env[2]", "ntfys://ntfy.sh/a")]
    with pytest.raises(ConfigError, match=r"urls_env names \$OPS_URLS, which is not set; export it"):
        await resolve_strictly(settings, {}, "c")
    with pytest.raises(ConfigError) as caught:
        await resolve_strictly(settings, {"OPS_URLS": "json://hooks.example.com/x"}, "c")
    assert "urls_env[1] (json://********)" in str(caught.value) and "example.com/x" not in str(caught.value)


async def test_a_url_put_in_urls_env_by_mistake_is_not_echoed(tmp_path):
    settings = settings_with(tmp_path, f'[[notify]]\nurls_env = "{SLACK}"')
    with pytest.raises(ConfigError) as caught:
        await resolve_strictly(settings, {}, "c")
    assert "must name an environment variable" in str(caught.value) and "SECRET" not in str(caught.value)


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "urls.sh"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o700)
    return str(path)


async def test_urls_command(tmp_path):
    command = script(tmp_path, f'echo "{SLACK}"; echo "ntfys://ntfy.sh/b"')
    settings = settings_with(tmp_path, f'[[notify]]\nurls_command = "{command}"')
    targets = await resolve_strictly(settings, {}, "c")
    assert [(t.entry, t.url) for t in targets] == [("urls_command[1]", SLACK), ("urls_command[2]", "ntfys://ntfy.sh/b")]


@pytest.mark.parametrize("body, expected", [
    (f'echo "{SLACK}" >&2; exit 3', "urls_command exited with status 3: ********"),
    ("true", "urls_command printed nothing"),
    ("exec sleep 60", "urls_command did not finish within"),
])
async def test_urls_command_failures(tmp_path, monkeypatch, body, expected):
    from cuadra_top.notify import channels

    monkeypatch.setattr(channels, "URLS_COMMAND_TIMEOUT", 0.5)
    command = script(tmp_path, body)
    settings = settings_with(tmp_path, f'[[notify]]\nurls_command = "{command}"')
    redaction.remember_secret(SLACK)  # as the config would have, had it held it
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        await resolve_strictly(settings, {}, "c")
    assert expected in str(caught.value)
    assert "SECRET" not in str(caught.value)
    assert time.monotonic() - started < 5


async def test_non_strict_resolution_keeps_the_good_channels(tmp_path):
    settings = settings_with(tmp_path, """
[[notify]]
urls = ["json://hooks.example.com/x", "ntfys://ntfy.sh/ok"]

[[notify]]
urls_env = "MISSING_URLS"
""")
    resolved = await resolve(settings, {}, "c")
    assert [t.url for t in resolved.targets] == ["ntfys://ntfy.sh/ok"]
    assert len(resolved.problems) == 2
    assert "urls[1] (json://********)" in resolved.problems[0] and "[[notify]] #2" in resolved.problems[1]


def test_which_notices_a_target_wants():
    everything = target("ntfys://ntfy.sh/a")
    critical_only = target("ntfys://ntfy.sh/a", min_level=Level.CRITICAL, orgs=frozenset({"acme"}), recovered=False)
    warning, critical = notice(), notice(level=Level.CRITICAL)
    recovered = notice(kind=NoticeKind.RECOVERED, level=Level.CRITICAL)
    other_org = notice("globex", level=Level.CRITICAL)
    test = notice(kind=NoticeKind.TEST)
    assert all(everything.wants(n) for n in (warning, critical, recovered, other_org, test))
    assert [critical_only.wants(n) for n in (warning, critical, recovered, other_org, test)] == [
        False, True, False, False, True]


async def test_json_and_ntfy_notices_reach_the_receiver(receiver):
    targets = [target(receiver.url("hook")), target(receiver.url("alerts", "ntfy"), 2)]
    dispatcher = Dispatcher(targets)
    dispatcher.start()
    dispatcher.submit(notice(level=Level.CRITICAL, message="acme: credits at 97.0% (critical at 95%)"))
    assert await dispatcher.drain(10)
    await dispatcher.stop()
    by_path = {r.path.split("?")[0]: r.json() for r in receiver.wait_for(2)}
    assert by_path["/hook"]["title"] == "cuadra-top: acme CRITICAL"
    assert by_path["/hook"]["message"] == "acme: credits at 97.0% (critical at 95%)"
    assert by_path["/hook"]["type"] == "failure"
    assert by_path["/"]["topic"] == "alerts"
    assert by_path["/"]["title"] == "cuadra-top: acme CRITICAL"
    assert by_path["/"]["message"] == "acme: credits at 97.0% (critical at 95%)"
    assert dispatcher.counts()["delivered"] == 2


async def lag_while(awaitable, tick: float = 0.01) -> tuple[object, float]:
    """Run ``awaitable`` while a ticker measures the event loop's worst lag."""
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        loop = asyncio.get_running_loop()
        while not done:
            before = loop.time()
            await asyncio.sleep(tick)
            worst = max(worst, loop.time() - before - tick)

    task = asyncio.create_task(ticker())
    try:
        result = await awaitable
    finally:
        done = True
        await task
    return result, worst


@pytest.mark.parametrize("how", ["refused", "hang", 500])
async def test_a_dead_webhook_never_holds_up_the_loop_or_the_other_channels(receiver, closed_port, how):
    if how == "refused":
        dead = f"json://127.0.0.1:{closed_port}/hook"
    else:
        receiver.behaviour["dead"] = how
        dead = receiver.url("dead")
    reports: list[Report] = []
    dispatcher = Dispatcher([target(dead), target(receiver.url("alive"), 2)], on_report=reports.append,
                            attempt_timeout=1.0, attempts=2, backoff=0.1)
    dispatcher.start()
    started = time.monotonic()
    dispatcher.submit(notice())
    received, lag = await lag_while(asyncio.to_thread(
        lambda: [r for r in receiver.wait_for(1 if how == "refused" else 2) if r.path.startswith("/alive")]))
    assert received and time.monotonic() - started < 1.0  # the live channel did not wait for the dead one
    assert await dispatcher.drain(10)
    elapsed = time.monotonic() - started
    await dispatcher.stop()
    assert lag < 0.2, f"the event loop stalled {lag:.2f} s"
    assert elapsed < 2 * (1.0 + 1.0) + 1, elapsed  # two attempts of at most the timeout (+ grace) each
    assert [(r.target.number, r.ok) for r in reports] == [(1, False)]
    if how == "hang":
        assert "no answer within 1 s" in reports[0].message or "Connection error" in reports[0].message


async def test_a_channel_that_keeps_failing_is_reported_once_and_its_recovery_once(receiver):
    receiver.behaviour["hook"] = 500
    reports: list[Report] = []
    dispatcher = Dispatcher([target(receiver.url("hook"))], on_report=reports.append, attempts=2, backoff=0.01)
    dispatcher.start()
    for n in range(5):
        dispatcher.submit(notice(f"org{n}"))
    assert await dispatcher.drain(20)
    assert len(receiver.received) == 10  # every notice tried, with its retry
    assert [r.ok for r in reports] == [False]
    assert "[[notify]] #1 urls[1] (json://********) failing:" in reports[0].message
    assert "500" in reports[0].message
    receiver.behaviour["hook"] = "ok"
    for n in range(3):
        dispatcher.submit(notice(f"later{n}"))
    assert await dispatcher.drain(20)
    await dispatcher.stop()
    assert [r.ok for r in reports] == [False, True]
    assert reports[1].message == "notify: [[notify]] #1 urls[1] (json://********) works again"
    assert dispatcher.counts() == {"delivered": 3, "failed": 5, "dropped": 0, "waiting": 0}


async def test_retries_back_off_and_a_later_attempt_delivers(receiver):
    calls: list[float] = []

    def flaky(url: str, notice: Notice, timeout: float) -> str | None:
        calls.append(time.monotonic())
        return "boom" if len(calls) < 3 else None

    reports: list[Report] = []
    dispatcher = Dispatcher([target("ntfys://ntfy.sh/x")], send=flaky, on_report=reports.append,
                            attempts=3, backoff=0.2)
    dispatcher.start()
    dispatcher.submit(notice())
    assert await dispatcher.drain(10)
    await dispatcher.stop()
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert len(calls) == 3 and reports == []
    assert 0.1 <= gaps[0] <= 0.3 and 0.4 <= gaps[1] <= 0.9  # 0.2 s then 0.8 s, jittered down to half


async def test_a_full_queue_drops_the_oldest_with_a_logged_note(caplog):
    release = asyncio.Event()
    sent: list[str] = []
    loop = asyncio.get_running_loop()

    def slow(url: str, notice: Notice, timeout: float) -> str | None:
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
        sent.append(notice.org)
        return None

    dispatcher = Dispatcher([target("ntfys://ntfy.sh/x")], send=slow, queue_size=3)
    dispatcher.start()
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        for n in range(6):
            dispatcher.submit(notice(f"org{n}"))
            await asyncio.sleep(0.01)  # org0 is taken at once; org1..5 wait in a queue of 3
        release.set()
        assert await dispatcher.drain(10)
    await dispatcher.stop()
    assert sent == ["org0", "org3", "org4", "org5"]
    assert dispatcher.counts()["dropped"] == 2
    assert sum("dropped the oldest" in r.getMessage() for r in caplog.records) == 2


async def test_stop_gives_up_after_its_grace_and_counts_what_is_left(receiver):
    receiver.behaviour["hook"] = "hang"
    dispatcher = Dispatcher([target(receiver.url("hook"))], attempt_timeout=5.0)
    dispatcher.start()
    for n in range(3):
        dispatcher.submit(notice(f"org{n}"))
    await asyncio.to_thread(receiver.wait_for, 1)
    started = time.monotonic()
    assert await dispatcher.stop(grace=0.3) == 3
    assert time.monotonic() - started < 1.5


async def test_the_service_keeps_claimed_notices_until_its_channels_are_built(tmp_path, receiver):
    settings = settings_with(tmp_path, f'[[notify]]\nurls = ["{receiver.url("hook")}"]')
    service = NotifyService(settings, {}, "c")
    service(AlertNotice(notice("early"), first_sighting=True, claimed=True))  # channels are not built yet
    service(AlertNotice(notice("unclaimed"), first_sighting=False, claimed=False))
    assert await service.start() == []
    service(AlertNotice(notice("later"), first_sighting=False, claimed=True))
    assert await service.stop(grace=10) == 0
    assert sorted(r.json()["title"] for r in receiver.wait_for(2)) == ["cuadra-top: early WARNING",
                                                                        "cuadra-top: later WARNING"]
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 2


async def test_deliver_once_sends_only_what_is_claimed(receiver):
    events = [AlertNotice(notice("a"), True, True), AlertNotice(notice("b"), True, False)]
    summary = await deliver_once(events, [target(receiver.url("hook"))])
    assert summary.ok and summary.delivered == 1
    assert [r.json()["title"] for r in receiver.wait_for(1)] == ["cuadra-top: a WARNING"]


def cli_config(tmp_path, sim, receiver, *, extra: str = "", orgs: tuple[str, ...] = ("alpha",)) -> Path:
    tables = "".join(f'[[org]]\nname = "{o}"\napi_url = "{sim.base_url}"\ntoken = "{o}-token"\n\n' for o in orgs)
    return write_config(tmp_path, f"""
[[notify]]
name = "hook"
urls = ["{receiver.url("hook")}?-X-Token=headersecret77", "{receiver.url("topic", "ntfy")}"]
{extra}
""", orgs=tables)


def test_notify_test_reports_per_channel_and_exits_1_if_any_failed(tmp_path, sim, receiver, capsys, isolated_env):
    receiver.behaviour["broken"] = 500
    path = cli_config(tmp_path, sim, receiver, extra=f'\n[[notify]]\nurls = ["{receiver.url("broken")}"]\n')
    code, out, err = run_cli(capsys, "--config", str(path), "notify", "test")
    assert code == 1
    assert out.splitlines() == [
        "[[notify]] #1 ('hook') urls[1] (json://********): sent",
        "[[notify]] #1 ('hook') urls[2] (ntfy://********): sent",
        "[[notify]] #2 urls[1] (json://********): FAILED: Failed to send JSON POST notification: "
        "Internal server error., error=500",
    ]
    assert "1 of 3 failed" in err
    got = receiver.wait_for(3)
    assert all(r.json()["title"].endswith(" test") for r in got)
    assert "headersecret77" not in out + err and str(receiver.port) not in out + err

    code, out, err = run_cli(capsys, "--config", str(path), "notify", "test", "--channel", "1")
    assert code == 0 and len(out.splitlines()) == 2
    code, out, err = run_cli(capsys, "--config", str(path), "notify", "test", "--channel", "3")
    assert code == 2 and "no [[notify]] #3; there are 2 channel(s)" in err


def test_notify_test_without_channels_or_with_a_bad_one_exits_2(tmp_path, capsys, isolated_env):
    path = write_config(tmp_path, "")
    code, _, err = run_cli(capsys, "--config", str(path), "notify", "test")
    assert code == 2 and "no [[notify]] channels" in err
    path = write_config(tmp_path, '[[notify]]\nurls = ["json://hooks.example.com/x"]')
    code, out, err = run_cli(capsys, "--config", str(path), "notify", "test")
    assert code == 2 and "use jsons://" in err and "hooks.example.com/x" not in out + err


def test_config_validate_checks_the_urls_with_apprise(tmp_path, capsys, isolated_env):
    path = write_config(tmp_path, '[[notify]]\nurls = ["ntfys://ntfy.sh/a", "ntfy://ntfy.example.com/b"]')
    code, out, err = run_cli(capsys, "--config", str(path), "config", "validate")
    assert code == 2 and "urls[2] (ntfy://********)" in err and "use ntfys://" in err
    path = write_config(tmp_path, '[[notify]]\nurls = ["ntfys://ntfy.sh/a"]')
    code, out, err = run_cli(capsys, "--config", str(path), "config", "validate")
    assert code == 0 and "1 notify channel(s), 1 URL(s)" in out


def test_once_notify_delivers_the_alerts_of_the_run(tmp_path, start_sim, make_org, receiver, capsys, isolated_env):
    sim = start_sim([make_org("alpha", credits_used_at_start=8_500, burn_per_hour=0.0),
                     make_org("beta", credits_used_at_start=1_000, burn_per_hour=0.0)])
    path = cli_config(tmp_path, sim, receiver, orgs=("alpha", "beta"))
    code, out, err = run_cli(capsys, "--config", str(path), "--no-history", "--once", "--notify")
    assert code == 0, err
    got = receiver.wait_for(2)
    assert all(r.json()["message"].startswith("alpha: credits at 85.0% (warn at 80%)") for r in got)
    assert "alpha" in out and "beta" in out
    time.sleep(0.2)
    assert len(receiver.received) == 2  # beta is fine: nothing for it


def test_once_notify_with_a_failing_channel_says_so_once_and_exits_1(tmp_path, start_sim, make_org, receiver,
                                                                    capsys, isolated_env, monkeypatch):
    from cuadra_top.notify import delivery

    monkeypatch.setattr(delivery, "BACKOFF", 0.01)
    receiver.behaviour["hook"] = 500
    sim = start_sim([make_org("alpha", credits_used_at_start=9_800, storage_used_at_start=9 * 1024**3,
                              burn_per_hour=0.0)])
    path = write_config(tmp_path, f'[[notify]]\nurls = ["{receiver.url("hook")}"]',
                        orgs=f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    code, out, err = run_cli(capsys, "--config", str(path), "--no-history", "--once", "--notify")
    assert code == 1
    assert err.count("failing") == 1  # two alerts (credits, storage), one report
    assert "alpha" in out


def test_once_notify_config_errors_exit_2_before_fetching(tmp_path, sim, capsys, isolated_env):
    path = write_config(tmp_path, '[[notify]]\nurls = ["json://hooks.example.com/x"]',
                        orgs=f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "alpha-token"\n')
    code, out, err = run_cli(capsys, "--config", str(path), "--no-history", "--once", "--notify")
    assert code == 2 and "use jsons://" in err and out == ""
    path = write_config(tmp_path, "", orgs=f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken = "t-alpha"\n')
    code, out, err = run_cli(capsys, "--config", str(path), "--no-history", "--once", "--notify")
    assert code == 2 and "no [[notify]] channels" in err


def test_notify_flag_goes_with_once(capsys, isolated_env):
    code, _, err = run_cli(capsys, "--notify")
    assert code == 2 and "--notify goes with --once" in err


def test_nothing_of_the_url_reaches_the_debug_log(tmp_path, sim, receiver, capsys, isolated_env):
    receiver.behaviour["hook"] = 500
    log = tmp_path / "debug.log"
    path = cli_config(tmp_path, sim, receiver)
    run_cli(capsys, "--config", str(path), "--log", str(log), "notify", "test")
    text = log.read_text()
    assert "failed" in text.lower() or "error" in text.lower()
    assert "headersecret77" not in text and f"127.0.0.1:{receiver.port}/hook" not in text


if sys.platform != "linux":  # pragma: no cover
    pytestmark.append(pytest.mark.skip("loopback servers and process groups as on Linux"))

