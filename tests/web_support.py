"""What the tests of ``cuadra-top web`` share (tests/unit/test_web.py, tests/e2e/test_web_e2e.py):
the real server in its own process group, its sessions' processes, a terminal screen rebuilt
from what a session sends, and a headless Chromium. Not a test module."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from e2e_support import Group, need, wait_for

ROOT = Path(__file__).resolve().parents[1]
DEMO_ORGS = ("acme-free", "nimbus-pro", "globex-enterprise", "flaky-labs", "initech-capped")


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """These sources, no CUADRA_* or TEXTUAL* variable of the caller, config and data under
    ``tmp_path``; ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUADRA_", "TEXTUAL"))}
    env.update(PYTHONPATH=str(ROOT / "src"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    env.update(extra)
    return env


class WebServer:
    """``cuadra-top [ARGS] web --listen LISTEN [WEB_ARGS]`` running; ``url`` is the one it printed."""

    def __init__(self, tmp_path: Path, args: list[str], web_args: list[str] = (), env: dict | None = None,
                 ready: bool = True, listen: str = "127.0.0.1:0") -> None:
        self.group = Group([sys.executable, "-m", "cuadra_top", *args, "web", "--listen", listen, *web_args],
                           tmp_path / f"web-{time.monotonic_ns()}.log", env=env or child_env(tmp_path), cwd=tmp_path)
        self.url = ""
        if ready:
            self.url = wait_for(self._started, "the web server's start line", 30).group(1)

    def _started(self):
        found = re.search(r" on (https?://\S+) \(", self.text())
        if found is None and self.group.proc.poll() is not None:
            raise AssertionError(f"the web server exited with {self.group.proc.returncode}: {self.text()}")
        return found

    @property
    def pid(self) -> int:
        return self.group.proc.pid

    def text(self) -> str:
        return self.group.text()

    def sessions(self) -> set[int]:
        """The session processes the server runs (its children)."""
        return children(self.pid)

    def stop(self) -> None:
        self.group.stop()


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


class Screen:
    """The screen a terminal would show for what a session sends: cursor moves, text and line
    erases; colours and modes are read past. Enough to say what the app shows where."""

    TOKEN = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P^_][^\x1b]*\x1b\\|\x1b.|[\x00-\x1f]|[^\x00-\x1f\x1b]+",
                       re.S)

    def __init__(self, width: int = 300, height: int = 120) -> None:
        self.width, self.height = width, height
        self.rows = [[" "] * width for _ in range(height)]
        self.row = self.col = 0
        self.widest = 0
        self._pending = ""
        self._decoder = __import__("codecs").getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        self._pending = ""
        at = 0
        for match in self.TOKEN.finditer(text):
            token = match.group()
            if token.startswith("\x1b") and match.end() == len(text) and not self._complete(token):
                self._pending = text[match.start():]
                return
            at = match.end()
            self._apply(token)
        if at < len(text):
            self._pending = text[at:]

    @staticmethod
    def _complete(token: str) -> bool:
        if token == "\x1b":
            return False
        if token.startswith("\x1b["):
            return bool(re.fullmatch(r"\x1b\[[0-?]*[ -/]*[@-~]", token))
        if token.startswith("\x1b]"):
            return token.endswith(("\x07", "\x1b\\"))
        return True

    def _apply(self, token: str) -> None:
        if token.startswith("\x1b["):
            final, params = token[-1], token[2:-1]
            if final in "Hf" and not params.startswith("?"):
                numbers = [int(p) if p.isdigit() else 1 for p in (params.split(";") + ["1", "1"])[:2]]
                self.row, self.col = min(numbers[0], self.height) - 1, min(numbers[1], self.width) - 1
            elif final == "J" and params in ("2", "3"):
                self.rows = [[" "] * self.width for _ in range(self.height)]
            elif final == "K":
                for col in range(self.col, self.width):
                    self.rows[self.row][col] = " "
            return
        if token.startswith("\x1b"):
            return
        if token == "\r":
            self.col = 0
        elif token == "\n":
            self.row = min(self.row + 1, self.height - 1)
        elif token[0] >= " ":
            for ch in token:
                wide = unicodedata.east_asian_width(ch) in "WF"
                if self.col < self.width:
                    self.rows[self.row][self.col] = ch
                    self.widest = max(self.widest, self.col + 1)
                self.col += 2 if wide else 1

    def lines(self) -> list[str]:
        return ["".join(row).rstrip() for row in self.rows]

    def text(self) -> str:
        return "\n".join(self.lines()).rstrip()


