"""The collector is paused during start-up and always comes back on.

The TUI half (the rest is in tests/unit/test_startup.py)."""

from __future__ import annotations

import gc

from cuadra_top import startup
from startup_support import (  # what the unit and the TUI tests of this topic share
    _collector_on,
)


async def test_the_tui_resumes_the_collector_once_data_is_on_screen(frozen_sim):
    from cuadra_top.tui.screenshots import frozen_app, wait_for_data

    try:
        app = frozen_app(frozen_sim, start_org="nimbus-pro")
        startup.pause_gc()  # as main() does
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_data(app, pilot.pause)
            await pilot.pause()
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0  # what start-up built is left out of later collections
    finally:
        gc.unfreeze()


async def test_a_tui_quit_before_its_first_data_leaves_start_up_frozen(frozen_sim):
    """q before the first data (or before the screen went idle after it): the collector must
    not come back with the whole start-up graph in its care, or the interpreter's last
    collection walks it on the way out (about 200 ms more to quit)."""
    from cuadra_top.simulator import Fault
    from cuadra_top.tui.screenshots import frozen_app

    frozen_sim.set_fault("nimbus-pro", Fault(latency=5.0))  # no data before the quit
    try:
        app = frozen_app(frozen_sim, start_org="nimbus-pro")
        startup.pause_gc()  # as main() does
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert not gc.isenabled()  # start-up is not over yet
            app.exit()
        assert gc.get_freeze_count() > 0
    finally:
        frozen_sim.set_fault("nimbus-pro", None)
        gc.unfreeze()
