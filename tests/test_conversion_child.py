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
        "adapter",
        tmp_path / "adapter",
        base,
        tmp_path / "a.gguf",
        "--prompts",
        tmp_path / "prompts.json",
        "--threads",
        2,
        "--arch",
        "llama",
    )
    assert code == 0, stderr
    assert [e["event"] for e in events][-1] == "finished"
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    export = events[-1]["export"]
    assert export["kind"] == "adapter" and Path(export["path"]).is_file()
    assert export["conversion"]["pairs"] == 6 and export["parity"]["passed"] is True
    assert export["parity"]["prompts"] == 1


def test_refused_adapter_fails_with_one_line(llama, tmp_path):
    model, base = llama
    random_lora(copy.deepcopy(model), ["q_proj"], use_dora=True).save_pretrained(tmp_path / "d")
    code, events, _ = child("adapter", tmp_path / "d", base, tmp_path / "d.gguf", "--no-parity")
    assert code == 2 and events[-1]["event"] == "failed"
    assert events[-1]["kind"] == "NotConvertible" and "DoRA" in events[-1]["error"]
    assert not (tmp_path / "d.gguf").exists()


def test_importing_the_package_stays_light():
    code = (
        "import sys, tuiapp.conversion, tuiapp.conversion.pipeline; "
        "print([m for m in ('numpy', 'torch', 'gguf', 'llama_cpp', 'transformers', 'peft') "
        "if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "[]", proc.stderr
