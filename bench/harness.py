"""The measuring harness: programs in a pseudo-terminal, a small VT screen, cleanup, statistics.

Everything the benchmarked program writes to its terminal goes through :class:`PtyProc`: the
bytes are counted, and fed to :class:`Screen`, a minimal VT100/xterm screen (cursor moves, erase,
scroll, wide characters) good enough to read what a Textual or ncurses program shows. Markers are
searched on that screen, not in the raw stream, so a program that paints with cursor moves is
read the way a person would see it.

Every child is a session leader on its own pty; all of them are killed (SIGTERM, then SIGKILL,
by process group id) when the bench exits, however it exits.
"""

from __future__ import annotations

import atexit
import codecs
import errno
import fcntl
import hashlib
import json
import os
import platform
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
CUADRA_TOP = VENV_BIN / "cuadra-top"
SRC = ROOT / "src"
"""The sources next to the bench: every child imports cuadra_top from here first (PYTHONPATH),
so a worktree whose .venv is another checkout's still measures its own code, the code whose
hash the results record."""
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))  # the simulator in this process, too

now = time.monotonic


class BenchError(Exception):
    """A measurement could not be taken (timeout, program died, marker never shown)."""


# ---------------------------------------------------------------------------------------------
# child processes: registry and cleanup


_LIVE: dict[int, str] = {}  # pid (== pgid) -> description


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid: int, timeout: float) -> int | None:
    """Wait up to ``timeout`` for ``pid``; its wait status, or None if it is still running."""
    deadline = now() + timeout
    while True:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        if got == pid:
            return status
        if now() >= deadline:
            return None
        time.sleep(0.01)


def kill_all_children() -> None:
    """SIGTERM every live child's process group, then SIGKILL what is left."""
    pids = list(_LIVE)
    for pid in pids:
        _kill_group(pid, signal.SIGTERM)
    for pid in pids:
        if _reap(pid, 2.0) is None:
            _kill_group(pid, signal.SIGKILL)
            _reap(pid, 2.0)
        _LIVE.pop(pid, None)


