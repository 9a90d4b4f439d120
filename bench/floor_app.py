"""The floor: the smallest Textual app that shows one static label, run as its own program.

The bench times it exactly like cuadra-top (same interpreter, same pty, same terminal size), so
"cuadra-top / floor" is what cuadra-top adds on top of Python + Textual themselves.

``--marker TEXT`` sets the label (default ``used 42,100``, the number cuadra-top's Credits pane
shows for the bench's start-up org). Keys: ``q`` quits; ``n`` changes the label to ``count N``
(a key-to-screen baseline).

``--stack`` first imports the two other libraries cuadra-top cannot start without, httpx and
pydantic, and builds one pydantic model: the floor of *the project's* stack, which shows how
much of cuadra-top's start-up is the libraries it must load rather than its own work.
"""

from __future__ import annotations

import sys

from textual.app import App, ComposeResult
from textual.widgets import Static


class FloorApp(App[None]):
    BINDINGS = [("q", "quit", "Quit"), ("n", "bump", "Bump")]

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.count = 0

    def compose(self) -> ComposeResult:
        yield Static(self.marker, id="label")

    def action_bump(self) -> None:
        self.count += 1
        self.query_one("#label", Static).update(f"count {self.count}")


def load_stack() -> None:
    import httpx  # noqa: F401
    from pydantic import BaseModel

    class Probe(BaseModel):
        used: int

    Probe(used=1)


def main(argv: list[str]) -> int:
    marker = "used 42,100"
    if "--stack" in argv:
        argv = [a for a in argv if a != "--stack"]
        load_stack()
    if len(argv) >= 2 and argv[0] == "--marker":
        marker = argv[1]
    FloorApp(marker).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
