"""The conversion child process: JSON-lines progress, a finished export with its parity report,
and one readable failure line for refused adapters."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.tiny_models import random_lora, tiny_gguf

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_gguf("llama", tmp_path_factory.mktemp("tiny"))


def child(*args):
    proc = subprocess.run(
        [sys.executable, "-m", "tuiapp.conversion", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def test_adapter_export_in_a_child_process(llama, tmp_path):
    model, base = llama
    random_lora(copy.deepcopy(model), ["q_proj", "k_proj", "down_proj"]).save_pretrained(
        tmp_path / "adapter"
    )
    (tmp_path / "prompts.json").write_text(json.dumps(["the cat sat on the mat"]))
    code, events, stderr = child(
        "gguf-lora",
        tmp_path / "adapter",
        base,
        tmp_path / "a.gguf",
        "--prompts",
        tmp_path / "prompts.json",
        "--threads",
        2,
        "--arch",
        "llama",
        "--opt",
        "outtype=f16",
    )
    assert code == 0, stderr
    assert [e["event"] for e in events][-1] == "finished"
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    export = events[-1]["export"]
    assert export["kind"] == "lora" and export["exporter"] == "gguf-lora"
    assert Path(export["path"]).is_file() and export["conversion"]["outtype"] == "f16"
    assert export["conversion"]["pairs"] == 6 and export["parity"]["passed"] is True
    assert export["parity"]["prompts"] == 1


def test_refused_adapter_fails_with_one_line(llama, tmp_path):
    model, base = llama
    random_lora(copy.deepcopy(model), ["q_proj"], use_dora=True).save_pretrained(tmp_path / "d")
    code, events, _ = child("gguf-lora", tmp_path / "d", base, tmp_path / "d.gguf", "--no-parity")
    assert code == 2 and events[-1]["event"] == "failed"
    assert events[-1]["kind"] == "NotConvertible" and "DoRA" in events[-1]["error"]
    assert not (tmp_path / "d.gguf").exists()
    code, events, _ = child("gguf-lora", tmp_path / "d", base, tmp_path / "x.gguf", "--opt", "q=1")
    assert code == 2 and "Unknown exporter 'gguf-lora' option" in events[-1]["error"]
    code, events, _ = child("telepathy", tmp_path / "d", base, tmp_path / "x.gguf")
    assert code == 2 and "Unknown exporter 'telepathy'" in events[-1]["error"]


def test_soft_prompt_export_in_a_child_process(llama, tmp_path):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    model, base = llama
    config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3)
    get_peft_model(copy.deepcopy(model), config).save_pretrained(tmp_path / "pt")
    code, events, stderr = child("soft-prompt", tmp_path / "pt", base, tmp_path / "pt.gguf")
    assert code == 0, stderr
    export = events[-1]["export"]
    assert export["kind"] == "soft_prompt" and export["conversion"]["n_tokens"] == 3
    assert export["parity"]["target"] == "soft prompt" and export["parity"]["passed"]


def test_importing_the_package_stays_light():
    code = (
        "import sys, tuiapp.conversion, tuiapp.conversion.pipeline; "
        "print([m for m in ('numpy', 'torch', 'gguf', 'llama_cpp', 'transformers', 'peft') "
        "if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "[]", proc.stderr
