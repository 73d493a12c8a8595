"""Copy a GGUF's metadata into a ``GGUFWriter`` exactly: every key, its type, its bytes.

A merged model must keep the chat template, the tokenizer and the EOS/BOS ids of its base, or it
answers gibberish. Values are read from ``open_gguf``'s reader, whose string arrays (the
vocabulary) are indexed lazily: they are sliced out of the memory map here as raw bytes, so no
token is re-encoded on the way.
"""

from __future__ import annotations

from typing import Any

SKIPPED = ("general.architecture",)  # GGUFWriter writes it itself
_NUMPY_TYPES = {
    "UINT8": "<u1",
    "INT8": "<i1",
    "UINT16": "<u2",
    "INT16": "<i2",
    "UINT32": "<u4",
    "INT32": "<i4",
    "FLOAT32": "<f4",
    "UINT64": "<u8",
    "INT64": "<i8",
    "FLOAT64": "<f8",
    "BOOL": "<u1",
}


def fast_writer(path: str, arch: str) -> Any:
    """A little-endian ``GGUFWriter`` that packs big metadata arrays in one go: the stock writer
    packs a 262k-token vocabulary item by item (seconds)."""
    import numpy as np
    from gguf import GGUFValueType, GGUFWriter

    class Writer(GGUFWriter):
        def _pack_val(self, val: Any, vtype: Any, add_vtype: bool, sub_type: Any = None) -> bytes:
            if vtype != GGUFValueType.ARRAY or sub_type is None or not len(val):
                return super()._pack_val(val, vtype, add_vtype, sub_type)
            head = self._pack("I", vtype) if add_vtype else b""
            head += self._pack("I", sub_type) + self._pack("Q", len(val))
            if sub_type == GGUFValueType.STRING:
                items = [v if isinstance(v, bytes) else str(v).encode() for v in val]
                return head + b"".join(len(v).to_bytes(8, "little") + v for v in items)
            dtype = _NUMPY_TYPES.get(GGUFValueType(sub_type).name)
            if dtype is None:
                return super()._pack_val(val, vtype, add_vtype, sub_type)
            return head + np.asarray(val).astype(dtype).tobytes()

    return Writer(path, arch)


def copy_metadata(reader: Any, writer: Any, overrides: dict[str, Any] | None = None) -> None:
    """Add every key of ``reader`` (a ``tuiapp.chat.models.gguf_info.open_gguf`` reader) to
    ``writer``; ``overrides`` maps keys to (value, GGUFValueType) to replace or add."""
    from gguf import GGUFValueType

    overrides = overrides or {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in SKIPPED or key in overrides:
            continue
        vtype = GGUFValueType(int(field.types[0]))
        if vtype == GGUFValueType.ARRAY:
            sub_type = GGUFValueType(int(field.types[-1]))
            writer.add_key_value(key, array_value(reader, field, sub_type), vtype, sub_type)
        elif vtype == GGUFValueType.STRING:
            writer.add_key_value(key, bytes(field.parts[-1]), vtype)
        else:
            writer.add_key_value(key, field.parts[-1].tolist()[0], vtype)
        if key == "general.alignment":
            writer.data_alignment = int(field.parts[-1][0])
    for key, (value, vtype) in overrides.items():
        writer.add_key_value(key, value, vtype)


def array_value(reader: Any, field: Any, sub_type: Any) -> list[Any]:
    from gguf import GGUFValueType

    if sub_type == GGUFValueType.STRING:
        value_offset = field.offset + sum(int(p.nbytes) for p in field.parts[:3])
        starts = getattr(reader, "string_arrays", {}).get(value_offset)
        if starts is None:  # a stock GGUFReader: each string is its own part
            return [bytes(field.parts[i]) for i in field.data]
        raw = reader.data.data
        out = []
        for start in starts:
            n = int.from_bytes(raw[start : start + 8], "little")
            out.append(bytes(raw[start + 8 : start + 8 + n]))
        return out
    if sub_type == GGUFValueType.ARRAY:
        raise ValueError(f"nested metadata arrays are not supported ({field.name})")
    import numpy as np

    parts = [np.asarray(field.parts[i]).ravel() for i in field.data]
    values: list[Any] = np.concatenate(parts).tolist()
    return values
