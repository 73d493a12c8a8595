"""The model registry and GGUF header reading, on tiny GGUF files built here."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import gguf
import numpy as np
import pytest

from tuiapp.chat.models import ModelRegistry, read_gguf_info, sha256_file
from tuiapp.chat.models import registry as registry_module
from tuiapp.errors import BadInput, ModelFileError, NotFound
from tuiapp.store import open_db

TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
TOKENS = ["<unk>", "<s>", "</s>", "hello", "world"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TUIAPP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-empty"))
    monkeypatch.delenv("HF_HOME", raising=False)


def make_gguf(
    path: Path,
    *,
    template: str | None = TEMPLATE,
    file_type: int | None = None,
    kind: str | None = None,
    name: str | None = "Tiny Llama",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    if name:
        writer.add_name(name)
    if kind:
        writer.add_type(kind)
    writer.add_context_length(256)
    writer.add_block_count(1)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(TOKENS)
    writer.add_token_scores([0.0] * len(TOKENS))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", np.arange(40, dtype=np.float32).reshape(5, 8))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    return make_gguf(tmp_path / "models" / "tiny-llama.gguf")


@pytest.fixture
def registry():
    return ModelRegistry(open_db())


# -- reading headers --------------------------------------------------------------------------


def test_reads_metadata(tiny):
    info = read_gguf_info(tiny)
    assert info.architecture == "llama"
    assert info.name == "Tiny Llama"
    assert info.context_length == 256
    assert info.parameters == 5 * 8 + 8
    assert info.size_label == "48"
    assert info.quantization == "F32"  # no general.file_type: the tensors say
    assert (info.bos_token, info.eos_token) == ("<s>", "</s>")
    assert info.file_size == tiny.stat().st_size
    assert info.kind == "model"
    assert info.sha256 is None


def test_chat_template_detection(tmp_path, tiny):
    info = read_gguf_info(tiny)
    assert info.has_chat_template and info.chat_template == TEMPLATE
    bare = read_gguf_info(make_gguf(tmp_path / "base.gguf", template=None, name=None))
    assert not bare.has_chat_template and bare.chat_template is None
    assert bare.name == "base"  # no general.name: the file stem


def test_quantization_from_file_type(tmp_path):
    path = make_gguf(tmp_path / "q.gguf", file_type=gguf.LlamaFileType.MOSTLY_Q4_K_M)
    assert read_gguf_info(path).quantization == "Q4_K_M"


def test_info_roundtrips_through_dict(tiny):
    info = read_gguf_info(tiny)
    assert type(info).from_dict(info.to_dict() | {"unknown_key": 1}) == info


def test_missing_file(tmp_path):
    path = tmp_path / "nope.gguf"
    with pytest.raises(ModelFileError, match="no such file") as err:
        read_gguf_info(path)
    assert str(err.value) == f"{path}: no such file"


def test_not_a_gguf(tmp_path):
    path = tmp_path / "random.gguf"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ModelFileError) as err:
        read_gguf_info(path)
    assert str(err.value).startswith(f"{path}: not a GGUF file (")


def test_directory_and_tiny_file(tmp_path):
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        read_gguf_info(tmp_path)
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        read_gguf_info(tmp_path / "empty.gguf")


def test_truncated_tensor_data(tiny):
    data = tiny.read_bytes()
    tiny.write_bytes(data[:-10])
    with pytest.raises(ModelFileError) as err:
        read_gguf_info(tiny)
    expected = f"{tiny}: truncated GGUF (expected {len(data)} bytes, found {len(data) - 10})"
    assert str(err.value) == expected


def test_truncated_header(tiny):
    tiny.write_bytes(tiny.read_bytes()[:60])  # cut inside the metadata
    with pytest.raises(ModelFileError, match=r"truncated GGUF \(expected \d+ bytes, found 60\)"):
        read_gguf_info(tiny)


def test_sha256_file_reports_progress(tiny):
    seen = []
    digest = sha256_file(tiny, progress=lambda done, total: seen.append((done, total)))
    assert digest == hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert seen[-1] == (tiny.stat().st_size, tiny.stat().st_size)


# -- the registry -----------------------------------------------------------------------------


def count_hashes(monkeypatch) -> list[Path]:
    calls: list[Path] = []

    def counting(path, progress=None):
        calls.append(Path(path))
        return sha256_file(path, progress)

    monkeypatch.setattr(registry_module, "sha256_file", counting)
    return calls


def test_info_hashes_once_per_file_identity(registry, tiny, monkeypatch):
    calls = count_hashes(monkeypatch)
    first = registry.info(tiny)
    assert first.sha256 == hashlib.sha256(tiny.read_bytes()).hexdigest()
    second = ModelRegistry(open_db()).info(str(tiny))  # a new process would see the same cache
    assert second == first
    assert len(calls) == 1
    # A changed file is a new identity: hashed again.
    make_gguf(tiny, template=None)
    os.utime(tiny, ns=(1, 1))
    third = registry.info(tiny)
    assert len(calls) == 2 and not third.has_chat_template and third.sha256 != first.sha256


def test_add_list_resolve(registry, tiny):
    entry = registry.add(tiny)
    assert (entry.name, entry.source, entry.exists) == ("tiny-llama", "added", True)
    assert entry.to_dict()["path"] == str(tiny)
    assert registry.add(tiny) == entry  # same file again: the existing entry
    again = registry.add(tiny.parent / ".." / "models" / "tiny-llama.gguf")
    assert again.name == "tiny-llama"

    other = make_gguf(tiny.parent / "sub" / "tiny-llama.gguf")
    assert registry.add(other).name == "tiny-llama-2"  # stems are made unique
    with pytest.raises(BadInput, match="already exists"):
        registry.add(make_gguf(tiny.parent / "x.gguf"), name="tiny-llama")

    listed = registry.list()
    assert [(e.name, e.source) for e in listed] == [
        ("gemma-3-270m", "embedded"),
        ("tiny-llama", "added"),
        ("tiny-llama-2", "added"),
    ]
    assert listed[0].exists is False  # not unpacked yet in this data dir
    assert registry.resolve("tiny-llama") == tiny
    assert registry.resolve(str(other)) == other.resolve()
    assert registry.info("tiny-llama").architecture == "llama"


def test_add_refuses_bad_files(registry, tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all, just text")
    with pytest.raises(ModelFileError, match="junk.gguf: not a GGUF file"):
        registry.add(junk)
    adapter = make_gguf(tmp_path / "lora.gguf", kind="adapter")
    with pytest.raises(ModelFileError, match="adapter, not a model"):
        registry.add(adapter)
    assert [e.source for e in registry.list()] == ["embedded"]


def test_unknown_model(registry, tmp_path):
    with pytest.raises(NotFound) as err:
        registry.resolve("x")
    assert str(err.value) == (
        "Unknown model 'x': not a registry name or a file. See `tuiapp models list`."
    )
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 64)
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        registry.resolve(str(junk))


def test_remove(registry, tiny):
    registry.add(tiny)
    registry.remove("tiny-llama")
    assert [e.name for e in registry.list()] == ["gemma-3-270m"]
    assert tiny.exists()  # the file itself stays
    with pytest.raises(NotFound):
        registry.remove("tiny-llama")
    with pytest.raises(BadInput, match="embedded"):
        registry.remove("gemma-3-270m")


def test_missing_added_file_is_reported(registry, tiny):
    registry.add(tiny)
    tiny.unlink()
    assert registry.list()[1].exists is False
    with pytest.raises(ModelFileError, match="no longer exists"):
        registry.resolve("tiny-llama")


def fake_hf_cache(root: Path) -> Path:
    """Lay out files the way huggingface_hub does: snapshot links into blobs."""
    repo = root / "models--acme--tiny-GGUF"
    blob = make_gguf(repo / "blobs" / "abc123")
    snapshot = repo / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (snapshot / "tiny-Q8_0.gguf").symlink_to(Path("../../blobs/abc123"))
    (snapshot / "mmproj-tiny-f16.gguf").symlink_to(Path("../../blobs/abc123"))
    (snapshot / "README.md").write_text("hi")
    (root / "datasets--acme--data" / "snapshots" / "r").mkdir(parents=True)
    return blob


def test_discover_hf_cache(registry, tmp_path, monkeypatch):
    root = tmp_path / "hf" / "hub"
    blob = fake_hf_cache(root)
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    found = registry.discover()
    assert found == [root / "models--acme--tiny-GGUF/snapshots/0123456789abcdef/tiny-Q8_0.gguf"]

    entries = [e for e in registry.list() if e.source == "discovered"]
    assert [(e.name, e.exists) for e in entries] == [("hf:acme/tiny-GGUF/tiny-Q8_0", True)]
    assert registry.resolve("hf:acme/tiny-GGUF/tiny-Q8_0") == found[0]
    assert registry.info("hf:acme/tiny-GGUF/tiny-Q8_0").name == "Tiny Llama"
    with pytest.raises(BadInput, match="Hugging Face cache"):
        registry.remove("hf:acme/tiny-GGUF/tiny-Q8_0")

    # Once added by hand, the file is listed once, under its added name.
    assert registry.add(found[0]).name == "tiny-Q8_0"
    assert [e.source for e in registry.list()] == ["embedded", "added"]
    assert blob.exists()


def test_no_hf_cache(registry):
    assert registry.discover() == []


def test_ensure_default_with_fake_package(registry, tmp_path, monkeypatch):
    source = make_gguf(tmp_path / "src" / "embedded.gguf", template=None)
    digest = sha256_file(source)
    assembled: list[Path] = []

    def assemble(output_path, overwrite=False):
        assembled.append(Path(output_path))
        Path(output_path).write_bytes(source.read_bytes())
        return Path(output_path)

    package = SimpleNamespace(
        EXPECTED_SHA256=digest, assemble=assemble, chunk_paths=lambda: [source]
    )
    monkeypatch.setattr(registry_module, "_embedded_package", lambda: package)
    calls = count_hashes(monkeypatch)

    path = registry.ensure_default()
    assert path.read_bytes() == source.read_bytes() and len(assembled) == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left
    assert registry.resolve("default") == path == registry.resolve(None)
    assert registry.list()[0].exists
    assert registry.info("default").sha256 == digest
    assert len(assembled) == 1 and calls == []  # fast path: no reassembly, no rehash

    path.write_bytes(b"GGUF" + b"\0" * 100)  # damaged: detected by size/mtime, then sha256
    registry.ensure_default()
    assert len(assembled) == 2 and path.read_bytes() == source.read_bytes()


@pytest.mark.slow
def test_ensure_default_real(registry, monkeypatch):
    path = registry.ensure_default()
    info = registry.info("default")
    assert info.architecture == "gemma3"
    assert info.has_chat_template is False
    assert info.quantization == "Q4_K_M"
    assert info.bos_token == "<bos>" and info.eos_token == "<eos>"
    calls = count_hashes(monkeypatch)
    assert ModelRegistry(open_db()).ensure_default() == path
    assert calls == []
