"""Chat engine benchmark: the app's engine against raw llama-cpp-python, in one run.

Prints a table. Ratios compare against a baseline measured in the same run:
  * generation tokens/s: tuiapp Engine (owner thread + stream queue) vs a plain
    ``Llama.create_completion(stream=True)`` loop, same prompt, threads, greedy sampling;
  * time to first token, cold (new prompt) and warm (same prefix, new question);
  * TUI time to first paint in a real terminal (tmux) vs a bare Textual app;
  * resident memory with the model loaded vs the process before loading.

Usage: .venv/bin/python bench/bench_chat.py [--tokens 128] [--reps 3] [--threads N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PROMPT = (
    "The following is a short essay about the history of the bicycle, from the draisine of 1817 "
    "to the modern road bike.\n\nThe history of the bicycle begins"
)


def median(values: list[float]) -> float:
    return statistics.median(values)


def tokens_per_s_raw(llm, tokens: int) -> float:
    first = None
    for _ in llm.create_completion(PROMPT, max_tokens=tokens, temperature=0.0, stream=True):
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    # Same accounting as the engine: tokens the model decoded after the first one.
    decoded = llm.n_tokens - len(llm.tokenize(PROMPT.encode(), add_bos=True, special=True))
    return (decoded - 1) / (end - first) if first and decoded > 1 else 0.0


def tokens_per_s_engine(engine, params) -> float:
    stream = engine.complete(PROMPT, params)
    stream.text()
    return stream.result.tokens_per_s


def first_token_ms(engine, params, prompt: str) -> float:
    stream = engine.complete(prompt, params)
    stream.text()
    return stream.result.first_token_ms


def long_prefix(n_words: int = 700) -> str:
    words = ("apple river stone cloud quiet seven market lantern violet harbor " * 80).split()
    return "Notes:\n" + " ".join(words[:n_words]) + "\n\nQuestion: "


def paint_seconds(command: str, marker: str) -> float:
    """Wall time from launching ``command`` in tmux until ``marker`` is on the screen."""
    tmux = ["tmux", "-L", f"bench{os.getpid()}-{time.monotonic_ns()}"]  # a private server
    start = time.perf_counter()
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "b", "-x", "120", "-y", "35", command], check=True
    )
    try:
        while time.perf_counter() - start < 60:
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True
            ).stdout
            if marker in screen:
                return time.perf_counter() - start
            time.sleep(0.01)
        raise RuntimeError(f"{marker!r} never appeared; screen:\n{screen}")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


BARE_APP = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("BARE-READY")
Bare().run()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tuiapp-bench-"))
    os.environ["TUIAPP_HOME"] = str(home)
    from tuiapp.chat.engine.engine import Engine
    from tuiapp.chat.engine.loader import load_llama, physical_cores
    from tuiapp.chat.engine.sampling import SamplingParams
    from tuiapp.chat.models import ModelRegistry
    from tuiapp.store import open_db

    model = ModelRegistry(open_db()).ensure_default()
    threads = args.threads or physical_cores()
    proc = psutil.Process()
    rss_before = proc.memory_info().rss

    engine = Engine(n_threads=threads)
    engine.load(model).result()
    rss_loaded = proc.memory_info().rss
    # The same sampling as the raw loop's create_completion defaults, greedy.
    params = SamplingParams(temperature=0.0, max_tokens=args.tokens, seed=1, repeat_penalty=1.0)
    raw = load_llama(str(model), n_ctx=4096, n_threads=threads)

    # Generation speed, interleaved so machine noise hits both alike.
    app_tps, raw_tps = [], []

    def run_raw() -> None:
        raw.reset()
        raw_tps.append(tokens_per_s_raw(raw, args.tokens))

    def run_app() -> None:
        engine.complete("x", SamplingParams(max_tokens=1)).text()  # defeat the prefix cache
        app_tps.append(tokens_per_s_engine(engine, params))

    for rep in range(args.reps):  # alternate who goes first
        for run in (run_raw, run_app) if rep % 2 == 0 else (run_app, run_raw):
            run()

    # Time to first token: cold ~1,000-token prompt, then warm (same prefix, new question).
    prefix = long_prefix()
    one = SamplingParams(temperature=0.0, max_tokens=1)
    cold = first_token_ms(engine, one, prefix + "Which fruit is named first?")
    warm = median(
        [
            first_token_ms(engine, one, prefix + q)
            for q in ("Which colour is named?", "Which number is named?", "Name a place.")
        ]
    )
    n_prefix = engine.count_tokens(prefix)

    # First paint in a real terminal.
    py = sys.executable
    env = f"TUIAPP_HOME={home}"
    bare = median([paint_seconds(f"{py} -c '{BARE_APP}'", "BARE-READY") for _ in range(3)])
    app_cmd = f"cd {ROOT} && {env} {py} -m tuiapp"
    app = median([paint_seconds(app_cmd, "Conversations") for _ in range(3)])
    ready = median([paint_seconds(app_cmd, "· ready") for _ in range(3)])

    rows = [
        (
            "generation tokens/s",
            f"{median(app_tps):.1f}",
            f"{median(raw_tps):.1f}",
            f"{median(app_tps) / median(raw_tps):.3f}×",
            "raw llama-cpp-python",
            "≥ 0.97×",
        ),
        (f"first token, cold {n_prefix}-token prompt (ms)", f"{cold:.0f}", "", "", "", ""),
        (
            "first token, warm same prefix (ms)",
            f"{warm:.0f}",
            f"{cold:.0f}",
            f"{warm / cold:.3f}×",
            "cold prompt",
            "",
        ),
        (
            "TUI first paint in tmux (s)",
            f"{app:.2f}",
            f"{bare:.2f}",
            f"{app / bare:.2f}×",
            "bare Textual app",
            "",
        ),
        ("TUI start to model ready in tmux (s)", f"{ready:.2f}", "", "", "", ""),
        (
            "RSS with model loaded (MB)",
            f"{rss_loaded / 1e6:.0f}",
            f"{rss_before / 1e6:.0f}",
            f"+{(rss_loaded - rss_before) / 1e6:.0f} MB",
            "before loading",
            "",
        ),
    ]
    header = ("measure", "tuiapp", "baseline", "ratio", "baseline is", "goal")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"threads={threads} tokens={args.tokens} reps={args.reps} model={model.name}")
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    engine.close()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
