"""Every method back to the chat, on the embedded Gemma 3 270M, through the CLI as a person runs
it: train a few steps, export with the method's own exporter (parity checked), then chat with the
result and evaluate it. LoRA's loop is covered by test_adapt.py; QLoRA refuses on a CPU.

The built-in prompt tuning goes in as a soft prompt, Adapter Tuning as a GGUF LoRA adapter,
steering vectors as a control vector, DoRA and IA3 as merged models, and a third party's method
(``low_rank`` in the example plugin: its own modules and its own exporter) as a GGUF LoRA
adapter, using the public API only.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import assert_one_line_error

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).parent / "fixtures_plugin"
FAST = ["--opt", "max_seq_len=64", "--opt", "batch_size=2", "--opt", "warmup_ratio=0"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuiapp", *args],
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
        timeout=600,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def train(name: str, method: str, *opts: str, env: dict[str, str] | None = None) -> None:
    ok(
        cli(
            "train",
            "--method",
            method,
            "--examples",
            "sentiment",
            "--out",
            name,
            *FAST,
            *opts,
            env=env,
        )
    )


def exported(name: str, kind: str, *opts: str, env: dict[str, str] | None = None) -> dict:
    """The stored export: the last event of ``adapters convert|merge --json`` (pretty-printed,
    after one progress line per stage)."""
    lines = ok(cli("adapters", kind, name, *opts, "--json", env=env)).splitlines()
    last = "\n".join(line for line in lines if not line.startswith('{"event": "progress"'))
    return json.loads(last)["export"]


def reply(*args: str, env: dict[str, str] | None = None) -> dict:
    """A greedy raw completion, as ``chat --json`` reports it: the model ran to a normal end and
    the reply was stored (a base model may end it at once, so the text itself may be empty)."""
    greedy = [
        "--raw",
        "--temperature",
        "0",
        "--max-tokens",
        "8",
        "--json",
        "Once upon a time, in a",
    ]
    done = json.loads(ok(cli("chat", *args, *greedy, env=env)))
    assert done["message_id"] and done["finish_reason"] in ("stop", "length"), done
    return done


def evaluated(name: str, env: dict[str, str] | None = None) -> dict:
    out = ok(
        cli(
            "eval",
            "run",
            "sentiment",
            "--mode",
            "adapter",
            "--adapter",
            name,
            "--limit",
            "4",
            "--json",
            env=env,
        )
    )
    return json.loads(out)


@pytest.fixture
def home(train_home: Path) -> Path:
    return train_home


def test_prompt_tuning_chats_and_evaluates_as_a_soft_prompt_in_llama_cpp(home):
    train("pt", "prompt_tuning", "--opt", "max_steps=3", "--opt", "num_virtual_tokens=8")
    export = exported("pt", "convert")
    assert export["kind"] == "soft_prompt" and export["exporter"] == "soft-prompt"
    assert export["conversion"]["n_tokens"] == 8 and export["conversion"]["n_embd"] == 640
    parity = export["parity"]
    assert parity["passed"] and parity["target"] == "soft prompt", parity
    assert parity["effect_kl_mean"] > 0  # the virtual tokens do change the predictions
    reply = ok(
        cli("chat", "-a", "pt", "--raw", "--seed", "1", "--max-tokens", "8", "Review: Great!")
    )
    assert reply.strip()
    run = evaluated("pt")
    assert run["mode"] == "adapter" and run["adapter"] == "pt" and run["n_rows"] == 4
    # it cannot be merged, and the refusal names the path that works
    assert_one_line_error(cli("adapters", "merge", "pt"), "convert")


def test_a_third_party_method_with_its_own_exporter_makes_the_whole_loop(home):
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES / "good"), env.get("PYTHONPATH", "")])
    train("own", "low_rank", "--opt", "max_steps=4", "--opt", "learning_rate=3e-2", env=env)
    files = sorted(p.name for p in (home / "adapters" / "own").iterdir())
    assert files == ["low_rank.json", "low_rank.safetensors", "tuiapp-adapter.json"]
    export = exported("own", "convert", env=env)
    assert export["exporter"] == "example-lora" and export["kind"] == "lora"
    parity = export["parity"]
    assert parity["passed"] and parity["delta_correlation"] > 0.9, parity
    assert reply("-a", "own", env=env)
    assert evaluated("own", env=env)["adapter"] == "own"


@pytest.mark.parametrize(
    ("method", "kind", "opts"),
    [
        # a learning rate that moves the logits well above the base's noise in 3 steps, so the
        # parity check's correlation criterion applies and is met
        ("adapter_tuning", "lora", ["--opt", "width=8", "--opt", "learning_rate=1e-2"]),
        ("steering", "control_vector", []),
    ],
)
def test_methods_with_their_own_modules_hot_swap_natively(home, method, kind, opts):
    train(method, method, "--opt", "max_steps=3", *opts)
    export = exported(method, "convert")
    assert export["kind"] == kind and export["parity"]["passed"], export["parity"]
    if kind == "control_vector":  # 17 layers of 640 floats: a few kB
        assert export["conversion"]["layers"] == 17 and export["conversion"]["size"] < 60_000
    assert reply("-a", f"{method}:0.5" if kind == "control_vector" else method)
    assert evaluated(method)["adapter"] == method


@pytest.mark.parametrize("method", ["dora", "ia3"])
def test_merge_only_methods_chat_as_merged_models(home, method):
    train(method, method, "--opt", "max_steps=2", "--opt", "learning_rate=5e-3")
    refused = cli("chat", "-a", method, "hello")
    assert_one_line_error(refused, "cannot be hot-swapped", f"tuiapp adapters merge {method}")
    export = exported(method, "merge", "--quant", "F16")  # F16: no rounding of a small update
    assert export["kind"] == "model" and export["conversion"]["quant"] == "F16"
    assert export["parity"]["passed"], export["parity"]
    assert export["parity"]["kl_mean"] < 0.3 * export["parity"]["effect_kl_mean"]
    assert reply("-m", export["path"])
    # asked for alone, the adapter runs as its merged model, in chat and in the evaluation
    assert reply("-a", method)
    run = evaluated(method)
    assert run["adapter"] == method and Path(run["model"]).stem in export["path"]


def test_qlora_on_a_cpu_names_the_methods_that_work(home):
    assert_one_line_error(
        cli("train", "--method", "qlora", "--examples", "sentiment"), "needs a CUDA GPU", "lora"
    )
