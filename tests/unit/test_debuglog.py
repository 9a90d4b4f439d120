"""``--log FILE``: the file is the user's alone (0600) even when it existed before, and a symbolic
link is refused rather than followed (in a shared directory it could point anywhere)."""

from __future__ import annotations

import os
import stat

import pytest

from cuadra_top.cli import main
from cuadra_top.debuglog import logger, setup_debug_log

pytestmark = pytest.mark.usefixtures("debug_log_restored")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_log_file_is_0600(tmp_path):
    log = tmp_path / "debug.log"
    setup_debug_log(log)
    assert mode(log) == 0o600


def test_an_existing_log_file_is_made_0600_and_appended_to(tmp_path):
    log = tmp_path / "debug.log"
    log.write_text("earlier run\n")
    log.chmod(0o644)
    setup_debug_log(log)
    logger("test").info("a line")
    assert mode(log) == 0o600
    text = log.read_text()
    assert text.startswith("earlier run\n") and "a line" in text


def test_a_symlink_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("not yours to write\n")
    target.chmod(0o644)
    link = tmp_path / "debug.log"
    link.symlink_to(target)
    with pytest.raises(OSError) as info:
        setup_debug_log(link)
    assert "symbolic link" in str(info.value.strerror)
    assert target.read_text() == "not yours to write\n" and mode(target) == 0o644


def test_cli_refuses_a_symlinked_log_in_one_line(tmp_path, capsys, isolated_env):
    link = tmp_path / "debug.log"
    link.symlink_to(tmp_path / "target")
    assert main(["--log", str(link), "config", "path"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a symbolic link" in err and "choose another path" in err
    assert not (tmp_path / "target").exists()


def test_system_links_are_followed_and_their_mode_left_alone(tmp_path):
    """``--log /dev/stderr`` is a link (to /proc/self/fd/2, and on to wherever stderr goes):
    paths the system makes are opened as they are."""
    out = tmp_path / "redirected"
    out.write_text("")
    out.chmod(0o644)
    with open(out, "a") as redirected:
        setup_debug_log(f"/proc/self/fd/{redirected.fileno()}")
        logger("test").info("a line")
    assert "a line" in out.read_text() and mode(out) == 0o644


def test_a_device_is_not_chmodded(tmp_path):
    """/dev/null (or a terminal): written to, but its mode is not the log's to change."""
    before = mode("/dev/null")
    setup_debug_log("/dev/null")
    logger("test").info("a line")
    assert mode("/dev/null") == before


def test_a_name_with_control_characters_stays_on_its_line(tmp_path):
    """Issue 10, defect 20: an org name from the config holding a newline or an escape sequence
    must not forge a log line or reach a terminal that shows the log (``tail -f``)."""
    log = tmp_path / "debug.log"
    setup_debug_log(log)
    names = ["evil\x1b]0;PWNED\x07", "two\nlines", "c1\x9b31m", "bidi\u202eevil", "sep\u2028x\x7f"]
    for name in names:
        logger("poller").info("%s: ok; next poll in %.1f s", name, 30.0)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(names)
    assert "two\ufffdlines: ok" in lines[1]
    for line in lines:
        assert line.isprintable(), repr(line)


class _FinalizerError(RuntimeError):
    """Its own kind, so this test is the first to see it (the terminal hears of a kind once)."""


class _Noisy:
    def __del__(self):
        raise _FinalizerError("closing failed for Bearer sk-live-0123456789")


def test_an_error_python_cannot_raise_goes_to_the_log_redacted_and_one_line_to_stderr(tmp_path, monkeypatch, capsys):
    """A finalizer that raises while a command runs (three times): Python cannot raise it, and
    by default prints its traceback on stderr, secret and all. Here the ``--log`` file gets each
    one, traceback included, redacted; stderr gets one line for the kind, no traceback, no
    message; and the hook is Python's again once the command is over."""
    import sys

    from cuadra_top import cli

    log = tmp_path / "debug.log"

    def dispatch(args):
        for _ in range(3):
            _Noisy()  # no cycle: its __del__ runs here, in the command
        return 0

    monkeypatch.setattr(cli, "dispatch", dispatch)
    before = sys.unraisablehook
    assert main(["--log", str(log), "status"]) == 0
    assert sys.unraisablehook is before
    err = capsys.readouterr().err
    assert err.count("an error was ignored (_FinalizerError)") == 1, err
    assert "Traceback" not in err and "sk-live" not in err and "closing failed" not in err
    text = log.read_text()
    assert text.count("Traceback") == 3 and text.count("_FinalizerError: closing failed for Bearer ********") == 3
    assert "in __del__" in text and "sk-live" not in text
