"""What an adapter's record says about its exports: how it reaches llama.cpp and whether each
export passed its parity check (the GGUF adapter and merged models alike)."""

import json
from pathlib import Path

from tests.helpers.adapter_records import register_adapter
from tests.helpers.cli import tuiapp
from tuiapp.library.seed import open_library
from tuiapp.training.store import Adapter, AdapterStore

MODEL = "gemma-3-270m-q4_k_m.gguf"


def adapter(tmp_path: Path, exports: dict, *, method: str = "ia3") -> Adapter:
    return Adapter("a", 1, method, "base.gguf", "0" * 64, "gemma3", str(tmp_path), exports=exports)


def export(tmp_path: Path, name: str, parity: dict | None) -> dict:
    path = tmp_path / name
    path.write_bytes(b"GGUF")
    return {"path": str(path), "parity": parity}


def test_how_an_adapter_reaches_llama_cpp_follows_its_methods_exporters(tmp_path):
    states = {m: adapter(tmp_path, {}, method=m).export_state for m in ("lora", "prompt_tuning")}
    assert states == {"lora": "convert", "prompt_tuning": "convert"}
    gone = adapter(tmp_path, {}, method="uninstalled")
    assert gone.export_state == "peft" and "not installed" in gone.reach.hint("a")


def test_a_merged_only_adapter_shows_its_merge_and_its_parity(tmp_path):
    fresh = adapter(tmp_path, {})
    assert (fresh.export_state, fresh.parity_state) == ("merge", "")
    merged = adapter(tmp_path, {"merged-Q4_K_M": export(tmp_path, "m.gguf", {"passed": True})})
    assert (merged.export_state, merged.parity_state) == ("merged", "passed")
    assert merged.merged == [str(tmp_path / "m.gguf")] and merged.gguf is None
    failed = adapter(tmp_path, {"merged-Q8_0": export(tmp_path, "q8.gguf", {"passed": False})})
    assert failed.parity_state == "FAILED"


def test_exports_that_disagree_are_each_named(tmp_path):
    both = adapter(
        tmp_path,
        {
            "adapter": export(tmp_path, "a.gguf", {"passed": True}),
            "merged-Q8_0": export(tmp_path, "q8.gguf", None),
        },
        method="lora",
    )
    assert both.export_state == "gguf"
    assert both.parity_state == "adapter passed, merged-Q8_0 unchecked"
    (tmp_path / "a.gguf").unlink()  # a deleted file no longer counts as a way in
    assert both.export_state == "merged"


def test_adapters_list_shows_a_merged_exports_parity(home_with_model: Path):
    db = open_library()
    register_adapter(db, home_with_model / "models" / MODEL, "ia3-like", convert=False)
    store = AdapterStore(db)
    db.table("adapters").update("ia3-like", {"method": "ia3"})
    merged = home_with_model / "adapters" / "ia3-like" / "exports" / "ia3-like-Q4_K_M.gguf"
    merged.parent.mkdir(parents=True, exist_ok=True)
    merged.write_bytes(b"GGUF")
    store.record_export(
        "ia3-like",
        "merged-Q4_K_M",
        {"kind": "merge", "path": str(merged), "parity": {"passed": True}},
    )
    result = tuiapp("adapters", "list")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    cells = dict(zip(header.split(), row.split(), strict=False))
    assert cells["EXPORT"] == "merged" and cells["PARITY"] == "passed", result.stdout
    listed = json.loads(tuiapp("adapters", "list", "--json").stdout)
    assert listed[0]["exports"]["merged-Q4_K_M"]["parity"] == {"passed": True}
