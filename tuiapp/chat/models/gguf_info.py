"""What a GGUF file is, read from its header only (the weights are memory-mapped, never loaded).

``gguf.GGUFReader`` walks every element of every metadata array as its own numpy view, which
takes ~15 s for Gemma's 262k-token vocabulary. ``_HeaderReader`` keeps the reader but reads numeric
arrays in one slice and only indexes string arrays, so the same header takes well under a second.
It also bounds-checks every read, which is how truncated files are told apart from foreign ones.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from tuiapp.errors import ModelFileError

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while a long file operation runs."""

_HASH_BLOCK = 1 << 20


@dataclass
class GGUFInfo:
    path: str
    architecture: str
    name: str  # general.name, else the file stem
    size_label: str  # general.size_label, else derived from the parameter count ("270M")
    parameters: int  # sum of tensor element counts
    quantization: str  # "Q4_K_M", "F16"...: general.file_type, else the commonest tensor type
    context_length: int | None
    has_chat_template: bool
    chat_template: str | None
    bos_token: str | None
    eos_token: str | None
    file_size: int
    sha256: str | None = None
    kind: str = "model"  # general.type: "model" or "adapter"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GGUFInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def sha256_file(path: str | os.PathLike[str], progress: Progress | None = None) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks; ``progress(done, total)`` after each block."""
    path = Path(path)
    total = path.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


class _Truncated(Exception):
    def __init__(self, expected: int, found: int) -> None:
        super().__init__(expected, found)
        self.expected = expected
        self.found = found


def _header_reader_class() -> type:
    # Built on first use so that importing this module does not import gguf (and numpy).
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFValueType

    class _HeaderReader(GGUFReader):
        def __init__(self, path: str) -> None:
            # value offset of a string array -> offsets of its elements (length prefixes)
            self.string_arrays: dict[int, list[int]] = {}
            super().__init__(path, mode="r")

        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
            end = int(offset) + np.dtype(dtype).itemsize * int(count)
            if end > len(self.data):
                raise _Truncated(end, len(self.data))
            return super()._get(offset, dtype, count, override_order)

        def _get_field_parts(self, orig_offs: int, raw_type: int) -> Any:
            if raw_type != GGUFValueType.ARRAY:
                return super()._get_field_parts(orig_offs, raw_type)
            raw_itype = self._get(orig_offs, np.uint32)
            alen = self._get(orig_offs + 4, np.uint64)
            itype, count, offs = GGUFValueType(int(raw_itype[0])), int(alen[0]), orig_offs + 12
            types = [GGUFValueType.ARRAY, itype]
            nptype = self.gguf_scalar_to_np.get(itype)
            if nptype is not None:
                values = self._get(offs, nptype, count)
                return 12 + int(values.nbytes), [raw_itype, alen, values], [2], types
            if itype == GGUFValueType.STRING:
                starts = self._index_strings(offs, count)
                self.string_arrays[orig_offs] = starts
                end = starts[-1] + 8 + self._str_len(starts[-1]) if starts else offs
                return end - orig_offs, [raw_itype, alen], [], types
            return super()._get_field_parts(orig_offs, raw_type)  # nested arrays: rare, small

        def _str_len(self, offs: int) -> int:
            return int(self._get(offs, np.uint64)[0])

        def _index_strings(self, offs: int, count: int) -> list[int]:
            order = sys.byteorder if self.byte_order == "I" else _swap(sys.byteorder)
            raw = self.data.data  # a memoryview: slicing it is much cheaper than numpy views
            size = len(raw)
            starts = []
            for _ in range(count):
                if offs + 8 > size:
                    raise _Truncated(offs + 8, size)
                starts.append(offs)
                offs += 8 + int.from_bytes(raw[offs : offs + 8], order)
            if offs > size:
                raise _Truncated(offs, size)
            return starts

        def string_at(self, key: str, index: int) -> str | None:
            field = self.fields.get(key)
            if field is None:
                return None
            value_offs = field.offset + sum(int(p.nbytes) for p in field.parts[:3])
            starts = self.string_arrays.get(value_offs)
            if starts is None or not 0 <= index < len(starts):
                return None
            n = self._str_len(starts[index])
            return bytes(self.data[starts[index] + 8 : starts[index] + 8 + n]).decode(
                "utf-8", errors="replace"
            )

        def _build_tensors(self, start_offs: int, fields: list[Any]) -> None:
            # Check the whole data region first: the reader would fail on the first short tensor
            # with a numpy reshape error, and we want to say how many bytes are missing.
            end = start_offs
            for field in fields:
                _, _, _, dims, raw_dtype, offset = field.parts
                block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(int(raw_dtype[0]))]
                n_bytes = int(np.prod(dims, dtype=np.uint64)) * type_size // block
                end = max(end, start_offs + int(offset[0]) + n_bytes)
            if end > len(self.data):
                raise _Truncated(end, len(self.data))
            super()._build_tensors(start_offs, fields)

    return _HeaderReader


