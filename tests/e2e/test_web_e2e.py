"""``cuadra-top web`` in a real browser: Debian's headless Chromium, driven through its
chromium-driver by Selenium (`make e2e-deps`), against the built-in simulator.

The page loads with the app's title, the overview of the demo orgs appears, keys typed into the
page switch orgs and open the Admin tab, the window's size is the app's, a screenshot is taken
(into ``$CUADRA_TOP_WEB_SCREENSHOT`` when set: ``make screenshots`` writes
screenshots/web.png); behind basic auth and TLS the page and its websocket are refused without
credentials and work with them, over ``wss://``; the session cap holds, and closing a tab ends
its app process. What a page shows is read from what its websocket received (Chromium's
DevTools log), drawn on a :class:`web_support.Screen`. Skipped without Chromium, failing under
CUADRA_TOP_E2E=require.
"""

from __future__ import annotations

import os
import re
import struct
import time
from pathlib import Path

import bcrypt
import pytest

from e2e_support import wait_for
from exporter_support import make_certificates
from web_support import DEMO_ORGS, Browser, WebServer, alive, chromium_paths

PASSWORD = "wall-screen-pass"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    chromium_paths()
    server = WebServer(tmp_path_factory.mktemp("web-demo"), ["--demo"])
    yield server
    server.stop()


@pytest.fixture
def browser():
    opened = []

    def open_browser(**kw) -> Browser:
        opened.append(Browser(**kw))
        return opened[-1]

    yield open_browser
    for one in opened:
        one.quit()


def overview_shown(text: str) -> bool:
    return all(name in text for name in DEMO_ORGS) and bool(re.search(r"\d+\.\d% ", text))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_demo_in_chromium_keys_switch_orgs_and_open_the_admin_tab(demo, browser, tmp_path):
    from cuadra_top.tui.app import CuadraTopApp

    chrome = browser(width=1200, height=760)
    started = time.monotonic()
    chrome.driver.get(demo.url)
    screen = chrome.wait_for_screen(overview_shown, "the overview of the demo orgs")
    first_data = time.monotonic() - started
    assert chrome.driver.title == CuadraTopApp.TITLE
    assert "5 organizations" in screen.text()
    (url,) = chrome.sockets.values()
    assert url.startswith(demo.url.replace("http://", "ws://") + "ws?width=")  # beside the page

    chrome.keys("3")
    chrome.wait_for_screen(lambda text: "[3/5] globex-enterprise" in text and "IN OVERAGE" in text,
                           "org 3's Usage tab")
    time.sleep(1.0)  # the gauges drawn whole, for the picture
    shot = Path(os.environ.get("CUADRA_TOP_WEB_SCREENSHOT") or tmp_path / "web.png")
    chrome.driver.save_screenshot(str(shot))
    assert png_size(shot) == tuple(chrome.driver.execute_script("return [window.innerWidth, window.innerHeight]"))

    chrome.keys("a")
    admin = chrome.wait_for_screen(lambda text: "Admin: seats and balance" in text, "the Admin tab")
    assert "seats 40" in admin.text() and "credits per seat 12,500" in admin.text()
    chrome.keys("]")
    chrome.wait_for_screen(lambda text: "[4/5] flaky-labs" in text, "the next org")
    chrome.keys("o")
    chrome.wait_for_screen(lambda text: "Enter opens" in text and overview_shown(text), "the overview again")
    print(f"\npage load to first data: {first_data:.2f} s")
    assert first_data < 30


def test_the_browser_window_resizes_the_app(demo, browser):
    chrome = browser(width=800, height=600)
    chrome.driver.get(demo.url)
    screen = chrome.wait_for_screen(overview_shown, "the overview")
    time.sleep(0.5)
    chrome.read()
    narrow = screen.widest
    assert 60 <= narrow <= 110, narrow
    chrome.driver.set_window_size(1600, 900)
    wide = wait_for(lambda: chrome.read() or (screen.widest if screen.widest > narrow * 1.5 else None),
                    "the app drawn at the window's new width", 20)
    assert wide > narrow * 1.5


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """The demo behind TLS and basic auth."""
    chromium_paths()
    tmp = tmp_path_factory.mktemp("web-guarded")
    make_certificates(tmp)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    (tmp / "web.yml").write_text("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
                                 f"basic_auth_users:\n  team: '{hashed}'\n")
    server = WebServer(tmp, ["--demo"], ["--web.config.file", str(tmp / "web.yml")])
    yield server
    server.stop()


def test_without_credentials_the_browser_gets_nothing_with_them_the_tui_over_wss(guarded, browser):
    assert guarded.url.startswith("https://127.0.0.1:")
    chrome = browser(insecure_certs=True)  # the tests' own CA
    chrome.driver.get(guarded.url)
    time.sleep(1.0)
    chrome.read()
    ours = [(url, status) for url, status in chrome.statuses if url.startswith(guarded.url)]
    assert ours == [(guarded.url, 401)]  # the page; nothing else was asked for
    assert "terminal" not in chrome.driver.page_source
    assert chrome.sockets == {} and guarded.sessions() == set()

    with_credentials = guarded.url.replace("https://", f"https://team:{PASSWORD}@")
    chrome.driver.get(with_credentials)
    chrome.wait_for_screen(overview_shown, "the overview, over TLS with basic auth")
    (url,) = chrome.sockets.values()
    assert url.startswith(guarded.url.replace("https://", "wss://") + "ws?") and PASSWORD not in url
    assert PASSWORD not in chrome.driver.page_source
    terminal = chrome.driver.execute_script("return document.getElementById('terminal').outerHTML")
    assert PASSWORD not in terminal and "wss://127.0.0.1:" in terminal
    assert len(guarded.sessions()) == 1


def test_the_session_cap_holds_and_closing_a_tab_ends_its_app(tmp_path, browser):
    chromium_paths()
    server = WebServer(tmp_path, ["--demo"], ["--max-sessions", "1"])
    try:
        chrome = browser()
        chrome.driver.get(server.url)
        chrome.wait_for_screen(overview_shown, "the first tab's overview")
        (first,) = server.sessions()
        first_tab = chrome.driver.current_window_handle

        chrome.driver.switch_to.new_window("tab")
        chrome.driver.get(server.url)
        assert "All 1 sessions are in use" in chrome.driver.page_source
        assert chrome.driver.title == "cuadra-top: all sessions in use"
        assert server.sessions() == {first}
        second_tab = chrome.driver.current_window_handle

        chrome.driver.switch_to.window(first_tab)
        chrome.driver.close()
        wait_for(lambda: not alive(first), "the closed tab's app process gone", 15)
        assert server.sessions() == set()

        chrome.driver.switch_to.window(second_tab)
        chrome.driver.refresh()
        chrome.wait_for_screen(overview_shown, "the second tab's overview, once the first is closed")
        (second,) = server.sessions()
        assert second != first and alive(second)
    finally:
        server.stop()
    # The session ends with its server (its own exit: the monitor stopped, the history closed),
    # which may take a moment after the server's own under load: no orphan left behind.
    wait_for(lambda: not alive(second), "the second tab's app gone with the server", 15)
