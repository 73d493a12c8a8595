"""Conversion benchmark on the embedded model (Gemma 3 270M, Q4_K_M).

Prints a table:
  * PEFT -> GGUF adapter conversion time for an r=16 LoRA on every attention and MLP linear
    layer (126 pairs), f32 and f16;
  * merge export time (dequantize + merge + write + llama_model_quantize) to Q4_K_M and Q8_0;
  * adapter switch time in the engine (adapter loaded once; set_adapters + KV reset) against
    reloading the model, the alternative without hot-swap (goal: switch >= 5x faster);
  * with --parity: the parity check (transformers + PEFT vs llama.cpp + adapter).

The adapter is written directly (random A/B in PEFT's file layout), so no transformers model is
needed unless --parity is given.

Usage: .venv/bin/python bench/bench_convert.py [--reps 5] [--threads N] [--parity]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PROMPT = "Summarise in one sentence why the sky looks blue during the day and red at sunset."


def timed(fn, reps: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--parity", action="store_true")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tuiapp-bench-"))
    os.environ["TUIAPP_HOME"] = str(home)
    from tuiapp.chat.engine.engine import Engine
    from tuiapp.chat.engine.loader import load_llama, physical_cores
    from tuiapp.chat.engine.sampling import SamplingParams
    from tuiapp.chat.models import ModelRegistry
    from tuiapp.conversion import check_parity, convert_lora, merge_export
    from tuiapp.conversion.synthetic import write_peft_lora
    from tuiapp.store import open_db

    base = ModelRegistry(open_db()).ensure_default()
    threads = args.threads or physical_cores()
    work = home / "bench"
    adapter_dir = write_peft_lora(base, work / "adapter")
    rows: list[tuple[str, float, str]] = []

    # -- conversion ------------------------------------------------------------------------
    t_f32, result = timed(lambda: convert_lora(adapter_dir, base, work / "a32.gguf"), args.reps)
    rows.append(
        (
            f"convert r=16 LoRA, {result.pairs} pairs -> GGUF f32",
            t_f32,
            f"{result.size / 1e6:.1f} MB",
        )
    )
    t_f16, result = timed(
        lambda: convert_lora(adapter_dir, base, work / "a16.gguf", "f16"), args.reps
    )
    rows.append(("convert -> GGUF f16", t_f16, f"{result.size / 1e6:.1f} MB"))
    for quant in ("Q4_K_M", "Q8_0"):
        t, merged = timed(
            lambda q=quant: merge_export(
                adapter_dir, base, work / f"m-{q}.gguf", q, n_threads=threads
            )
        )
        rows.append(
            (
                f"merge export -> {quant}",
                t,
                f"{merged.size / 1e6:.0f} MB, quantize {merged.quantize_seconds:.1f} s",
            )
        )

    # -- switching vs reloading --------------------------------------------------------------
    adapter = str(work / "a32.gguf")
    engine = Engine(n_ctx=2048, n_threads=threads)
    t_load, _ = timed(lambda: engine.load(base).result(), 3)
    t_first, _ = timed(lambda: engine.set_adapters({adapter: 1.0}).result())  # loads the file
    switches = []
    for i in range(args.reps * 4):
        mix = {} if i % 2 == 0 else {adapter: 1.0}
        switches.append(timed(lambda m=mix: engine.set_adapters(m).result())[0])
    t_switch = statistics.median(switches)
    # what a user waits for: the first token of a reply right after switching vs reloading
    one = SamplingParams(temperature=0.0, max_tokens=1)
    after_switch = [
        timed(lambda m=mix: engine.complete(PROMPT, one, adapters=m).text())[0]
        for mix in ({}, {adapter: 1.0}) * args.reps
    ]
    after_reload = [
        timed(lambda: (engine.load(base).result(), engine.complete(PROMPT, one).text()))[0]
        for _ in range(args.reps)
    ]
    engine.close()
    # the only way without hot-swap in llama-cpp-python: a new Llama with lora_path (no mmap)
    t_lora_path, _ = timed(
        lambda: load_llama(str(base), n_ctx=2048, n_threads=threads, lora_path=adapter)
    )
    rows.append(("reload the model (engine.load, warm page cache)", t_load, "baseline"))
    rows.append(("reload with the adapter: Llama(lora_path=...)", t_lora_path, ""))
    rows.append(
        (
            "first attach of the adapter (file load)",
            t_first,
            f"{t_load / t_first:.1f}x faster than reload",
        )
    )
    rows.append(
        (
            "switch adapter on/off (set_adapters + KV reset)",
            t_switch,
            f"{t_load / t_switch:.0f}x faster than reload (goal >= 5x)",
        )
    )

    ttft_switch, ttft_reload = statistics.median(after_switch), statistics.median(after_reload)
    rows.append(("reload + first token of a reply", ttft_reload, "baseline"))
    rows.append(
        (
            "switch + first token of a reply",
            ttft_switch,
            f"{ttft_reload / ttft_switch:.1f}x faster than reload",
        )
    )

    if args.parity:
        t, report = timed(lambda: check_parity(base, adapter_dir, adapter, n_threads=threads))
        rows.append(
            (
                "parity check (load HF base + 4 prompts)",
                t,
                f"KL {report.kl_mean:.4f} (noise {report.noise_kl_mean:.4f}), "
                f"corr {report.delta_correlation:.3f}, passed={report.passed}",
            )
        )

    print(f"\nConversion benchmark: {Path(base).name}, {threads} threads\n")
    print(f"{'measure':<52} {'seconds':>9}  notes")
    print("-" * 100)
    for name, seconds, note in rows:
        print(f"{name:<52} {seconds:>9.4f}  {note}")


if __name__ == "__main__":
    main()
