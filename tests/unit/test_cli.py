"""The command line, run in-process: exit codes, the --once table and JSON, config commands,
no traceback for any user mistake, and no secret in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from cuadra_top import __version__
from cuadra_top.simulator import Simulator
from conftest import run_cli

DEMO_ORGS = ["acme-free", "nimbus-pro", "globex-enterprise", "flaky-labs", "initech-capped"]
JSON_KEYS = {"name", "ok", "fetched_at", "stale", "usage", "error", "forecast"}
BAD_TOKEN = "bad-token-secret-4f9a2c"
FILE_TOKEN = "file-token-secret-77b1e0"
CLIENT_SECRET = "client-secret-value-a81d"
# Every secret any test here hands to the CLI: none may ever be printed.
SECRETS = [BAD_TOKEN, FILE_TOKEN, CLIENT_SECRET, "alpha-token", "beta-token", "m2m-secret-do-not-leak",
           "demo-globex-secret"]


@pytest.fixture(autouse=True)
def cli_env(isolated_env, monkeypatch):
    """No real user config, no CUADRA_* variables, and a quick flaky demo org."""
    monkeypatch.setattr(Simulator, "flaky_latency", (0.0, 0.05))
    return isolated_env


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` -> (exit code, stdout, stderr); checks no secret and no traceback leaked."""
    code, out, err = run_cli(capsys, *argv)
    for secret in SECRETS:
        assert secret not in out and secret not in err, f"secret leaked by {argv}"
    assert "Traceback" not in out and "Traceback" not in err
    return code, out, err


