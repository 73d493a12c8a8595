"""The three-way comparison on the built-in sets, through the one-click loop (CPU by default).

For each set: ``tuiapp adapt`` (LoRA on the train split, converted, parity-checked), then the
held-out split scored zero-shot, k-shot and with the adapter on the same llama.cpp runtime.
Prints one table per set (score, prompt tokens and seconds per query, ratio against zero-shot
measured in the same run) and the training / conversion times.

Usage: .venv/bin/python bench/bench_adapt.py [--sets sentiment,extract-contact]
           [--steps 60] [--limit N] [--threads N] [--opt k=v ...]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="sentiment,extract-contact,formalize")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--selector", default="fixed")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--opt", action="append", default=[])
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tuiapp-bench-adapt-"))
    os.environ["TUIAPP_HOME"] = str(home)
    from tuiapp.adapt.job import AdaptJob, AdaptRequest
    from tuiapp.chat.models import ModelRegistry
    from tuiapp.library.seed import open_library
    from tuiapp.plugins.methods import parse_assignments

    db = open_library()
    base = ModelRegistry(db).ensure_default()
    options = {"max_steps": args.steps} | parse_assignments(tuple(args.opt))
    service = None
    print(
        f"base {base.name}, LoRA {options}, k-shot: {args.shots} {args.selector}, "
        f"held-out rows: {args.limit or 'all'}\n"
    )
    for set_name in args.sets.split(","):
        request = AdaptRequest(
            set_name,
            "lora",
            dict(options),
            str(base),
            args.shots,
            args.selector,
            args.limit,
            f"bench-{set_name}",
            True,
            args.threads,
        )
        job = AdaptJob(db, request, service)
        t0 = time.perf_counter()
        report = job.run(
            lambda e: (
                print(f"  [{e.fraction:4.0%}] {e.message}", file=sys.stderr)
                if e.detail.get("step", 0) % 10 == 0 and "done" not in e.detail
                else None
            )
        )
        service = job.service
        total = time.perf_counter() - t0
        train, convert = report["train"], report["convert"]
        parity = convert["parity"]
        print(
            f"## {set_name}: {train['steps']} steps on {train['rows']} rows in "
            f"{train['seconds']:.0f} s (eval loss {train['metrics'].get('eval_loss', '?')}); "
            f"convert + parity {convert['seconds']:.0f} s, parity "
            f"{'passed' if parity['passed'] else 'FAILED'} (KL {parity['kl_mean']:.2e}, "
            f"threshold {parity['threshold']:.2e}, top-1 {parity['top1_agreement']:.1%}); "
            f"whole loop {total:.0f} s\n"
        )
        rows = report["eval"]["table"]
        zero = rows[0]
        print(
            "| mode | label acc | exact | normalized | chrF | main vs zero-shot "
            "| prompt tok/query | s/query |"
        )
        print("|---|---|---|---|---|---|---|---|")
        metric = "label_acc" if zero["label_acc"] is not None else "chrf"
        for row in rows:
            score, base_score = row[metric], zero[metric]
            ratio = f"{metric} {score / base_score:.2f}×" if base_score else "n/a (zero-shot 0)"
            name = {
                "zero": "zero-shot",
                "few": f"{row['shots']}-shot {row['selector']}",
                "adapter": f"adapter ({row['selector']})",
            }[row["mode"]]
            acc = "-" if row["label_acc"] is None else f"{row['label_acc']:.3f}"
            print(
                f"| {name} | {acc} | {row['exact']:.3f} | {row['normalized']:.3f} "
                f"| {row['chrf']:.3f} | {ratio} | {row['tokens_per_query']} "
                f"| {row['s_per_query']} |"
            )
        print()
    if service is not None:
        service.engine.close()


if __name__ == "__main__":
    main()
