"""The TUI in several display zones (issue 13, Time): the billing period's dates and countdown in
the org view, and the History tab's days, bars, labels and "day N" comparison, under UTC, a
half-hour zone (Asia/Kolkata), two whose clocks change inside the billing period
(Australia/Adelaide +09:30/+10:30, Europe/Berlin on the last Sunday of October and of March) and
a negative half-hour one (America/St_Johns). Plus a TZ that names no zone, said on screen."""

from __future__ import annotations

from cuadra_top.display_time import set_display_zone, tz_zone
from cuadra_top.tui.screenshots import frozen_app, wait_for_data


async def test_a_tz_that_names_no_zone_is_said_on_screen(frozen_sim):
    """The CLI says it on stderr too, but the TUI's screen hides stderr at once."""
    zone = tz_zone("Europe/Berln")
    set_display_zone(zone)
    app = frozen_app(frozen_sim)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for_data(app, pilot.pause)
        assert zone.problem in app.notices
