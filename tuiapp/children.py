"""Child processes for heavy work (training, conversion): one way to start them.

The child gets the same data dir however the parent found it, unbuffered output (JSON-lines
events are read as they come), no network for Hugging Face, and its own session, so a Ctrl-C
meant for the TUI or the CLI does not reach it: the parent cancels it with SIGTERM instead.
"""

import os
import subprocess
from pathlib import Path

from tuiapp.paths import data_dir


def child_env() -> dict[str, str]:
    return os.environ | {
        "TUIAPP_HOME": str(data_dir()),
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",  # everything is local: never wait on a network
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        # The child shares the cores with the chat's llama.cpp threads (and anything else):
        # OpenMP threads that spin while waiting collapse throughput when cores are
        # oversubscribed (measured 5-8x slower per training step on 2 busy cores); passive
        # waiting does not.
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }


def spawn(cmd: list[str], log: Path) -> "subprocess.Popen[str]":
    """Start ``cmd`` with its stdout piped (text, line-buffered) and stderr appended to ``log``."""
    with log.open("a") as err:
        return subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=child_env(),
            start_new_session=True,
            bufsize=1,
        )