def _swap(order: Literal["little", "big"]) -> Literal["little", "big"]:
    return "big" if order == "little" else "little"


_READER: type | None = None


def open_gguf(path: str | os.PathLike[str]) -> Any:
    """A ``gguf.GGUFReader`` that indexes big string arrays lazily (the stock reader takes ~15 s
    on a 262k-token vocabulary). Tensors and their data are as in the stock reader."""
    global _READER
    if _READER is None:
        _READER = _header_reader_class()
    return _READER(str(path))


def string_field(reader: Any, key: str) -> str | None:
    """The string value of ``key`` in an open GGUF reader, None when the key is absent."""
    field = reader.fields.get(key)
    return bytes(field.parts[-1]).decode() if field is not None else None


def read_gguf_info(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read a GGUF header into a ``GGUFInfo``; raise ``ModelFileError`` for anything unusable."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e.strerror})") from None
    if path.is_dir():
        raise ModelFileError(f"{path}: not a GGUF file (it is a directory)")
    if size < 8:
        raise ModelFileError(f"{path}: not a GGUF file (only {size} bytes)")
    try:
        reader = open_gguf(path)
    except _Truncated as e:
        raise ModelFileError(
            f"{path}: truncated GGUF (expected {e.expected} bytes, found {e.found})"
        ) from None
    except PermissionError as e:
        raise ModelFileError(f"{path}: cannot read ({e.strerror})") from None
    except Exception as e:  # the reader raises ValueError, KeyError, IndexError... on bad data
        raise ModelFileError(f"{path}: not a GGUF file ({_describe(e)})") from None
    try:
        return _info_from_reader(reader, path, size)
    except Exception as e:
        raise ModelFileError(f"{path}: not a GGUF file ({_describe(e)})") from None
    finally:
        del reader  # drop the memory map now rather than at the next collection


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return "bad magic number" if text == "GGUF magic invalid" else text


def _info_from_reader(reader: Any, path: Path, size: int) -> GGUFInfo:
    from gguf import LlamaFileType
    from gguf.utility import model_weight_count_rounded_notation

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    arch = value("general.architecture") or "unknown"
    parameters = sum(int(t.n_elements) for t in reader.tensors)
    size_label = value("general.size_label") or (
        model_weight_count_rounded_notation(parameters) if parameters >= 1000 else str(parameters)
    )
    template = value("tokenizer.chat_template")
    context = value(f"{arch}.context_length")
    return GGUFInfo(
        path=str(path),
        architecture=arch,
        name=value("general.name") or path.stem,
        size_label=size_label,
        parameters=parameters,
        quantization=_quantization(value("general.file_type"), reader.tensors, LlamaFileType),
        context_length=int(context) if context is not None else None,
        has_chat_template=bool(template),
        chat_template=template or None,
        bos_token=_token(reader, value("tokenizer.ggml.bos_token_id")),
        eos_token=_token(reader, value("tokenizer.ggml.eos_token_id")),
        file_size=size,
        kind=value("general.type") or "model",
    )


def _token(reader: Any, token_id: Any) -> str | None:
    if token_id is None:
        return None
    token: str | None = reader.string_at("tokenizer.ggml.tokens", int(token_id))
    return token


def _quantization(file_type: Any, tensors: list[Any], enum: Any) -> str:
    if file_type is not None:
        try:
            member = enum(int(file_type))
        except ValueError:
            member = None
        if member is not None and member.name != "GUESSED":
            return "F32" if member.name == "ALL_F32" else member.name.removeprefix("MOSTLY_")
    # No (or unknown) file type: name it after the commonest type of the weight matrices;
    # 1-D tensors (norms, biases) stay F32 in every quantization, so they do not count.
    matrices = [t for t in tensors if len(t.shape) >= 2] or tensors
    if not matrices:
        return "unknown"
    commonest: str = Counter(t.tensor_type.name for t in matrices).most_common(1)[0][0]
    return commonest
