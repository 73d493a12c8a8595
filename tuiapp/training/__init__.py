"""Training adapters on the model the user chats with, in a child process.

The parent API imports no ML library: ``plan`` checks a request and records the run, ``jobs``
starts the child (``python -m tuiapp.training``, which runs ``runner``), streams its events,
cancels and resumes it.
"""

from tuiapp.training.jobs import TrainingJob, resume_training, run_events, start_training
from tuiapp.training.plan import DataSource, TrainRequest, plan_training

__all__ = [
    "DataSource",
    "TrainRequest",
    "TrainingJob",
    "plan_training",
    "resume_training",
    "run_events",
    "start_training",
]
