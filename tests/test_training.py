"""Training on the embedded Gemma 3 270M GGUF, on the CPU, for a few steps.

The dequantized base is cached once for the whole session (``shared_base_cache`` in conftest:
the first run builds it, as a user's first training does, unless ``embedded_base_cache`` already
has); each test gets its own data dir and database.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuiapp.chat.models import ModelRegistry
from tuiapp.store import open_db
from tuiapp.training import DataSource, TrainRequest, resume_training, start_training
from tuiapp.training.store import AdapterStore

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).parent / "fixtures_plugin"
NAMES = [
    "Ada",
    "Bo",
    "Cy",
    "Di",
    "Ed",
    "Flo",
    "Gus",
    "Hal",
    "Ivy",
    "Jo",
    "Kai",
    "Lu",
    "Mo",
    "Ned",
    "Oz",
    "Pia",
    "Quin",
    "Rae",
    "Sol",
    "Tess",
]
FAST = {"batch_size": "4", "max_seq_len": "48", "learning_rate": "2e-3", "warmup_ratio": "0"}


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "fruit.jsonl"
    rows = [
        {"instruction": f"Which fruit does {name} like best?", "output": "Mango."} for name in NAMES
    ]
    rows[-2]["split"] = rows[-1]["split"] = "heldout"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def train_only_file(tmp_path: Path) -> Path:
    """No held-out rows (and val_fraction=0 below): no evaluation, a faster run."""
    path = tmp_path / "fruit-train.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prompt": f"{name} likes", "completion": " mangoes."}) + "\n"
            for name in NAMES[:8]
        )
    )
    return path


def run_to_end(job, on_event=None) -> list[dict]:
    events = []
    for event in job.events():
        events.append(event)
        if on_event is not None:
            on_event(event)
    return events


def test_lora_lowers_the_loss_and_registers_one_adapter(train_home, data_file):
    job = start_training(
        TrainRequest(
            "lora", DataSource.file(data_file), out_name="fruit", options=FAST | {"max_steps": "5"}
        )
    )
    events = run_to_end(job)
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "finished", events[-1]
    assert kinds.index("started") < kinds.index("step") < kinds.index("eval")
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5]
    assert steps[-1]["eta_seconds"] == 0 and all(e["tokens_per_second"] > 0 for e in steps)
    first, last = steps[0]["loss"], steps[-1]["loss"]
    assert last < 0.6 * first, [e["loss"] for e in steps]

    store = AdapterStore(open_db())
    run = store.get_run(job.run_id)
    adapter = store.get_adapter("fruit")
    sha = ModelRegistry(open_db()).info("default").sha256
    assert run.status == "done" and run.adapter == "fruit" and run.step == 5
    assert adapter.method == "lora" and adapter.base_sha256 == sha
    assert adapter.dataset_hash == run.dataset_hash and adapter.export_state == "convert"
    assert adapter.metrics["eval_loss"] > 0 and adapter.metrics["n_val"] == 2
    files = {p.name for p in Path(adapter.path).iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tuiapp-adapter.json"} <= files
    assert "training_args.bin" not in files
    assert json.loads((Path(adapter.path) / "adapter_config.json").read_text())["r"] == 8
    assert [p.name for p in (train_home / "adapters").iterdir()] == ["fruit"]  # nothing partial
    assert not Path(run.run_dir, "checkpoints").exists()
    assert (train_home / "base-cache" / sha / "tuiapp-base.json").is_file()


def test_training_tokenizes_prompts_exactly_as_llama_cpp_does(
    embedded_base_cache, embedded_model_path
):
    """Train/infer parity: the cached tokenizer gives the ids the chat engine feeds llama.cpp."""
    from llama_cpp import Llama

    from tuiapp.training.cache import MARKER, load_tokenizer

    assert (embedded_base_cache / MARKER).is_file()
    tokenizer = load_tokenizer(embedded_base_cache)
    llm = Llama(str(embedded_model_path), vocab_only=True, verbose=False)
    texts = [
        "The following is a conversation.\n\nUser: Héllo, wörld 😀?\nAssistant:",
        "Review: Loved it!!\nSentiment:",
        "<start_of_turn>user\nhi<end_of_turn>\n",
        "  x\t",
    ]
    for text in texts:
        assert tokenizer(text)["input_ids"] == llm.tokenize(
            text.encode(), add_bos=True, special=True
        )


def test_cancel_writes_a_checkpoint_and_resume_finishes(train_home, train_only_file):
    options = FAST | {"max_steps": "4", "batch_size": "2", "val_fraction": "0"}
    job = start_training(
        TrainRequest("lora", DataSource.file(train_only_file), out_name="resumed", options=options)
    )
    events = run_to_end(job, lambda e: job.cancel() if e["event"] == "step" else None)
    end = events[-1]
    assert end["event"] == "cancelled", end
    assert 1 <= end["step"] < 4 and Path(end["checkpoint"]).is_dir()
    store = AdapterStore(open_db())
    assert store.get_run(job.run_id).status == "cancelled"
    assert store.list_adapters() == []
    assert not any((train_home / "adapters").glob("*"))  # not even a partial directory

    resumed = run_to_end(resume_training(job.run_id))
    started = next(e for e in resumed if e["event"] == "started")
    assert started["resumed_from"] == end["step"]
    assert [e["step"] for e in resumed if e["event"] == "step"] == list(range(end["step"] + 1, 5))
    assert resumed[-1]["event"] == "finished", resumed[-1]
    run = store.get_run(job.run_id)
    assert run.status == "done" and store.get_adapter("resumed").run_id == job.run_id


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuiapp", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def plugin_env(train_home) -> dict[str, str]:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES / "good"), env.get("PYTHONPATH", "")])
    return env


def test_a_third_party_plugin_trains_through_the_cli(plugin_env, train_only_file):
    result = cli(
        "train",
        "--method",
        "tiny_lora",
        "--data",
        str(train_only_file),
        "--json",
        "--opt",
        "max_steps=2",
        "--opt",
        "rank=4",
        "--opt",
        "val_fraction=0",
        env=plugin_env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["event"] == "finished"
    listed = json.loads(cli("adapters", "list", "--json", env=plugin_env).stdout)
    assert [(a["method"], a["options"]) for a in listed] == [("tiny_lora", {"rank": 4})]
    config = json.loads((Path(listed[0]["path"]) / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"]


def test_a_failure_in_the_child_is_one_event_and_one_line(plugin_env, train_only_file):
    result = cli(
        "train",
        "--method",
        "fails_to_load",
        "--data",
        str(train_only_file),
        "--json",
        env=plugin_env,
    )
    assert result.returncode == 1
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["event"] == "failed"
    assert last["error"] == "RuntimeError: this method's base-model hook always fails"
    assert Path(last["log"]).is_file() and "Traceback" in Path(last["log"]).read_text()
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    runs = json.loads(cli("runs", "list", "--json", env=plugin_env).stdout)
    assert [(r["status"], r["adapter"]) for r in runs] == [("failed", None)]


def test_completion_only_logits_give_the_models_own_loss(tmp_path):
    """The fast loss (logits only where a completion token is predicted) equals the stock
    causal-LM loss, with and without the accumulated-batch token count."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from tuiapp.training.batches import Collator
    from tuiapp.training.config import TRAINING_OPTIONS
    from tuiapp.training.trainer import CompletionTrainer, training_arguments

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=96,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=8,
        max_position_embeddings=64,
    )
    model = get_peft_model(
        Gemma3ForCausalLM(config),
        LoraConfig(
            task_type="CAUSAL_LM", r=2, target_modules=["q_proj", "v_proj"], lora_dropout=0.0
        ),
    )
    options = {o.name: o.default for o in TRAINING_OPTIONS}
    trainer = CompletionTrainer(
        model=model,
        args=training_arguments(options, str(tmp_path), cuda=False, bf16=False, has_eval=False),
    )
    assert trainer.fast_loss
    batch = Collator(pad_id=0)(
        [
            {"input_ids": [2, 5, 6, 7, 8, 9], "labels": [-100, -100, -100, -100, 8, 9]},
            {"input_ids": [2, 11, 12, 13], "labels": [-100, -100, 12, 13]},
        ]
    )
    model.eval()
    with torch.no_grad():
        fast = trainer.compute_loss(model, dict(batch))
        fast_n = trainer.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(8))
        trainer.fast_loss = False
        stock = trainer.compute_loss(model, dict(batch))
    assert torch.allclose(fast, stock, atol=1e-5)
    assert torch.allclose(fast_n, stock * 4 / 8, atol=1e-5)  # 4 targets, normalised over 8
