"""Import/export of example sets: all-or-nothing with line numbers, every format, round trips."""

import json
import random
import time

import pytest

from tuiapp.errors import BadInput
from tuiapp.library.examples import ExampleStore
from tuiapp.library.io import detect_format, export_examples, import_examples
from tuiapp.library.records import Example, ExampleSet
from tuiapp.store import open_db


@pytest.fixture
def db():
    db = open_db()
    store = ExampleStore(db)
    store.create_set(
        ExampleSet(name="sent", input_fields=["review"], labels=["positive", "negative"])
    )
    store.add("sent", Example(inputs={"review": "kept"}, output="positive", label="positive"))
    return db


def snapshot(db):
    """Everything an import could touch."""
    return [
        list(db.execute(f"SELECT * FROM {t}").fetchall())
        for t in ("example_sets", "examples", "examples_fts")
    ]


def lines(*rows):
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"


def test_jsonl_nested_and_flat_rows_into_a_new_set(db, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        lines(
            {"inputs": {"q": "2+2", "ctx": "math"}, "output": "4", "split": "heldout"},
            "",
            {"q": "capital of France", "ctx": "geo", "output": "Paris", "label": "geo"},
        )
    )
    result = import_examples(db, "qa", path)
    assert (result.added, result.created) == (2, True)
    assert result.counts == {"train": 1, "heldout": 1}
    store = ExampleStore(db)
    s = store.get_set("qa")
    assert (s.input_fields, s.labels) == (["q", "ctx"], ["geo"])
    rows = store.examples("qa")
    assert [(r.split, r.label, r.position) for r in rows] == [
        ("heldout", None, 0),
        ("train", "geo", 1),
    ]
    # Appending to the existing set continues the positions.
    result = import_examples(db, "qa", path)
    assert (result.added, result.created) == (2, False)
    assert [r.position for r in store.examples("qa")] == [0, 1, 2, 3]


