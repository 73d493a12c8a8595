"""Following a child-process job (training, conversion) from a screen's thread worker.

The screen has ``Event(event)`` and ``Ended(error=None)`` messages and ``job`` / ``cancel_asked``
attributes. ``follow`` starts the job, posts every event, and ends with exactly one ``Ended``: a
refusal or a lost child becomes its error text, never an exception out of the worker. A job
the screen did not start (``owned`` False: a run followed from elsewhere) is detached, never
cancelled, when the app closes.
"""

from collections.abc import Callable
from typing import Any

from textual.worker import get_current_worker

from tuiapp.errors import TuiappError


def follow(screen: Any, start: Callable[[], Any], what: str) -> None:
    """Run in a thread worker: ``start()`` the job and relay it to ``screen``."""
    worker = get_current_worker()
    try:
        job = start()
    except TuiappError as error:  # refusals: no base file, DoRA as a GGUF adapter…
        screen.post_message(screen.Ended(str(error)))
        return
    except Exception as error:  # a worker never takes the app down
        screen.post_message(screen.Ended(f"The {what} could not start: {error}"))
        return
    screen.job = job
    if screen.cancel_asked:
        job.cancel()
    owned = job.owned
    try:
        for event in job.events():
            if worker.is_cancelled:  # the app is closing
                job.cancel() if owned else job.detach()
            screen.post_message(screen.Event(event))
    except Exception as error:
        job.cancel() if owned else job.detach()
        screen.post_message(screen.Ended(f"Lost the {what} process: {error}"))
        return
    finally:
        screen.job = None
    screen.post_message(screen.Ended())
