"""The real app in a real terminal, driven as a person would: tmux send-keys / capture-pane."""

import os
import shlex
import subprocess
import sys
import time

import pytest

from tuiapp.store import open_db
from tuiapp.store.history import History

pytestmark = pytest.mark.slow


class Terminal:
    def __init__(self, command: str, width: int = 120, height: int = 35) -> None:
        # A private tmux server per test, so nothing else running tmux can interfere.
        self.tmux = ["tmux", "-L", f"tuiapp-test-{os.getpid()}-{time.monotonic_ns()}"]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", "app", "-x", str(width),
                        "-y", str(height), command], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "app"],
                              capture_output=True, text=True).stdout

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
        term.wait_for(lambda s: "first token" in s, timeout=120)
        screen = term.screen()
        assert "Name three colours" in screen  # the sidebar titles the conversation with it
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
