"""Test helpers for the headless CLI: run it as a real subprocess, check a one-line error."""

import os
import subprocess
import sys


def tuiapp(
    *args: str, input: str | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuiapp", *args],
        capture_output=True,
        text=True,
        input=input,
        env=os.environ.copy(),
        timeout=timeout,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def run_adapt(*args: str) -> tuple[dict, list[dict]]:
    """``tuiapp adapt ARGS --json`` to the end: (the report, the progress events)."""
    import json

    result = subprocess.run(
        [sys.executable, "-m", "tuiapp", "adapt", *args, "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    progress = [json.loads(line) for line in lines if line.startswith('{"event": "progress"')]
    report = json.loads("\n".join(line for line in lines if not line.startswith('{"event"')))
    return report, progress
