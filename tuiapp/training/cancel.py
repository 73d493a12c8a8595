"""Cooperative cancellation of a run (light: installed before the ML libraries load).

SIGTERM/SIGINT set the flag. Inside ``trainer.train()`` the event callback sees it at the next
step boundary and has the Trainer checkpoint and stop; anywhere else (loading, caching, the
final save) there is nothing to keep, so the run stops at once by raising ``Cancelled``.
"""


class Cancelled(Exception):
    """Raised when a cancel arrives before the training loop could stop cleanly by itself."""


class CancelFlag:
    def __init__(self) -> None:
        self.requested = False
        self.in_loop = False  # inside trainer.train(): stop at the next step boundary

    def request(self) -> None:
        self.requested = True
        if not self.in_loop:
            raise Cancelled()