def write_config(tmp_path: Path, text: str, mode: int = 0o600, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def sim_config(tmp_path: Path, sim) -> Path:
    """Two orgs on the running simulator: one good, one whose token is refused."""
    return write_config(tmp_path, f"""
[[org]]
name = "good"
api_url = "{sim.base_url}"
token = "{sim.orgs['alpha'].token}"

[[org]]
name = "bad"
api_url = "{sim.base_url}"
token = "{BAD_TOKEN}"
""")


def line_of(out: str, name: str) -> str:
    [line] = [line for line in out.splitlines() if line.split()[:1] == [name]]
    return line


# -- flags --------------------------------------------------------------------------------------


def test_version(capsys):
    code, out, err = run(capsys, "--version")
    assert code == 0 and out.strip() == f"cuadra-top {__version__}"


def test_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "--once" in out and "--demo" in out and "--json" in out and "exit codes" in out


def test_json_needs_once(capsys):
    code, out, err = run(capsys, "--demo", "--json")
    assert code == 2 and out == ""
    assert err.strip() == "cuadra-top: --json goes with --once"


def test_bad_interval_is_a_usage_error(capsys):
    code, out, err = run(capsys, "--once", "--interval", "0")
    assert code == 2 and "between 1 and 86400" in err


# -- demo ------------------------------------------------------------------------------------


def test_demo_once_table(capsys):
    code, out, err = run(capsys, "--demo", "--once")
    assert code in (0, 1)  # the flaky org may fail; the others must still be printed
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["ORG", "PLAN"]
    assert [line.split()[0] for line in lines[1:]] == DEMO_ORGS
    assert "Free" in line_of(out, "acme-free") and "/ 1,000 (" in line_of(out, "acme-free")
    assert "Pro" in line_of(out, "nimbus-pro") and "/ 50,000 (" in line_of(out, "nimbus-pro")
    assert "Enterprise" in line_of(out, "globex-enterprise") and "OVER" in line_of(out, "globex-enterprise")
    flaky = line_of(out, "flaky-labs")
    assert ("ERROR" in flaky) == (code == 1)
    assert err == ""


def test_demo_once_json(capsys):
    code, out, err = run(capsys, "--demo", "--once", "--json")
    assert code in (0, 1)
    orgs = json.loads(out)["orgs"]
    assert [o["name"] for o in orgs] == DEMO_ORGS
    for org in orgs:
        assert set(org) == JSON_KEYS
        if org["ok"]:
            assert org["error"] is None
            assert org["fetched_at"].endswith("Z") and datetime.fromisoformat(org["fetched_at"])
            assert {"storage", "credits", "plan"} <= set(org["usage"])
            # camelCase, exactly as the API sent it
            assert {"isInOverage", "overageCredits", "periodStart", "periodEnd"} <= set(org["usage"]["credits"])
            assert "billingCycle" in org["usage"]["plan"] and "is_in_overage" not in org["usage"]["credits"]
        else:
            assert org["usage"] is None and org["fetched_at"] is None
            assert set(org["error"]) == {"kind", "status", "message"}
    by_name = {o["name"]: o for o in orgs}
    for name in DEMO_ORGS[:3]:
        assert by_name[name]["ok"], by_name[name]["error"]
    globex = by_name["globex-enterprise"]["usage"]
    assert globex["seats"] == {"count": 40, "creditsPerSeat": 12500}
    assert "purchasedBalance" in globex["credits"] and "totalAvailable" in globex["credits"]
    assert code == (0 if all(o["ok"] for o in orgs) else 1)


def test_demo_once_one_org(capsys):
    code, out, _ = run(capsys, "--demo", "--once", "--org", "nimbus-pro")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["ORG", "nimbus-pro"]
    code, out, _ = run(capsys, "--demo", "--once", "--json", "--org", "acme-free")
    assert code == 0 and [o["name"] for o in json.loads(out)["orgs"]] == ["acme-free"]


def test_demo_unknown_org(capsys):
    code, out, err = run(capsys, "--demo", "--once", "--org", "nope")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "no org named 'nope'" in err and "acme-free" in err


# -- no configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--once"], ["--once", "--json"], []])
def test_no_config_no_env(capsys, cli_env, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "--demo" in err and "README" in err
    assert str(cli_env / "cuadra-top" / "config.toml") in err


# -- a config file pointing at a running simulator ----------------------------------------------


def test_config_file_one_bad_org_table(capsys, tmp_path, sim):
    path = sim_config(tmp_path, sim)
    code, out, err = run(capsys, "--config", str(path), "--once")
    assert code == 1
    good, bad = line_of(out, "good"), line_of(out, "bad")
    assert "Pro" in good and "/ 10,000 (" in good and "ERROR" not in good
    assert "ERROR: credential rejected (401" in bad
    assert err == ""
    assert sim.request_count("alpha") == 1


def test_config_file_one_bad_org_json(capsys, tmp_path, sim, monkeypatch):
    monkeypatch.setenv("CUADRA_TOP_CONFIG", str(sim_config(tmp_path, sim)))
    code, out, _ = run(capsys, "--once", "--json")
    assert code == 1
    good, bad = json.loads(out)["orgs"]
    assert set(good) == set(bad) == JSON_KEYS
    assert good["name"] == "good" and good["ok"] is True and good["error"] is None
    assert good["usage"] == sim.usage_for("alpha")  # the fake clock has not moved
    assert good["usage"]["futureField"] == {"nested": [1, 2]}  # unknown fields kept as sent
    assert bad["name"] == "bad" and bad["ok"] is False and bad["usage"] is None
    assert bad["error"]["kind"] == "auth" and bad["error"]["status"] == 401


def test_config_file_only_the_chosen_org(capsys, tmp_path, sim):
    code, out, _ = run(capsys, "--config", str(sim_config(tmp_path, sim)), "--once", "--org", "good")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["ORG", "good"]
    assert sim.request_count() == 1


def test_client_credentials_from_config_and_env(capsys, tmp_path, sim, monkeypatch):
    monkeypatch.setenv("M2M_SECRET", "m2m-secret-do-not-leak")
    path = write_config(tmp_path, f"""
[[org]]
name = "machine"
api_url = "{sim.base_url}"
token_url = "{sim.auth_url}"
client_id = "m2m-client"
client_secret_env = "M2M_SECRET"
""")
    code, out, _ = run(capsys, "--config", str(path), "--once", "--json")
    assert code == 0
    [org] = json.loads(out)["orgs"]
    assert org["ok"] and org["usage"] == sim.usage_for("m2m")
    assert sim.request_count(path="/v1/oauth2/token") == 1


def test_env_only_default_org(capsys, sim, monkeypatch):
    monkeypatch.setenv("CUADRA_TOKEN", "beta-token")
    monkeypatch.setenv("CUADRA_API_URL", sim.base_url)
    code, out, _ = run(capsys, "--once", "--json")
    assert code == 0
    [org] = json.loads(out)["orgs"]
    assert org["name"] == "default" and org["usage"] == sim.usage_for("beta")


def test_unreachable_org_exits_1(capsys, tmp_path, closed_port):
    path = write_config(tmp_path, f"""
timeout = {{ connect = 2, read = 2 }}
[[org]]
name = "gone"
api_url = "http://127.0.0.1:{closed_port}"
token = "{FILE_TOKEN}"
""")
    code, out, _ = run(capsys, "--config", str(path), "--once", "--json")
    assert code == 1
    [org] = json.loads(out)["orgs"]
    assert org["error"]["kind"] == "network" and "refused" in org["error"]["message"]


# -- config errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("refresh_interval = [", "not valid TOML"),
        ('refresh_intervall = 10\n', "did you mean 'refresh_interval'?"),
        (f'[[org]]\nname = "x"\napi_url = "http://api.cuadra.ai"\ntoken = "{FILE_TOKEN}"\n', "https://"),
        (f'[[org]]\nname = "x"\ntoken = "{FILE_TOKEN}"\ntoken_env = "T"\n', "give one credential"),
        ('[[org]]\nname = "x"\ntoken_env = "CUADRA_TEST_UNSET_VAR"\n', "$CUADRA_TEST_UNSET_VAR, which is not set"),
        (f'[[org]]\nname = "x"\ntoken = "{FILE_TOKEN}"\n[[org]]\nname = "x"\ntoken = "{BAD_TOKEN}"\n',
         "names must be unique"),
        ('[[org]]\nname = "x"\n', "has no credential"),
        ("warn_percent = 90\ncritical_percent = 50\n", "critical_percent"),
    ],
    ids=["toml", "typo", "insecure", "two-credentials", "unset-env", "duplicate", "no-credential", "thresholds"],
)
@pytest.mark.parametrize("argv", [["--once"], ["config", "validate"], ["config", "show"]])
def test_config_errors_exit_2_in_one_line(capsys, tmp_path, text, words, argv):
    path = write_config(tmp_path, text)
    code, out, err = run(capsys, "--config", str(path), *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("cuadra-top: ") and str(path) in err and words in err


def test_missing_config_file_named_explicitly(capsys, tmp_path):
    missing = tmp_path / "nope.toml"
    code, out, err = run(capsys, "--config", str(missing), "--once")
    assert code == 2 and out == "" and "no such config file" in err and str(missing) in err


def test_permission_warning_for_a_readable_secret(capsys, tmp_path):
    path = write_config(tmp_path, f'[[org]]\nname = "x"\ntoken = "{FILE_TOKEN}"\n', mode=0o644)
    code, out, err = run(capsys, "--config", str(path), "config", "validate")
    assert code == 0 and f"chmod 600 {path}" in err


# -- config subcommands --------------------------------------------------------------------------


def test_config_path(capsys, cli_env, tmp_path, monkeypatch):
    code, out, _ = run(capsys, "config", "path")
    assert code == 0 and out.strip() == str(cli_env / "cuadra-top" / "config.toml")
    code, out, _ = run(capsys, "--config", str(tmp_path / "x.toml"), "config", "path")
    assert code == 0 and out.strip() == str(tmp_path / "x.toml")
    monkeypatch.setenv("CUADRA_TOP_CONFIG", str(tmp_path / "y.toml"))
    code, out, _ = run(capsys, "config", "path")
    assert code == 0 and out.strip() == str(tmp_path / "y.toml")


def test_config_show_masks_secrets(capsys, tmp_path):
    path = write_config(tmp_path, f"""
refresh_interval = 10

[[org]]
name = "tok"
token = "{FILE_TOKEN}"

[[org]]
name = "m2m"
api_url = "https://eu.api.cuadra.ai"
client_id = "visible-client-id"
client_secret = "{CLIENT_SECRET}"
""")
    code, out, err = run(capsys, "--config", str(path), "config", "show")
    assert code == 0 and err == ""
    assert str(path) in out and "refresh_interval = 10.0" in out
    assert 'name = "tok"' in out and 'name = "m2m"' in out and 'client_id = "visible-client-id"' in out
    assert 'token = "********"' in out and 'client_secret = "********"' in out
    assert 'api_url = "https://eu.api.cuadra.ai"' in out


def test_config_show_env_token_is_not_printed(capsys, monkeypatch):
    monkeypatch.setenv("CUADRA_TOKEN", FILE_TOKEN)
    code, out, _ = run(capsys, "config", "show")
    assert code == 0 and 'token_env = "CUADRA_TOKEN"' in out


def test_config_show_without_config(capsys):
    code, out, _ = run(capsys, "config", "show")
    assert code == 0 and "refresh_interval = 30.0" in out and "[[org]]" not in out


def test_config_validate_good(capsys, tmp_path, sim):
    path = sim_config(tmp_path, sim)
    code, out, err = run(capsys, "--config", str(path), "config", "validate")
    assert code == 0 and err == ""
    assert out.strip() == f"ok: {path}: 2 org(s): good, bad"
    assert sim.request_count(path=None) == 0  # validating does not call the API


def test_config_validate_nothing_configured(capsys):
    code, out, err = run(capsys, "config", "validate")
    assert code == 2 and out == "" and "--demo" in err


# -- the module entry point ------------------------------------------------------------------------


def test_python_dash_m(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUADRA_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "cuadra_top", "--version"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"cuadra-top {__version__}"
    done = subprocess.run([sys.executable, "-m", "cuadra_top", "--once"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 2 and "--demo" in done.stderr and "Traceback" not in done.stderr


# -- hardening (issue 10) ------------------------------------------------------------------------


def test_check_config_error_is_one_unknown_line_on_stdout(capsys, tmp_path):
    """Defect 11: Nagios reads exit 2 as CRITICAL and shows stdout; a config error is UNKNOWN."""
    path = write_config(tmp_path, "refresh_intervall = 10\n")
    code, out, err = run(capsys, "--check", "--config", str(path))
    assert code == 3 and err == ""
    assert out.count("\n") == 1 and out.startswith("CUADRA UNKNOWN - config error: ")
    assert "did you mean 'refresh_interval'?" in out


def test_check_names_a_critical_org_and_an_unreachable_one(capsys, tmp_path, make_org, start_sim, closed_port):
    sim = start_sim([make_org("full", credits_used_at_start=9_900, burn_per_hour=0.0)])
    path = write_config(tmp_path, f"""
[[org]]
name = "full"
api_url = "{sim.base_url}"
token = "full-token"

[[org]]
name = "gone"
api_url = "http://127.0.0.1:{closed_port}"
token = "gone-token"
""")
    code, out, _ = run(capsys, "--check", "--config", str(path), "--no-history")
    assert code == 2, out
    assert out.startswith("CUADRA CRITICAL - full: credits at 99.0% (critical at 95%); gone: connection refused")


def test_once_for_one_org_needs_only_that_orgs_credential(capsys, tmp_path, sim, monkeypatch):
    """Defect 12: another org's unset token_env must not stop ``--once --org good``."""
    monkeypatch.delenv("CUADRA_TEST_UNSET", raising=False)
    path = write_config(tmp_path, f"""
[[org]]
name = "good"
api_url = "{sim.base_url}"
token = "{sim.orgs['alpha'].token}"

[[org]]
name = "other"
token_env = "CUADRA_TEST_UNSET"
""")
    code, out, err = run(capsys, "--once", "--org", "good", "--config", str(path), "--no-history")
    assert code == 0 and err == "", err
    assert line_of(out, "good")
    code, out, err = run(capsys, "--once", "--config", str(path), "--no-history")  # every org: it is needed
    assert code == 2 and "$CUADRA_TEST_UNSET, which is not set" in err
    code, _, err = run(capsys, "--config", str(path), "config", "validate")
    assert code == 2 and "$CUADRA_TEST_UNSET, which is not set" in err


def test_storage_far_over_its_limit_reads_over_with_few_digits(capsys, tmp_path, make_org, start_sim):
    """Defect 22: 10 TiB on a 1 MiB limit printed '10995116277760.0%' and no OVER."""
    sim = start_sim([make_org("hoard", storage_limit=1024 * 1024, storage_used_at_start=10 * 1024**4,
                              storage_growth_per_hour=0.0)])
    path = write_config(tmp_path, f'[[org]]\nname = "hoard"\napi_url = "{sim.base_url}"\ntoken = "hoard-token"\n')
    code, out, _ = run(capsys, "--once", "--config", str(path), "--no-history")
    assert code == 0
    line = line_of(out, "hoard")
    assert "10.0 TiB / 1.0 MiB (>9999%) OVER" in line and "10995116277760" not in line
    code, out, _ = run(capsys, "--check", "--config", str(path), "--no-history")
    assert code == 2 and "hoard: storage at >9999%, over the limit" in out


def test_json_forecast_is_null_without_history(capsys, tmp_path, sim):
    """Defect 24: with ``history = false`` the forecast was an object, not null as documented."""
    path = write_config(tmp_path, f'history = false\n[[org]]\nname = "good"\napi_url = "{sim.base_url}"\n'
                                  f'token = "{sim.orgs["alpha"].token}"\n')
    code, out, _ = run(capsys, "--once", "--json", "--config", str(path))
    assert code == 0
    assert json.loads(out)["orgs"][0]["forecast"] is None


def test_the_command_words_are_the_parsers_commands():
    import argparse

    from cuadra_top.cli import COMMANDS, build_parser

    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
    assert set(COMMANDS) == set(commands.choices)


@pytest.mark.parametrize("argv", [
    [], ["--org", "acme"], ["--config", "c.toml", "--theme", "nord", "--interval", "5"], ["--once", "--json"],
    ["--once", "--check", "--org", "status"], ["--or", "acme"], ["--no-mouse", "--no-history", "--timezone", "UTC"],
    ["--org", "web"], ["status"], ["history", "--daily"], ["--config", "x", "config", "path"],
    ["bogus"], ["--bogus"], ["--interval", "0"], ["--interval"], ["--once", "extra"], ["-h"], ["--he"],
    ["--version"], ["--org=acme", "--log=f"], ["--demo", "--theme", "x"],
])
def test_parsing_without_a_command_is_the_whole_parsers(argv, capsys):
    """The command line without a command word is read by a parser without the commands (a
    first frame's worth of time); what it reads, and what it refuses, is the whole parser's."""
    from cuadra_top.cli import build_parser, parse_arguments

    def outcome(parse):
        try:
            return "ok", vars(parse())
        except SystemExit as exc:
            out = capsys.readouterr()
            return "exit", exc.code, out.out, out.err

    assert outcome(lambda: parse_arguments(argv)) == outcome(lambda: build_parser().parse_args(argv))
