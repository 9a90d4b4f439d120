"""The floors: the smallest Textual app that shows one static label, run as its own program.

The bench times it exactly like cuadra-top (same interpreter, same pty, same terminal size), so
"cuadra-top / floor" is what cuadra-top adds on top of Python + Textual themselves.

``--marker TEXT`` sets the label (default ``used 42,100``, the number cuadra-top's Credits pane
shows for the bench's start-up org). Keys: ``q`` quits; ``n`` changes the label to ``count N``
(a key-to-screen baseline).

``--stack URL TOKEN``: the floor of *the project's stack* (issue 13): the same app, after
importing the two other libraries cuadra-top cannot start without, httpx and pydantic, making
one real ``GET URL`` with httpx (bearer ``TOKEN``, the bench's simulator) and parsing the answer
with a pydantic model; the label, ``used N`` from the answer's ``credits.used``, is shown only
after that. It is the least any program built on this stack needs to put live data on screen,
so "cuadra-top / stack floor" is what cuadra-top adds on top of its libraries and one request.
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


def fetch_credits_used(url: str, token: str) -> int:
    """One GET with httpx (a client as any program makes one: TLS context, pool), the answer
    parsed with pydantic: ``credits.used``."""
    import httpx
    from pydantic import BaseModel

    class Credits(BaseModel):
        used: int

    class Usage(BaseModel):
        credits: Credits

    with httpx.Client(timeout=10.0) as client:
        response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
    return Usage.model_validate_json(response.content).credits.used


def main(argv: list[str]) -> int:
    marker = "used 42,100"
    if argv[:1] == ["--stack"] and len(argv) >= 3:
        marker = f"used {fetch_credits_used(argv[1], argv[2]):,}"
        argv = argv[3:]
    elif len(argv) >= 2 and argv[0] == "--marker":
        marker = argv[1]
    FloorApp(marker).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
