"""What a browser session of ``cuadra-top web`` costs: ``python -m bench.web [--tabs 1 5] [--seconds 60]``.

``cuadra-top --demo web`` on loopback and a headless Chromium (Debian's, ``make e2e-deps``) with
N tabs on it, opened one after another. For each tab: the time from asking for the page to the
overview of the demo orgs drawn in it (read from what its websocket received). Then, after 10 s
of settling, over ``--seconds``: each session's app process (its CPU, as % of one core; its RSS
and PSS, PSS sharing the libraries' pages among the sessions) and the server's. Prints a
Markdown table (the README's figures come from it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the web tests' server, browser and screen

from bench.procfs import cpu_seconds, memory_mib  # noqa: E402
from web_support import DEMO_ORGS, Browser, WebServer  # noqa: E402


def shown(text: str) -> bool:
    return all(name in text for name in DEMO_ORGS) and "%" in text


def measure(tabs: int, seconds: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="cuadra-top-bench-web-"))
    server = WebServer(tmp, ["--demo"], ["--max-sessions", str(max(tabs, 1))])
    browser = Browser(width=1200, height=760)
    try:
        first_data = []
        for index in range(tabs):
            if index:
                browser.driver.switch_to.new_window("tab")
            started = time.monotonic()
            browser.driver.get(server.url)
            before = len(browser.screens)
            browser.wait_for_screen(lambda text: len(browser.screens) > before and shown(text), "the overview", 60)
            first_data.append(time.monotonic() - started)
        time.sleep(10)
        sessions = sorted(server.sessions())
        assert len(sessions) == tabs, sessions
        pids = [server.pid, *sessions]
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        began = time.monotonic()
        peaks = {pid: (0.0, 0.0) for pid in pids}
        while time.monotonic() - began < seconds:
            browser.read()  # keep the DevTools log drained, as a page would keep drawing
            for pid in pids:
                memory = memory_mib(pid, "smaps_rollup", ("Rss", "Pss"))  # PSS: shared pages split
                rss, pss = memory["Rss"], memory["Pss"]
                peaks[pid] = (max(peaks[pid][0], rss), max(peaks[pid][1], pss))
            time.sleep(1)
        elapsed = time.monotonic() - began
        cpu = {pid: 100 * (cpu_seconds(pid) - cpu_before[pid]) / elapsed for pid in pids}
    finally:
        browser.quit()
        server.stop()
    return {
        "tabs": tabs, "first_data": first_data,
        "session_cpu": [cpu[pid] for pid in sessions], "session_rss": [peaks[pid][0] for pid in sessions],
        "session_pss": [peaks[pid][1] for pid in sessions],
        "server_cpu": cpu[server.pid], "server_rss": peaks[server.pid][0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    print(f"| tabs | page to first data (median, max) | per session: CPU | RSS | PSS | server: CPU | RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tabs in args.tabs:
        r = measure(tabs, args.seconds)
        median = statistics.median
        print(f"| {tabs} | {median(r['first_data']):.2f} s, {max(r['first_data']):.2f} s "
              f"| {median(r['session_cpu']):.2f}% | {median(r['session_rss']):.1f} MiB "
              f"| {median(r['session_pss']):.1f} MiB | {r['server_cpu']:.2f}% | {r['server_rss']:.1f} MiB |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
