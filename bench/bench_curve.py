"""The learning curve of each built-in set on the embedded model: few-shot against adapters.

For each set, ``CurveJob`` scores k = 0, 1, 2, 4, 8, 16 shots and LoRA adapters trained on
n = 8, 32 and all train rows, every point on the same held-out rows and llama.cpp runtime.
Prints one table per set (score with its 95% interval, prompt tokens and seconds per query,
the ratio of prompt tokens against the best few-shot point measured in the same run, training
seconds), the verdict and the advice, the wall time per set, and writes the charts
(``--charts DIR``: SET.png and SET.svg).

Meant for 2 CPU cores (the CI machine): ``taskset -c 0,1 .venv/bin/python bench/bench_curve.py
--threads 2 --charts docs/curves``; each set takes under 30 minutes there.

Usage: .venv/bin/python bench/bench_curve.py [--sets sentiment,extract-contact,formalize]
           [--ks 0,1,2,4,8,16] [--ns 8,32,1000] [--limit N] [--threads N] [--charts DIR]
           [--home DIR]   (a kept TUIAPP_HOME: a second call reuses every finished point)
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="sentiment,extract-contact,formalize")
    ap.add_argument("--ks", default="0,1,2,4,8,16")
    ap.add_argument("--ns", default="8,32,1000", help="sizes over the train rows mean all")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--charts", type=Path, default=None)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--opt", action="append", default=[])
    args = ap.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="tuiapp-bench-curve-"))
    os.environ["TUIAPP_HOME"] = str(home)
    from tuiapp.adapt import chart
    from tuiapp.adapt.curve import CurveJob, CurveRequest
    from tuiapp.chat.models import ModelRegistry
    from tuiapp.library.seed import open_library
    from tuiapp.plugins.methods import parse_assignments

    db = open_library()
    base = ModelRegistry(db).ensure_default()
    options = parse_assignments(tuple(args.opt))
    print(f"base {base.name}, LoRA {options or 'defaults'}, threads {args.threads or 'all'}")
    print(f"data dir {home}\n")
    service = None
    for set_name in args.sets.split(","):
        request = CurveRequest(
            set_name,
            ks=ints(args.ks),
            ns=ints(args.ns),
            options=dict(options),
            limit=args.limit,
            model=str(base),
            threads=args.threads,
        )
        job = CurveJob(db, request, service)
        started = time.perf_counter()
        curve = job.run(lambda e: print(f"  [{e.fraction:>4.0%}] {e.message}", flush=True))
        wall = time.perf_counter() - started
        service = job.service
        best = curve.best("few")
        base_tokens = (best.tokens_per_query if best else None) or 1.0
        print(f"\n## {set_name}: {curve.metric} on {curve.rows} held-out rows, {wall / 60:.1f} min")
        print(
            f"{'point':<14} {'score':>6} {'95% interval':>15} {'tok/query':>9} "
            f"{'x best-k':>8} {'s/query':>7} {'train s':>7}  status"
        )
        for p in curve.points:
            interval = f"[{p.ci[0]:.3f}, {p.ci[1]:.3f}]" if p.ci else ""
            score = f"{p.score:.3f}" if p.score is not None else ""
            tokens = p.tokens_per_query or 0.0
            ratio = f"{tokens / base_tokens:.2f}" if p.scored else ""
            print(
                f"{p.label:<14} {score:>6} {interval:>15} {tokens:>9.1f} {ratio:>8} "
                f"{p.s_per_query or 0:>7.2f} {p.train_seconds or 0:>7.1f}  {p.status}"
                + (f" ({p.error})" if p.error else "")
            )
        print(f"prompt processing: {curve.pp_tokens_per_s} tokens/s")
        print(curve.advice + "\n", flush=True)
        if args.charts:
            for suffix in (".png", ".svg"):
                print("wrote", chart.save(curve, args.charts / f"{set_name}{suffix}"))
    if service is not None:
        service.engine.close()


if __name__ == "__main__":
    main()