# -- the browser ---------------------------------------------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")


def chromium_paths() -> tuple[str, str]:
    return need(("chromium", "chromedriver"), "Debian's chromium and chromium-driver packages")  # type: ignore[return-value]


class Browser:
    """A headless Chromium driven through Debian's chromedriver (Selenium), with a fresh profile;
    what each tab's websocket receives is read from Chromium's performance log (the DevTools
    Network events), so the tests see the bytes the page drew, in the browser."""

    def __init__(self, width: int = 1280, height: int = 800, insecure_certs: bool = False) -> None:
        binary, driver = chromium_paths()
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.TemporaryDirectory(prefix="cuadra-top-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        if insecure_certs:
            options.accept_insecure_certs = True  # the tests' own self-signed certificate
        self.driver = webdriver.Chrome(options=options, service=Service(driver))
        self.screens: dict[str, Screen] = {}
        self.sockets: dict[str, str] = {}
        """Each websocket the pages opened: request id -> URL."""
        self.closed: set[str] = set()
        self.statuses: list[tuple[str, int]] = []
        """Each HTTP response the pages got: (URL, status)."""

    def read(self) -> None:
        """Take what the websockets received since the last call into ``screens``."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message["method"], message.get("params", {})
            if method == "Network.responseReceived":
                self.statuses.append((params["response"]["url"], params["response"]["status"]))
            elif method == "Network.webSocketCreated":
                self.sockets[params["requestId"]] = params["url"]
            elif method == "Network.webSocketClosed":
                self.closed.add(params["requestId"])
            elif method == "Network.webSocketFrameReceived":
                response = params["response"]
                if response["opcode"] == 2:
                    screen = self.screens.setdefault(params["requestId"], Screen())
                    screen.feed(base64.b64decode(response["payloadData"]))

    def screen(self) -> Screen:
        """The screen of the most recent websocket."""
        self.read()
        assert self.screens, "no websocket has received anything"
        return self.screens[list(self.screens)[-1]]

    def wait_for_screen(self, condition, what: str, timeout: float = 30.0) -> Screen:
        def check():
            self.read()
            if not self.screens:
                return None
            screen = self.screens[list(self.screens)[-1]]
            return screen if condition(screen.text()) else None

        return wait_for(check, what, timeout, every=0.2)

    def keys(self, text: str) -> None:
        """Type into the page, as a person would (the terminal has the focus)."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(text)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            self.profile.cleanup()


STUB_APP = r"""
import json, os, signal, sys, time
out, feed = sys.stdout.buffer, sys.stdin.buffer
stubborn = "--stubborn" in sys.argv
if stubborn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

def packet(kind, payload):
    out.write(kind + len(payload).to_bytes(4, "big") + payload)
    out.flush()

out.write(b"__GANGLION__\n")
packet(b"D", f"stub ready {os.environ.get('COLUMNS')}x{os.environ.get('ROWS')}".encode())
while True:
    kind = feed.read(1)
    if not kind:
        break
    payload = feed.read(int.from_bytes(feed.read(4), "big"))
    if kind == b"M" and json.loads(payload)["type"] == "quit" and not stubborn:
        packet(b"M", b'{"type": "exit"}')
        break
    if kind == b"D":
        packet(b"D", b"echo " + payload)
while stubborn:
    time.sleep(1)
"""
"""A stand-in for the TUI that speaks textual-serve's protocol: it says it is ready (with the
size it was given), echoes what is typed, and quits when asked (``--stubborn``: never, and it
ignores SIGTERM)."""


def stub_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", STUB_APP, *args]