def _on_signal(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


def install_cleanup() -> None:
    atexit.register(kill_all_children)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


# ---------------------------------------------------------------------------------------------
# environment


def child_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no proxies (loopback only), no inherited terminal size or app settings."""
    env = {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm-256color",
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
        "NO_PROXY": "*",
        "no_proxy": "*",
        "TZ": "UTC",
        "PYTHONPATH": str(SRC),
    }
    for key in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    env.update(extra or {})
    return env


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"cuadra-bench-{prefix}-"))


# ---------------------------------------------------------------------------------------------
# a minimal VT screen


_TOKEN = re.compile(
    r"""
      \x1b\[(?P<cp>[0-?]*)(?P<ci>[\x20-/]*)(?P<cf>[@-~])          # CSI
    | \x1b\](?:[^\x07\x1b]|\x1b(?!\\))*(?:\x07|\x1b\\)             # OSC
    | \x1b[PX^_](?:[^\x1b]|\x1b(?!\\))*\x1b\\                      # DCS, SOS, PM, APC
    | \x1b(?P<ei>[\x20-/]*)(?P<ef>[0-Z\\`-~])                      # other ESC sequences
    | (?P<ctl>[\x00-\x1a\x1c-\x1f\x7f])                            # C0 controls
    | (?P<text>[^\x00-\x1f\x1b\x7f]+)
    """,
    re.VERBOSE | re.DOTALL,
)


def _width(ch: str) -> int:
    if ch.isascii():
        return 1
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


class Screen:
    """Enough of an xterm to read the text a full-screen program shows."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self.replies: list[bytes] = []  # answers to terminal queries, for the harness to send
        self.reset()

    def reset(self) -> None:
        self.grid = [[" "] * self.cols for _ in range(self.rows)]
        self.x = self.y = 0
        self.saved = (0, 0)
        self.autowrap = True
        self.wrap_pending = False
        self.top, self.bottom = 0, self.rows - 1

    # -- reading ---------------------------------------------------------------------------
    def row(self, y: int) -> str:
        return "".join(self.grid[y])

    def text(self) -> str:
        return "\n".join(self.row(y) for y in range(self.rows))

    def find(self, needle: str, rows: Iterable[int] | None = None) -> int | None:
        for y in rows if rows is not None else range(self.rows):
            if needle in self.row(y):
                return y
        return None

    # -- feeding ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        self._pending = ""
        pos, end = 0, len(text)
        match = _TOKEN.match
        while pos < end:
            m = match(text, pos)
            if m is None:
                if text[pos] == "\x1b" and end - pos < 4096:
                    self._pending = text[pos:]  # an escape sequence cut in half: wait for the rest
                    return
                pos += 1  # garbage: skip it
                continue
            pos = m.end()
            if m.group("text") is not None:
                self._put(m.group("text"))
            elif m.group("cf") is not None:
                self._csi(m.group("cp"), m.group("ci"), m.group("cf"))
            elif m.group("ctl") is not None:
                self._control(m.group("ctl"))
            elif m.group("ef") is not None:
                self._esc(m.group("ei"), m.group("ef"))
            # OSC / DCS: nothing to show

    def _put(self, run: str) -> None:
        grid, cols = self.grid, self.cols
        if run.isascii() and not self.wrap_pending and self.x + len(run) <= cols:
            grid[self.y][self.x:self.x + len(run)] = run
            self.x += len(run)
            if self.x >= cols:
                self.x = cols - 1
                self.wrap_pending = self.autowrap
            return
        for ch in run:
            w = _width(ch)
            if w == 0:
                continue
            if self.wrap_pending:
                self.wrap_pending = False
                self.x = 0
                self._linefeed()
            if self.x + w > cols:
                if not self.autowrap:
                    self.x = cols - w
                else:
                    self.x = 0
                    self._linefeed()
            grid[self.y][self.x] = ch
            if w == 2 and self.x + 1 < cols:
                grid[self.y][self.x + 1] = ""
            self.x += w
            if self.x >= cols:
                self.x = cols - 1
                self.wrap_pending = self.autowrap

    def _linefeed(self) -> None:
        if self.y == self.bottom:
            self._scroll_up(1)
        elif self.y < self.rows - 1:
            self.y += 1

    def _scroll_up(self, n: int) -> None:
        for _ in range(n):
            del self.grid[self.top]
            self.grid.insert(self.bottom, [" "] * self.cols)

    def _scroll_down(self, n: int) -> None:
        for _ in range(n):
            del self.grid[self.bottom]
            self.grid.insert(self.top, [" "] * self.cols)

    def _control(self, ch: str) -> None:
        self.wrap_pending = False if ch in "\r\n\x08" else self.wrap_pending
        if ch == "\r":
            self.x = 0
        elif ch in "\n\x0b\x0c":
            self._linefeed()
        elif ch == "\x08":
            self.x = max(self.x - 1, 0)
        elif ch == "\t":
            self.x = min((self.x // 8 + 1) * 8, self.cols - 1)

    def _esc(self, inter: str, final: str) -> None:
        if inter:
            return  # charset designations and the like
        if final == "7":
            self.saved = (self.x, self.y)
        elif final == "8":
            self.x, self.y = self.saved
        elif final == "M":
            if self.y == self.top:
                self._scroll_down(1)
            else:
                self.y = max(self.y - 1, 0)
        elif final == "D":
            self._linefeed()
        elif final == "E":
            self.x = 0
            self._linefeed()
        elif final == "c":
            self.reset()

    def _csi(self, params: str, inter: str, final: str) -> None:
        private = params[:1] if params[:1] in "?>=<" else ""
        body = params[len(private):]
        args = [int(p) if p.isdigit() else 0 for p in body.split(";")] if body else []

        def arg(i: int, default: int = 1) -> int:
            return args[i] if len(args) > i and args[i] else default

        self.wrap_pending = False
        if inter:
            if inter == "$" and final == "p" and private == "?":  # DECRQM: say "not recognized", as xterm
                self.replies.append(f"\x1b[?{arg(0, 0)};0$y".encode())
            return
        if private and final not in "hlc":
            return  # kitty keyboard (>u), xterm modifiers (>m) and other private requests: ignored
        if final in "Hf":
            self.y = min(arg(0) - 1, self.rows - 1)
            self.x = min(arg(1) - 1, self.cols - 1)
        elif final == "A":
            self.y = max(self.y - arg(0), 0)
        elif final in "Be":
            self.y = min(self.y + arg(0), self.rows - 1)
        elif final in "Ca":
            self.x = min(self.x + arg(0), self.cols - 1)
        elif final == "D":
            self.x = max(self.x - arg(0), 0)
        elif final == "E":
            self.x, self.y = 0, min(self.y + arg(0), self.rows - 1)
        elif final == "F":
            self.x, self.y = 0, max(self.y - arg(0), 0)
        elif final in "G`":
            self.x = min(arg(0) - 1, self.cols - 1)
        elif final == "d":
            self.y = min(arg(0) - 1, self.rows - 1)
        elif final == "K":
            mode, line = arg(0, 0), self.grid[self.y]
            lo, hi = {0: (self.x, self.cols), 1: (0, self.x + 1), 2: (0, self.cols)}.get(mode, (0, 0))
            line[lo:hi] = [" "] * (hi - lo)
        elif final == "J":
            mode = arg(0, 0)
            if mode == 0:
                self.grid[self.y][self.x:] = [" "] * (self.cols - self.x)
                rows = range(self.y + 1, self.rows)
            elif mode == 1:
                self.grid[self.y][: self.x + 1] = [" "] * (self.x + 1)
                rows = range(0, self.y)
            else:
                rows = range(self.rows)
            for y in rows:
                self.grid[y] = [" "] * self.cols
        elif final == "X":
            n = min(arg(0), self.cols - self.x)
            self.grid[self.y][self.x:self.x + n] = [" "] * n
        elif final == "P":
            line = self.grid[self.y]
            n = min(arg(0), self.cols - self.x)
            del line[self.x:self.x + n]
            line.extend([" "] * n)
        elif final == "@":
            line = self.grid[self.y]
            n = min(arg(0), self.cols - self.x)
            line[self.x:self.x] = [" "] * n
            del line[self.cols:]
        elif final in "LM" and self.top <= self.y <= self.bottom:
            saved_top, self.top = self.top, self.y
            (self._scroll_down if final == "L" else self._scroll_up)(min(arg(0), self.bottom - self.y + 1))
            self.top = saved_top
        elif final == "S":
            self._scroll_up(arg(0))
        elif final == "T":
            self._scroll_down(arg(0))
        elif final == "r":
            self.top = arg(0) - 1
            self.bottom = min(arg(1, self.rows), self.rows) - 1
            self.x = self.y = 0
        elif final == "b":
            pass  # REP: rare enough to ignore
        elif final in "hl":
            on = final == "h"
            for mode in args:
                if private == "?" and mode == 7:
                    self.autowrap = on
                elif private == "?" and mode in (47, 1047, 1049) and on:
                    self.grid = [[" "] * self.cols for _ in range(self.rows)]
        elif final == "n" and not private and arg(0, 0) == 6:
            self.replies.append(f"\x1b[{self.y + 1};{self.x + 1}R".encode())
        elif final == "n" and not private and arg(0, 0) == 5:
            self.replies.append(b"\x1b[0n")
        elif final == "c" and private == "" and arg(0, 0) == 0:
            self.replies.append(b"\x1b[?62;22c")  # a VT220 with ANSI colour, like xterm's answer
        elif final == "c" and private == ">" and arg(0, 0) == 0:
            self.replies.append(b"\x1b[>41;380;0c")
        elif final == "s":
            self.saved = (self.x, self.y)
        elif final == "u":
            self.x, self.y = self.saved


# ---------------------------------------------------------------------------------------------
# a program in a pseudo-terminal


def _proc_stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode()
    return raw[raw.rindex(")") + 2:].split()  # fields from 3 (state) on


CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class PtyProc:
    """One program on its own pty, its own session, with the pty as controlling terminal."""

    argv: Sequence[str]
    env: dict[str, str]
    cols: int = 120
    rows: int = 40
    cwd: str | None = None
    name: str = ""
    pid: int = 0
    fd: int = -1
    started: float = 0.0
    nbytes: int = 0
    status: int | None = None
    exited_at: float | None = None
    eof: bool = False
    screen: Screen = field(init=False)
    log: bytearray | None = None

    def __post_init__(self) -> None:
        self.name = self.name or Path(self.argv[0]).name
        self.screen = Screen(self.cols, self.rows)

    def start(self) -> PtyProc:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        argv = [str(a) for a in self.argv]
        env = self.env
        self.started = now()
        pid = os.fork()
        if pid == 0:  # child: only async-signal-safe-ish calls until exec
            try:
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                if self.cwd:
                    os.chdir(self.cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        os.close(slave)
        os.set_blocking(master, False)
        self.pid, self.fd = pid, master
        _LIVE[pid] = self.name
        return self

    # -- I/O -------------------------------------------------------------------------------
    def read_available(self) -> int:
        """Read everything the program has written so far; feed the screen; count the bytes."""
        got = 0
        while not self.eof:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EIO:  # the program closed the terminal (exited)
                    self.eof = True
                    break
                raise
            if not data:
                self.eof = True
                break
            got += len(data)
            if self.log is not None:
                self.log += data
            self.screen.feed(data)
        self.nbytes += got
        if self.screen.replies:
            replies, self.screen.replies = self.screen.replies, []
            for reply in replies:
                self.send(reply)
        return got

    def send(self, data: bytes) -> None:
        if self.fd >= 0:
            os.write(self.fd, data)

    def poll(self) -> int | None:
        """The exit status if the program has ended (reaps it), else None."""
        if self.status is None and self.pid:
            try:
                got, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                got, status = self.pid, 0
            if got == self.pid:
                self.status = os.waitstatus_to_exitcode(status)
                self.exited_at = now()
                _LIVE.pop(self.pid, None)
        return self.status

    @property
    def alive(self) -> bool:
        return self.poll() is None

    # -- /proc -----------------------------------------------------------------------------
    def cpu_seconds(self) -> float:
        fields = _proc_stat(self.pid)
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads

    def proc_status(self) -> dict[str, int]:
        """VmRSS, VmHWM (kB) and Threads from /proc/<pid>/status."""
        out: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    out[key] = int(value.split()[0])
        return out

    # -- ending ----------------------------------------------------------------------------
    def close(self, quit_keys: bytes | None = b"q", grace: float = 5.0) -> float | None:
        """Quit with ``quit_keys``, then SIGTERM, then SIGKILL. Returns the seconds the
        program took to exit on its own after the keys, or None if it had to be killed."""
        took = None
        if self.fd < 0:
            return None  # already closed
        try:
            if self.alive and quit_keys:
                sent = now()
                try:
                    self.send(quit_keys)
                except OSError:
                    pass
                deadline = sent + grace
                while now() < deadline and self.alive:
                    pump([self], 0.02)
                if not self.alive:
                    took = (self.exited_at or now()) - sent
            if self.alive:
                _kill_group(self.pid, signal.SIGTERM)
                if _reap(self.pid, 2.0) is None:
                    _kill_group(self.pid, signal.SIGKILL)
                    _reap(self.pid, 2.0)
                self.status = self.status if self.status is not None else -1
        finally:
            _LIVE.pop(self.pid, None)
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
        return took


def pump(procs: Sequence[PtyProc], timeout: float) -> None:
    """Wait up to ``timeout`` for output from any of ``procs`` and read all of it."""
    fds = {p.fd: p for p in procs if p.fd >= 0 and not p.eof}
    if not fds:
        time.sleep(timeout)
        return
    try:
        ready, _, _ = select.select(list(fds), [], [], max(timeout, 0))
    except InterruptedError:
        ready = []
    for fd in ready:
        fds[fd].read_available()


def wait_for(procs: Sequence[PtyProc] | PtyProc, predicate: Callable[[], bool], timeout: float,
             what: str, step: float = 0.05) -> float:
    """Pump until ``predicate()``; returns the monotonic time it first held. Raises BenchError."""
    procs = [procs] if isinstance(procs, PtyProc) else list(procs)
    deadline = now() + timeout
    while True:
        if predicate():
            return now()
        for p in procs:
            if p.eof and not p.alive:
                raise BenchError(f"{p.name} exited (status {p.status}) before {what}; screen:\n{p.screen.text()}")
        left = deadline - now()
        if left <= 0:
            shown = "\n".join(f"--- {p.name}:\n{p.screen.text()}" for p in procs)
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}; screen:\n{shown}")
        pump(procs, min(step, left))


def run_for(procs: Sequence[PtyProc], seconds: float) -> None:
    """Keep reading the programs' output for ``seconds``."""
    deadline = now() + seconds
    while (left := deadline - now()) > 0:
        pump(procs, min(left, 0.25))


# ---------------------------------------------------------------------------------------------
# plain subprocesses (workers)


def run_worker(argv: Sequence[str], env: dict[str, str], timeout: float) -> dict:
    """Run a bench worker to completion; its stdout is one JSON object."""
    proc = subprocess.Popen([str(a) for a in argv], env=env, cwd=str(ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, text=True)
    _LIVE[proc.pid] = "worker"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise BenchError(f"worker {argv[3:]} timed out after {timeout:.0f} s") from None
    finally:
        _LIVE.pop(proc.pid, None)
    if proc.returncode != 0:
        raise BenchError(f"worker {argv[3:]} failed ({proc.returncode}): {err.strip()[-2000:]}")
    return json.loads(out)


# ---------------------------------------------------------------------------------------------
# the history, as an earlier run left it


def store_answer(sim, name: str, config: Path, env: dict[str, str], cwd: Path, used: int) -> None:
    """What an earlier run left in the history of ``env``'s home: ``cuadra-top --once`` stores
    an answer of ``used`` credits for org ``name`` (the simulator sends that document once)."""
    from cuadra_top.simulator import Fault

    body = sim.usage_for(name)
    body["credits"]["used"] = used
    body["credits"]["available"] = body["credits"]["limit"] - used
    sim.set_fault(name, Fault(document=body, times=1))
    try:
        done = subprocess.run([str(CUADRA_TOP), "--once", "--config", str(config), "--org", name], env=env,
                              cwd=str(cwd), capture_output=True, text=True, timeout=60)
    finally:
        sim.set_fault(name, None)
    if done.returncode != 0 or f"{used:,}" not in done.stdout:
        raise BenchError(f"storing an answer of {name} failed ({done.returncode}): {done.stdout}{done.stderr}")


# ---------------------------------------------------------------------------------------------
# statistics and machine


def summarize(values: Sequence[float]) -> dict:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "q1": None, "q3": None, "values": []}
    q1, q3 = (statistics.quantiles(vals, n=4, method="inclusive")[::2] if len(vals) >= 2 else (vals[0], vals[0]))
    return {"n": len(vals), "median": statistics.median(vals), "min": vals[0], "max": vals[-1],
            "q1": q1, "q3": q3, "values": list(values)}


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None

    def version_of(module: str) -> str:
        """As the measured programs run: this checkout's interpreter (else this one), its src/ first."""
        python = str(PYTHON) if PYTHON.exists() else sys.executable
        out = subprocess.run([python, "-c", f"import {module}; print({module}.__version__)"], capture_output=True,
                             text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        return out.stdout.strip() or "?"

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True,
                                 text=True, timeout=10)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    htop = subprocess.run(["sh", "-c", "htop --version 2>/dev/null | head -1"], capture_output=True, text=True,
                          timeout=10).stdout.strip()
    dirty = git("status", "--porcelain", "--", "src")
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*")):
        if path.suffix in (".py", ".tcss", ".toml") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "loadavg_at_start": [round(x, 2) for x in load] if load else None,
        "os": f"{platform.system()} {platform.release()}",
        "distro": _distro(),
        "python": platform.python_version(),
        "textual": version_of("textual"),
        "cuadra_top": version_of("cuadra_top"),
        "htop": htop or None,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "src_modified_files": len(dirty.splitlines()) if dirty else 0,
        "src_sha256": digest.hexdigest()[:12],
    }


def _distro() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "?"


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)
