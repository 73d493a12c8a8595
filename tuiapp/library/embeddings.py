"""Text embeddings from the loaded model file, through llama.cpp, cached in SQLite.

llama.cpp computes embeddings only in a context created with ``embedding=True``, so a second
``Llama`` is opened on the same GGUF (mean pooling; the weights are mmapped, so they are shared
with the chat model's pages). It is created lazily, on the engine's owner thread (``engine.call``),
with the same AMX-safe loader, and only ever used there: llama.cpp objects are not thread-safe.

Vectors are unit length (cosine similarity is a dot product), stored as float32 blobs in
``embeddings`` keyed by (model sha256, sha256 of the text), so a set is embedded once per model.
Only uncached texts are computed, in batches (llama.cpp packs several sequences per decode).
"""

import hashlib
from typing import Any

import sqlite_utils

from tuiapp.errors import EngineError
from tuiapp.store import db_lock, transaction

EMBED_CTX = 512  # texts longer than this many tokens are truncated (examples are short)
_SQL_CHUNK = 400  # parameters per "IN (...)" query, below SQLite's limit


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Embedder:
    """``embed(texts) -> (n, dim) float32`` unit vectors for one model file."""

    def __init__(
        self, db: sqlite_utils.Database, engine: Any, model_path: str, model_sha256: str
    ) -> None:
        if not model_sha256:
            raise EngineError("Embeddings need the model's sha256 to cache them.")
        self.db = db
        self.engine = engine
        self.model_path = str(model_path)
        self.model_sha256 = model_sha256
        self._llama: Any = None  # touched on the engine's owner thread only
        self.computed = 0  # texts embedded by llama.cpp (not from the cache), for tests/bench

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        keys = [text_sha256(t) for t in texts]
        found = self._cached(set(keys))
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if missing:
            vectors = self.engine.call(lambda _llm: self._compute(list(missing.values()))).result()
            fresh = dict(zip(missing, vectors, strict=True))
            self._store(fresh)
            found.update(fresh)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys])

    def close(self) -> None:
        """Free the embedding context (on the owner thread, where it lives)."""
        if self._llama is not None:
            self.engine.call(lambda _llm: setattr(self, "_llama", None)).result()

    # -- the owner thread ------------------------------------------------------------------
    def _compute(self, texts: list[str]) -> list[Any]:
        import numpy as np

        llama = self._load()
        raw = llama.embed(texts, normalize=False, truncate=True)
        out = []
        for vec in raw:
            v = np.asarray(vec, dtype=np.float32)
            norm = float(np.linalg.norm(v))
            out.append(v / norm if norm > 0 else v)
        self.computed += len(out)
        return out

    def _load(self) -> Any:
        if self._llama is None:
            import llama_cpp

            from tuiapp.chat.engine.loader import load_llama

            threads = self.engine.model.n_threads if self.engine.model else None
            self._llama = load_llama(
                self.model_path,
                n_ctx=EMBED_CTX,
                n_batch=EMBED_CTX,
                n_ubatch=EMBED_CTX,
                n_threads=threads,
                embedding=True,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            )
        return self._llama

    # -- the cache -------------------------------------------------------------------------
    def _cached(self, keys: set[str]) -> dict[str, Any]:
        import numpy as np

        found: dict[str, Any] = {}
        ordered = sorted(keys)
        with db_lock(self.db):
            for i in range(0, len(ordered), _SQL_CHUNK):
                chunk = ordered[i : i + _SQL_CHUNK]
                sql = (
                    "SELECT text_sha256, dim, vector FROM embeddings WHERE model_sha256 = ?"
                    f" AND text_sha256 IN ({', '.join('?' * len(chunk))})"
                )
                for key, dim, blob in self.db.execute(sql, [self.model_sha256, *chunk]):
                    vec = np.frombuffer(blob, dtype="<f4")
                    if len(vec) == dim:
                        found[key] = vec
        return found

    def _store(self, vectors: dict[str, Any]) -> None:
        rows = [
            {
                "model_sha256": self.model_sha256,
                "text_sha256": key,
                "dim": len(vec),
                "vector": vec.astype("<f4").tobytes(),
            }
            for key, vec in vectors.items()
        ]
        with transaction(self.db):
            self.db.table("embeddings").upsert_all(rows, pk=("model_sha256", "text_sha256"))
