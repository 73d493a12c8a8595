"""The real app in a real terminal, driven as a person would: tmux send-keys / capture-pane."""

import os
import shlex
import subprocess
import sys
import time

import pytest

from tuiapp.chat.history import History
from tuiapp.store import open_db

pytestmark = pytest.mark.slow


class Terminal:
    def __init__(self, command: str, width: int = 120, height: int = 35) -> None:
        # A private tmux server per test, so nothing else running tmux can interfere.
        self.tmux = ["tmux", "-L", f"tuiapp-test-{os.getpid()}-{time.monotonic_ns()}"]
        # The pane first holds an idle shell; the app starts only once the pane has its final
        # size. Started directly, a loaded machine can run the app while tmux still has the pane
        # at 80x24 and the resize signal arrives before the app listens for it (seen in CI).
        size = ["-x", str(width), "-y", str(height)]
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", "app", *size, "sleep 600"], check=True
        )
        subprocess.run(
            [*self.tmux, "set-option", "-g", "default-size", f"{width}x{height}"], check=True
        )
        subprocess.run([*self.tmux, "resize-window", "-t", "app", *size], check=True)
        shown = subprocess.run(
            [*self.tmux, "display-message", "-p", "-t", "app", "#{pane_width}x#{pane_height}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert shown == f"{width}x{height}", shown
        # COLUMNS/LINES in the environment would override the real size of the terminal.
        command = f"exec env -u COLUMNS -u LINES {command}"
        subprocess.run([*self.tmux, "respawn-pane", "-k", "-t", "app", command], check=True)

    def screen(self) -> str:
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", "app"], capture_output=True, text=True
        ).stdout

    def send(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "app", *keys], check=True)

    def wait_for(self, predicate, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out; the screen shows:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


def test_chat_in_a_real_terminal(home_with_model):
    env = f"TUIAPP_HOME={shlex.quote(str(home_with_model))}"
    term = Terminal(f"{env} {shlex.quote(sys.executable)} -m tuiapp")
    try:
        term.wait_for(lambda s: "ready" in s)
        term.send("-l", "Name three colours of the rainbow.")
        term.send("Enter")
        # The reply streams in; when it ends the status bar adds its time to first token.
        # The sidebar titles the conversation with the question.
        screen = term.wait_for(
            lambda s: "first token" in s and "Name three colours" in s, timeout=120
        )
        term.send("C-q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "app" in term.screen():
            time.sleep(0.1)
    finally:
        term.close()
    (conv,) = History(open_db()).list_conversations()
    roles = [m.role for m in History(open_db()).messages(conv.id)]
    assert roles == ["user", "assistant"]
    reply = History(open_db()).messages(conv.id)[1].content
    assert reply.split()[-1] in screen  # the end of what was stored is on screen
