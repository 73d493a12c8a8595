"""Every built-in method on the built-in sets, the way a person runs them, against few-shot.

For each set: the k-shot baseline (``eval run --mode few --shots K``) is measured first, in the
same run and on the same held-out rows and llama.cpp runtime. Then each method trains on the
set's train rows (``tuiapp train``, the same steps and batch for all), reaches the chat through
its own exporter (``adapters convert`` for LoRA and prompt tuning, ``adapters merge`` for DoRA
and IA3, the default quantization first and F16 when parity says the merge lost the update; the
rest through their hot-swap exporter), and is evaluated (``eval run --mode adapter``; a merged
model stands in for its adapter). One table per set: score with its 95% interval, the
paired verdict against the baseline, prompt tokens per query and their ratio to the baseline's,
the adapter's size on disk, training seconds, how it reaches the chat, and parity.

Meant for 2 CPU cores (the CI machine): ``taskset -c 0,1 .venv/bin/python bench/bench_methods.py
--threads 2``; about 15 minutes per set there with the defaults.

Usage: .venv/bin/python bench/bench_methods.py [--sets sentiment,extract-contact,formalize]
           [--methods lora,dora,ia3,prompt_tuning,adapter_tuning,steering] [--steps 40]
           [--shots 4] [--threads N] [--home DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
METRIC = {"sentiment": "label_correct", "extract-contact": "exact", "formalize": "chrf"}
# one learning rate per method, each its plugin's default except where noted
LEARNING_RATE = {
    "lora": "1e-3",
    "dora": "1e-3",
    "ia3": "5e-3",
    "prompt_tuning": "3e-2",
    "adapter_tuning": "1e-3",
    "steering": "1e-2",
}


def cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tuiapp", *args], capture_output=True, text=True, env=os.environ
    )
    if result.returncode != 0:
        raise RuntimeError(f"tuiapp {' '.join(args)}: {result.stderr.strip()[-800:]}")
    return result.stdout


def last_json(out: str) -> Any:
    lines = [line for line in out.splitlines() if not line.startswith('{"event": "progress"')]
    return json.loads("\n".join(lines))


def size_of(path: Path) -> int:
    return sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file() and "exports" not in p.parts
    )


def export(name: str, method: str, threads: list[str]) -> tuple[str, dict[str, Any]]:
    """How the adapter reaches the chat, and its stored export."""
    from tuiapp.plugins.manager import load_methods

    reach = load_methods().reach(method)
    if reach.hot_swap is not None:
        done = last_json(cli("adapters", "convert", name, "--json", *threads))["export"]
        return reach.hot_swap.name, done
    done = last_json(cli("adapters", "merge", name, "--json", *threads))["export"]
    if not done["parity"]["passed"]:  # a small update rounded away: merge without rounding
        done = last_json(cli("adapters", "merge", name, "--quant", "F16", "--json", *threads))
        done = done["export"]
    return f"merged {done['conversion']['quant']}", done


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="sentiment,extract-contact,formalize")
    ap.add_argument("--methods", default=",".join(LEARNING_RATE))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--home", type=Path, default=None)
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="tuiapp-bench-methods-"))
    os.environ["TUIAPP_HOME"] = str(home)
    from tuiapp.evaluation.compare import score
    from tuiapp.evaluation.evaluate import EvalStore
    from tuiapp.evaluation.stats import paired_diff, verdict
    from tuiapp.library.seed import open_library

    db = open_library()
    store = EvalStore(db)
    threads = ["--threads", str(args.threads)] if args.threads else []
    train_opts = [f"max_steps={args.steps}", "batch_size=4", "max_seq_len=256"]
    train_opts += [f"threads={args.threads}"] if args.threads else []
    print(f"data dir {home}; {args.steps} steps x batch 4 per method; baseline {args.shots}-shot")
    for set_name in args.sets.split(","):
        metric = METRIC[set_name]
        started = time.perf_counter()
        base_run = last_json(
            cli(
                "eval",
                "run",
                set_name,
                "--mode",
                "few",
                "--shots",
                str(args.shots),
                "--json",
                *threads,
            )
        )
        base_rows = store.rows(base_run["id"])
        base_score, base_ci = score(base_rows, metric)
        table = [
            (
                f"{args.shots}-shot (baseline)",
                base_score,
                base_ci,
                "-",
                base_run["prompt_tokens_per_query"],
                0,
                0.0,
                "prompt",
                "-",
            )
        ]
        for method in args.methods.split(","):
            name = f"{set_name}-{method}"
            opts = [
                x
                for o in train_opts + [f"learning_rate={LEARNING_RATE[method]}"]
                for x in ("--opt", o)
            ]
            t0 = time.perf_counter()
            cli("train", "--method", method, "--examples", set_name, "--out", name, *opts)
            seconds = time.perf_counter() - t0
            how, done = export(name, method, threads)
            parity = done["parity"]
            run = last_json(
                cli(
                    "eval",
                    "run",
                    set_name,
                    "--mode",
                    "adapter",
                    "--adapter",
                    name,
                    "--json",
                    *threads,
                )
            )
            rows = store.rows(run["id"])
            value, ci = score(rows, metric)
            pairs = {r["example_id"]: r for r in rows}
            shared = [r for r in base_rows if r["example_id"] in pairs]
            diff = paired_diff(
                metric,
                [float(r[metric] or 0) for r in shared],
                [float(pairs[r["example_id"]][metric] or 0) for r in shared],
                binary=metric != "chrf",
            )
            said = verdict("baseline", method, diff).split(":")[0]
            adapter_size = size_of(home / "adapters" / name)
            check = f"{'passed' if parity['passed'] else 'FAILED'} (KL {parity['kl_mean']:.1e})"
            table.append(
                (
                    method,
                    value,
                    ci,
                    said,
                    run["prompt_tokens_per_query"],
                    adapter_size,
                    seconds,
                    how,
                    check,
                )
            )
        print(f"\n## {set_name} ({metric}, {len(base_rows)} held-out rows)")
        header = [
            "setup",
            "score [95% CI]",
            "vs baseline",
            "prompt tok/query",
            "ratio",
            "adapter",
            "train s",
            "reaches chat as",
            "parity",
        ]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        base_tokens = base_run["prompt_tokens_per_query"]
        for setup, value, ci, said, tokens, size, seconds, how, check in table:
            interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
            kb = f"{size / 1024:.0f} KiB" if size else "-"
            print(
                f"| {setup} | {value:.2f}{interval} | {said} | {tokens:.0f} | "
                f"{tokens / base_tokens:.2f} | {kb} | {seconds:.0f} | {how} | {check} |"
            )
        print(f"({(time.perf_counter() - started) / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
