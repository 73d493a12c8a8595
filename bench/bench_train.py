"""Training benchmark: the app's runner against a plain transformers Trainer + PEFT script.

Both train the same LoRA (r=8, alpha=16, attention+mlp) on the same rows (a built-in example set
rendered by the app, completion-only labels), the same base (the embedded Gemma 3 270M,
dequantized), with the same batch size, sequence cap, steps, seed and environment, each in its
own process, alternating app/plain to share the machine's noise. Measured:

  * training tokens/s (non-padding tokens / training-loop seconds, first step excluded);
  * time from "train" to the first step's start with a cold base cache (the GGUF is dequantized
    and cached) and with a warm one (a second training on the same model).

CPU float32 without CUDA; CUDA bf16 with it. Prints a table.
Usage: .venv/bin/python bench/bench_train.py [--steps 12] [--repeats 2] [--sets sentiment,formalize]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = r"""
import json, sys, time, torch
from peft import LoraConfig, get_peft_model
from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                          TrainerCallback, TrainingArguments)

hf_dir, data_path, steps, batch, max_len = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
cuda = torch.cuda.is_available()
bf16 = cuda and torch.cuda.is_bf16_supported()
tok = AutoTokenizer.from_pretrained(hf_dir)
dtype = torch.bfloat16 if bf16 else torch.float32
model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=dtype)
model = get_peft_model(model, LoraConfig(
    task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.05,
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
rows = []
for line in open(data_path):
    row = json.loads(line)
    if row["split"] != "train":
        continue
    p = tok(row["prompt"])["input_ids"]
    c = tok(row["completion"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = (p + c)[:max_len]
    rows.append({"input_ids": ids, "attention_mask": [1] * len(ids),
                 "labels": ([-100] * len(p) + c)[:max_len]})

class Clock(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == 1:
            self.t1, self.tok1 = time.perf_counter(), state.num_input_tokens_seen
    def on_train_end(self, args, state, control, **kw):
        self.rate = (state.num_input_tokens_seen - self.tok1) / (time.perf_counter() - self.t1)

clock = Clock()
args = TrainingArguments(output_dir=sys.argv[6], max_steps=steps, per_device_train_batch_size=batch,
                         learning_rate=3e-4, logging_steps=1, save_strategy="no", report_to=[],
                         bf16=bf16, use_cpu=not cuda, seed=0, disable_tqdm=True,
                         remove_unused_columns=False, include_num_input_tokens_seen="non_padding")
trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=[clock],
                  data_collator=DataCollatorForSeq2Seq(tok, padding=True))
trainer.train()
print(json.dumps({"tokens_per_second": clock.rate}))
"""


def app_run(set_name: str, steps: int, batch: int, max_len: int) -> dict:
    """Train through the app's parent API; tokens/s from the step events (first excluded)."""
    from tuiapp.training import DataSource, TrainRequest, start_training

    begin = time.perf_counter()
    job = start_training(
        TrainRequest(
            "lora",
            DataSource.examples(set_name),
            options={
                "max_steps": str(steps),
                "batch_size": str(batch),
                "max_seq_len": str(max_len),
                "targets": "attention+mlp",
                "learning_rate": "3e-4",
                "save_every": str(steps + 1),
            },
        )
    )
    loop_at = None
    steps_seen: list[tuple[float, dict]] = []
    for event in job.events():
        if event["event"] == "started":
            loop_at = time.perf_counter() - begin
        if event["event"] == "step":
            steps_seen.append((time.perf_counter(), event))
        if event["event"] == "failed":
            raise SystemExit(f"app run failed: {event['error']}")
    return {"config": job.config, "to_loop": loop_at, "steps": steps_seen}


def app_rate(run: dict) -> float:
    """Non-padding tokens of steps 2..N over their wall time (event time stamps)."""
    (_, first), (_, last) = run["steps"][0], run["steps"][-1]
    return (last["tokens"] - first["tokens"]) / (last["time"] - first["time"])


def plain_run(hf_dir: Path, data_path: str, steps: int, batch: int, max_len: int) -> float:
    out = tempfile.mkdtemp(prefix="plain-")
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                PLAIN,
                str(hf_dir),
                data_path,
                str(steps),
                str(batch),
                str(max_len),
                out,
            ],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=1800,
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit(f"plain script failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["tokens_per_second"]


def child_env() -> dict[str, str]:
    # The environment the app gives its child, so both sides run under the same conditions.
    return os.environ | {
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--sets", default="sentiment,formalize")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ["TUIAPP_HOME"] = str(home)
    from tuiapp.chat.models import ModelRegistry
    from tuiapp.store import open_db

    ModelRegistry(open_db()).ensure_default()
    rows: list[tuple[str, str, str]] = []
    try:
        # 1. cold vs warm start: the first run dequantizes and caches the GGUF
        cold = app_run("sentiment", 2, args.batch, args.max_len)
        warm = app_run("sentiment", 2, args.batch, args.max_len)
        rows.append(("train -> training loop starts, cold cache (s)", f"{cold['to_loop']:.1f}", ""))
        rows.append(
            (
                "train -> training loop starts, warm cache (s)",
                f"{warm['to_loop']:.1f}",
                f"{cold['to_loop'] / warm['to_loop']:.1f}x faster",
            )
        )
        hf_dir = next(p for p in (home / "base-cache").iterdir() if not p.name.startswith("."))
        # 2. throughput, alternating app and plain runs
        for set_name in args.sets.split(","):
            app, plain = [], []
            for _ in range(args.repeats):
                run = app_run(set_name, args.steps, args.batch, args.max_len)
                app.append(app_rate(run))
                plain.append(
                    plain_run(hf_dir, run["config"].data_path, args.steps, args.batch, args.max_len)
                )
            a, p = statistics.median(app), statistics.median(plain)
            rows.append(
                (f"{set_name}: tokens/s app runner", f"{a:.0f}", " ".join(f"{x:.0f}" for x in app))
            )
            rows.append(
                (
                    f"{set_name}: tokens/s plain Trainer+PEFT",
                    f"{p:.0f}",
                    " ".join(f"{x:.0f}" for x in plain),
                )
            )
            rows.append((f"{set_name}: app / plain", f"{a / p:.2f}x", "goal >= 1.0x"))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    import torch

    device = "cuda bf16" if torch.cuda.is_available() else f"cpu fp32, {os.cpu_count()} cores"
    print(
        f"\nbench_train: LoRA r=8 attention+mlp, batch {args.batch}, max_seq_len "
        f"{args.max_len}, {args.steps} steps, {device}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>8}  detail")
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value:>8}  {detail}")


if __name__ == "__main__":
    main()
