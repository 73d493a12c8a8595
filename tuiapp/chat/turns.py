"""One reply at a time per conversation, across processes.

Two ``tuiapp chat -c 7`` at once would each store their message and then each reply to both
(turns interleaved: user, user, assistant, assistant). ``TurnLock`` is an advisory file lock
per conversation (``locks/conversation-7.lock`` in the data dir), taken before the user's
message is stored and released once the reply is: the second process waits its turn.
"""

import fcntl
import os
import time

from tuiapp.errors import EngineError
from tuiapp.paths import data_dir

WAIT_S = 600.0  # how long a turn waits for the one before it


class TurnLock:
    def __init__(self, conversation_id: int) -> None:
        self.conversation_id = conversation_id
        folder = data_dir() / "locks"
        folder.mkdir(exist_ok=True)
        self.path = folder / f"conversation-{conversation_id}.lock"
        self.fd: int | None = None

    def acquire(self, wait_s: float = WAIT_S) -> "TurnLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.fd = fd
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise EngineError(
                        f"Conversation {self.conversation_id} is still busy with another "
                        f"reply after {wait_s:.0f} s; try again when it is done."
                    ) from None
                time.sleep(0.05)

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
