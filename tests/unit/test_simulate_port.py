"""`cuadra-top simulate --port P`: a port outside 0..65535 is a usage error (exit 2, one line),
not "internal error (OverflowError)"."""

from __future__ import annotations

import pytest

from cuadra_top.cli import main


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http", "80.5"])
def test_a_port_outside_the_range_is_a_usage_error(capsys, port):
    with pytest.raises(SystemExit) as info:
        main(["simulate", f"--port={port}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("cuadra-top simulate: error: argument --port:")
    assert "a port number from 0 to 65535" in last and "Traceback" not in err and "internal" not in err