def test_jsonl_every_bad_line_is_reported_and_nothing_is_written(db, tmp_path):
    before = snapshot(db)
    path = tmp_path / "bad.jsonl"
    path.write_text(
        lines(
            {"review": "fine", "output": "positive"},
            '{"review": "broken", ',
            {"review": "no output"},
            {"review": "x", "output": "negative", "split": "test"},
            {"text": "x", "output": "negative"},
            {"review": "x", "output": "negative", "label": "meh"},
            "[1, 2]",
            {"inputs": {"review": "x"}, "review": "y", "output": "positive"},
            {"review": "last good", "output": "negative"},
        )
    )
    with pytest.raises(BadInput) as info:
        import_examples(db, "sent", path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: nothing imported, 7 bad lines: line 2: invalid JSON")
    for fragment in [
        "line 3: missing output",
        "line 4: unknown split 'test'",
        "line 5: wrong fields (missing review; unknown text)",
        "line 6: label 'meh' is not one of the set's labels",
        "line 7: expected an object",
        "line 8: unknown keys review",
    ]:
        assert fragment in message
    assert "line 1:" not in message and "line 9:" not in message
    assert snapshot(db) == before


def test_csv_import_with_line_numbers(db, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(
        'review,output,label,split\n"multi\nline",positive,positive,heldout\nok,negative,,\n'
    )
    assert import_examples(db, "sent", path).counts == {"train": 2, "heldout": 1}
    rows = ExampleStore(db).examples("sent")
    assert rows[1].inputs == {"review": "multi\nline"} and rows[2].label is None
    before = snapshot(db)
    path.write_text('review,output,split\n"two\nlines",positive\nok,negative,dev\n,,\nx,,train\n')
    with pytest.raises(BadInput) as info:
        import_examples(db, "sent", path)
    assert str(info.value).endswith(
        "3 bad lines: line 2: expected 3 columns, got 2; line 4: unknown split 'dev' "
        "(use train or heldout); line 6: missing output"
    )
    path.write_text("review,answer\nx,y\n")
    with pytest.raises(BadInput, match="line 1: the header needs an 'output' column"):
        import_examples(db, "sent", path)
    assert snapshot(db) == before


def test_yaml_import_list_or_mapping_with_line_numbers(db, tmp_path):
    path = tmp_path / "rows.yaml"
    path.write_text(
        "description: yes/no questions\nlabels: [yes, no]\nexamples:\n"
        "  - q: Is water wet?\n    output: yes\n    label: yes\n"
        "  - inputs: {q: Is fire cold?}\n    output: no\n    split: heldout\n"
    )
    import_examples(db, "yn", path)
    s = ExampleStore(db).get_set("yn")
    assert (s.description, s.labels, s.input_fields) == ("yes/no questions", ["yes", "no"], ["q"])
    # Values stay text: YAML's `yes` is not turned into True.
    assert [r.output for r in ExampleStore(db).examples("yn")] == ["yes", "no"]
    before = snapshot(db)
    path.write_text(
        "- review: good\n  output: positive\n- review: bad\n"
        "- review: ok\n  output: negative\n  label: maybe\n"
    )
    with pytest.raises(BadInput) as info:
        import_examples(db, "sent", path)
    assert "line 3: missing output; line 4: label 'maybe'" in str(info.value)
    path.write_text("- review: good\n  output: [unclosed\n")
    with pytest.raises(BadInput, match="line 3: invalid YAML"):
        import_examples(db, "sent", path)
    assert snapshot(db) == before


def test_ten_megabytes_of_garbage_change_nothing_and_are_quick(db, tmp_path):
    before = snapshot(db)
    rng = random.Random(1)
    path = tmp_path / "garbage.jsonl"
    chunks, size = [], 0
    while size < 10_000_000:
        kind = rng.randrange(4)
        if kind == 0:
            line = rng.randbytes(60).replace(b"\n", b" ")
        elif kind == 1:
            line = b'{"review": "x", "output": ' + b"9" * rng.randrange(1, 40)  # truncated
        elif kind == 2:
            line = json.dumps({"review": "x" * rng.randrange(200)}).encode()  # no output
        else:
            line = b"lorem ipsum " * rng.randrange(1, 12)
        chunks.append(line)
        size += len(line) + 1
    chunks.insert(5, json.dumps({"review": "good", "output": "positive"}).encode())
    path.write_bytes(b"\n".join(chunks) + b"\n")
    started = time.perf_counter()
    with pytest.raises(BadInput) as info:
        import_examples(db, "sent", path)
    assert time.perf_counter() - started < 30
    message = str(info.value)
    assert "nothing imported" in message and "more" in message
    assert message.count("line ") == 20
    assert snapshot(db) == before
    # Into a new set, too: the set is not created.
    with pytest.raises(BadInput):
        import_examples(db, "fresh", path)
    assert snapshot(db) == before
    # The same garbage as CSV and YAML, made valid UTF-8 so the parsers read on.
    text = path.read_bytes().decode("utf-8", errors="replace").replace("\x00", "")
    for suffix in (".csv", ".yaml"):
        other = path.with_suffix(suffix)
        other.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        with pytest.raises(BadInput, match="nothing imported"):
            import_examples(db, "sent", other)
        assert time.perf_counter() - started < 30
    assert snapshot(db) == before


def test_yaml_alias_bomb_is_not_expanded(db, tmp_path):
    bomb, prev = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n', "a"
    for name in "bcdefghi":
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    bomb += "description: *i\nexamples:\n  - review: *i\n    output: x\n"
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    started = time.perf_counter()
    with pytest.raises(BadInput, match="line 12: field 'review' must be text"):
        import_examples(db, "new", path)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "yaml"])
def test_export_import_round_trip(db, tmp_path, fmt):
    store = ExampleStore(db)
    store.create_set(ExampleSet(name="multi", input_fields=["a", "b"], labels=["x", "y"]))
    tricky = ['comma, "quotes"', "new\nline", "yes", "012", "ünïcødé", "  spaced  ", "null"]
    store.add_many(
        "multi",
        [
            Example(
                inputs={"a": t, "b": ""},
                output=f"out {i}",
                label="x" if i % 2 else None,
                split="heldout" if i % 3 == 0 else "train",
            )
            for i, t in enumerate(tricky)
        ],
    )
    text = export_examples(db, "multi", fmt)
    path = tmp_path / f"multi.{fmt}"
    path.write_text(text, encoding="utf-8")
    import_examples(db, "copy", path)

    def rows(name):
        return [(r.inputs, r.output, r.label, r.split) for r in store.examples(name)]

    assert rows("copy") == rows("multi")
    assert export_examples(db, "copy", fmt) == text
    assert store.get_set("copy").input_fields == ["a", "b"]


def test_format_detection_and_unreadable_files(db, tmp_path):
    assert detect_format("x.JSONL") == "jsonl" and detect_format("x.yml") == "yaml"
    assert detect_format("x.txt", "csv") == "csv"
    with pytest.raises(BadInput, match="cannot tell the format"):
        detect_format("x.txt")
    with pytest.raises(BadInput, match="cannot read"):
        import_examples(db, "sent", tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(BadInput, match="no examples in the file"):
        import_examples(db, "sent", empty)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"review,output\ncaf\xe9,positive\n")
    with pytest.raises(BadInput, match="line 2: not UTF-8 text"):
        import_examples(db, "sent", bad)
