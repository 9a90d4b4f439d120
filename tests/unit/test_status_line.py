"""``cuadra-top status``: one line from the local history, the API only for an old figure."""

from __future__ import annotations

import io
import sqlite3

import pytest

from cuadra_top import status_line
from cuadra_top.cli import main
from cuadra_top.state.history import default_history_path
from conftest import sim_config_file


@pytest.fixture(autouse=True)
def _env(isolated_env):
    return isolated_env


def status(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["status", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def age_history(seconds: float) -> None:
    """Move every stored sample ``seconds`` into the past."""
    with sqlite3.connect(default_history_path()) as conn:
        conn.execute("UPDATE samples SET at = at - ?", (seconds,))


def test_status_from_the_cache_makes_no_api_call(sim, tmp_path, capsys):
    config = sim_config_file(tmp_path, sim, ["alpha", "beta"])
    code, out, _ = status(capsys, "--config", config)  # nothing stored yet: fetched live, recorded
    assert code == 0 and out.startswith("alpha 10% · beta 10%")
    assert sim.request_count("alpha") == 1 and sim.request_count("beta") == 1
    for _ in range(3):
        code, again, _ = status(capsys, "--config", config)
        assert code == 0 and again == out
    assert sim.request_count("alpha") == 1 and sim.request_count("beta") == 1


def test_an_old_figure_is_fetched_again_and_only_that_org(sim, tmp_path, capsys):
    config = sim_config_file(tmp_path, sim, ["alpha", "beta"], extra="refresh_interval = 30")
    status(capsys, "--config", config)
    with sqlite3.connect(default_history_path()) as conn:
        conn.execute("UPDATE samples SET at = at - 600 WHERE org = 'alpha'")
    code, out, _ = status(capsys, "--config", config)
    assert code == 0 and "alpha 10%" in out
    assert sim.request_count("alpha") == 2 and sim.request_count("beta") == 1


def test_an_unreachable_api_keeps_the_last_figure_marked_old(sim, tmp_path, capsys):
    from cuadra_top.simulator import Fault

    config = sim_config_file(tmp_path, sim, ["alpha"])
    status(capsys, "--config", config)
    age_history(3600)
    sim.set_fault("alpha", Fault(status=503))
    code, out, err = status(capsys, "--config", config)
    assert code == 0 and out == "alpha ~10%\n"
    assert "alpha: server error 503" in err and "alpha-token" not in err
    assert sim.request_count("alpha") == 2  # one try: no retries in a status line


def test_a_hanging_api_costs_a_short_timeout_only(sim, tmp_path, capsys):
    import time

    from cuadra_top.simulator import Fault

    config = sim_config_file(tmp_path, sim, ["alpha"])
    status(capsys, "--config", config)
    age_history(3600)
    sim.set_fault("alpha", Fault(hang=True))
    started = time.monotonic()
    code, out, err = status(capsys, "--config", config)
    assert time.monotonic() - started < status_line.FETCH_DEADLINE + 2
    assert out == "alpha ~10%\n" and "alpha:" in err


def test_no_figure_at_all_reads_a_question_mark_and_exits_1(tmp_path, capsys, closed_port, monkeypatch):
    monkeypatch.setenv("GONE_TOKEN", "gone-token")
    path = tmp_path / "config.toml"
    path.write_text(f'[[org]]\nname = "gone"\napi_url = "http://127.0.0.1:{closed_port}"\ntoken_env = "GONE_TOKEN"\n'
                    '[[org]]\nname = "unset"\napi_url = "http://127.0.0.1:{closed_port}"\ntoken_env = "UNSET_TOKEN"\n')
    code, out, err = status(capsys, "--config", str(path))
    assert code == 1 and out == "gone ? · unset ?\n"
    assert "connection refused" in err and "UNSET_TOKEN, which is not set" in err
    assert not default_history_path().exists()  # reading it creates nothing


def test_a_history_of_a_newer_schema_is_left_alone(sim, tmp_path, capsys):
    path = default_history_path()
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    config = sim_config_file(tmp_path, sim, ["alpha"])
    code, out, _ = status(capsys, "--config", config)
    assert code == 0 and out == "alpha 10%\n"  # fetched live: the file is not ours to read
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 99


def test_marks_and_the_run_out_time(start_sim, make_org, tmp_path, capsys):
    sim = start_sim([make_org("hot", credits_used_at_start=8_400, burn_per_hour=0.0),
                     make_org("calm", credits_used_at_start=3_500, burn_per_hour=0.0),
                     make_org("over", credits_used_at_start=12_000, burn_per_hour=0.0)])
    config = sim_config_file(tmp_path, sim, ["hot", "calm", "over"])
    code, out, _ = status(capsys, "--config", config)
    assert out == "hot 84% ⚠ · calm 35% · over 120% ‼\n"


def test_a_projected_run_out_marks_the_org_and_says_when(sim, tmp_path, capsys):
    """35% used, but 3,500 credits in the last ten hours: the rest goes in about 18 h, long before
    the period resets: marked, with when."""
    from datetime import datetime, timedelta, timezone

    from pydantic import SecretStr

    from cuadra_top.api.auth import StaticToken
    from cuadra_top.api.models import parse_usage
    from cuadra_top.state.history import History
    from cuadra_top.state.identity import series_key

    config = sim_config_file(tmp_path, sim, ["alpha"])
    key = series_key(sim.base_url, StaticToken(SecretStr("alpha-token")), "alpha")
    now = datetime(2026, 4, 15, 12, 0, tzinfo=timezone.utc)  # the simulator's clock: period ends 30 April
    body = sim.usage_for("alpha")
    history = History(default_history_path())
    for hours_ago, used in ((10, 0), (5, 1_750), (0, 3_500)):
        body["credits"]["used"] = used
        history.record(key, now - timedelta(hours=hours_ago), parse_usage(body), name="alpha")
    history.close()
    out = io.StringIO()
    assert status_line.run(config, None, None, {}, out=out, clock=now.timestamp) == 0
    assert out.getvalue() == "alpha 35% ⚠ 18h\n"
    assert sim.request_count() == 0


def test_ascii_where_the_encoding_cannot_carry_the_marks(start_sim, make_org, tmp_path, capsys):
    sim = start_sim([make_org("hot", credits_used_at_start=8_400, burn_per_hour=0.0), make_org("calm")])
    config = sim_config_file(tmp_path, sim, ["hot", "calm"])
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    assert status_line.run(config, None, None, {}, out=stream) == 0
    stream.flush()
    assert raw.getvalue().decode("ascii") == "hot 84% ! | calm 10%\n"


def test_a_format_per_org(sim, tmp_path, capsys):
    config = sim_config_file(tmp_path, sim, ["alpha", "beta"])
    code, out, _ = status(capsys, "--config", config, "--format", "{name}:{used}/{limit} {level}")
    assert code == 0 and out == "alpha:1,000/10,000 ok · beta:100/1,000 ok\n"
    code, out, _ = status(capsys, "--config", config, "--org", "beta")
    assert out == "beta 10%\n"


@pytest.mark.parametrize(("template", "words"), [
    ("{nme}", "unknown field {nme}; fields: name,"),
    ("{name", "--format '{name': "),
    ("{name!r}", "unknown field {name}"),
])
def test_a_bad_format_is_one_line_and_exit_2(sim, tmp_path, capsys, template, words):
    config = sim_config_file(tmp_path, sim, ["alpha"])
    code, out, err = status(capsys, "--config", config, "--format", template)
    assert code == 2 and out == "" and words in err and len(err.strip().splitlines()) == 1
    assert sim.request_count() == 0


def test_a_broken_config_gets_the_loaders_one_line(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('[[org]]\nname = "a"\ntokn = "x"\n')
    code, out, err = status(capsys, "--config", str(path))
    assert code == 2 and "did you mean 'token'?" in err


def test_an_org_whose_identity_needs_its_command_is_found_by_name(sim, tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(f'[[org]]\nname = "alpha"\napi_url = "{sim.base_url}"\ntoken_command = "echo alpha-token"\n')
    code, first, _ = status(capsys, "--config", str(path))
    code, again, _ = status(capsys, "--config", str(path))
    assert code == 0 and first == again == "alpha 10%\n"
    assert sim.request_count("alpha") == 1


def test_the_default_api_url_is_the_clients():
    from cuadra_top import quick_config
    from cuadra_top.api.client import DEFAULT_API_URL
    from cuadra_top.state.trends import HISTORY_STEP

    assert quick_config.DEFAULT_API_URL == DEFAULT_API_URL
    assert status_line.HISTORY_STEP == HISTORY_STEP.total_seconds()
