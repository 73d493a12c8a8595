"""A person's own file in any common shape: read with line-numbered errors, split, templated."""

import json
from pathlib import Path

import pytest

from tests.helpers.cli import assert_one_line_error, tuiapp
from tuiapp.chat.engine.formats import TranscriptFormat, Turn
from tuiapp.errors import BadInput
from tuiapp.library.examples import ExampleStore
from tuiapp.library.io import import_examples
from tuiapp.library.records import Example, Template
from tuiapp.library.splits import draw_splits
from tuiapp.library.templates import TemplateStore
from tuiapp.store import open_db


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def tables(db) -> list:
    return [
        db.execute(f"SELECT * FROM {t}").fetchall()
        for t in ("example_sets", "examples", "templates", "template_versions")
    ]


def rendered(db, set_name: str) -> list[str]:
    """Every row of the set rendered with the set's template, and the output after it."""
    store, templates = ExampleStore(db), TemplateStore(db)
    name = store.get_set(set_name).template
    assert name is not None
    return [templates.render(name, ex.inputs) + "|" + ex.output for ex in store.examples(set_name)]


CHAT = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "Hi, who are you?"},
    {"role": "assistant", "content": "A helper."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
]


@pytest.mark.parametrize(
    ("shape", "row", "fields", "first_render"),
    [
        (
            "flat",
            {"input": "Where is Paris?", "output": "France"},
            ["input"],
            "Input: Where is Paris?\nOutput:|France",
        ),
        (
            "alpaca",
            {"instruction": "Translate to French", "input": "cat", "output": "chat"},
            ["instruction", "input"],
            "Instruction: Translate to French\nInput: cat\nResponse:|chat",
        ),
        (
            "prompt-completion",
            {"prompt": "2+2=", "completion": "4"},
            ["prompt"],
            "2+2=|4",
        ),
        (
            "messages",
            {"messages": CHAT},
            ["conversation"],
            "You answer briefly.\n\nUser: Hi, who are you?\nAssistant: A helper.\n"
            "User: What is 2+2?\nAssistant:|4",
        ),
        (
            "sharegpt",
            {
                "conversations": [
                    {"from": "human", "value": "Hello"},
                    {"from": "gpt", "value": "Hi there"},
                ]
            },
            ["conversation"],
            "User: Hello\nAssistant:|Hi there",
        ),
    ],
)
def test_each_shape_imports_with_a_generated_template(tmp_path, shape, row, fields, first_render):
    db = open_db()
    result = import_examples(db, "mine", jsonl(tmp_path / "rows.jsonl", [row] * 8))
    assert (result.shape, result.added, result.created) == (shape, 8, True)
    assert result.template == "mine" and result.template_created
    assert ExampleStore(db).get_set("mine").input_fields == fields
    assert rendered(db, "mine")[0] == first_render
    template = TemplateStore(db).get("mine")
    assert "generated" in template.tags and template.version == 1
    # Importing more rows keeps the template (it is the person's to edit now).
    again = import_examples(db, "mine", jsonl(tmp_path / "more.jsonl", [row]))
    assert again.template == "mine" and not again.template_created


def test_a_conversation_renders_exactly_as_the_chat_writes_its_transcript(tmp_path):
    db = open_db()
    import_examples(db, "talk", jsonl(tmp_path / "talk.jsonl", [{"messages": CHAT}]))
    turns = [Turn(m["role"], m["content"]) for m in CHAT[:-1]]
    chat_prompt = TranscriptFormat().render(turns)
    (row,) = ExampleStore(db).examples("talk")
    assert TemplateStore(db).render("talk", row.inputs) == chat_prompt
    assert row.output == "4"
    assert "\nUser:" in TemplateStore(db).get("talk").stop  # the next user turn ends a reply


def test_csv_and_tsv_with_a_header_row(tmp_path):
    db = open_db()
    (tmp_path / "a.csv").write_text("question,output,label\n2+2?,4,math\nBig city?,Paris,geo\n")
    (tmp_path / "b.tsv").write_text("prompt\tcompletion\n2+2=\t4\nsky is\tblue\n")
    assert import_examples(db, "csvset", tmp_path / "a.csv").shape == "flat"
    assert ExampleStore(db).get_set("csvset").labels == ["geo", "math"]
    assert import_examples(db, "tsvset", tmp_path / "b.tsv").shape == "prompt-completion"
    assert rendered(db, "tsvset") == ["2+2=|4", "sky is|blue"]
    (tmp_path / "bad.tsv").write_text("prompt\tcompletion\nonly one cell\n")
    with pytest.raises(BadInput, match="line 2: expected 2 columns, got 1"):
        import_examples(db, "tsvset", tmp_path / "bad.tsv")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"messages": CHAT}, {"messages": CHAT[:-1]}],
            "line 2: the last turn must be a non-empty assistant reply",
        ),
        (
            [{"conversations": [{"from": "alien", "value": "x"}]}],
            "line 1: turn 1 needs 'from' human, gpt or system",
        ),
        (
            [{"messages": [{"role": "assistant", "content": "hi"}]}],
            "line 1: no user turn before the last assistant reply",
        ),
        (
            [{"input": "a", "output": "b"}, {"messages": CHAT}],
            "line 2: wrong fields (missing input; unknown conversation); the set expects input "
            "(a messages row; the file's first row is flat)",
        ),
        ([{"instruction": "do it"}], "line 1: missing output"),
        ([{"input": "a", "output": "b"}, "not json"], "line 2: invalid JSON"),
    ],
)
def test_malformed_rows_name_their_line_and_write_nothing(tmp_path, rows, message):
    db = open_db()
    before = tables(db)
    with pytest.raises(BadInput, match="nothing imported") as info:
        import_examples(db, "mine", jsonl(tmp_path / "bad.jsonl", rows))
    assert message in str(info.value)
    assert tables(db) == before


def test_rows_without_a_split_get_a_seeded_label_stratified_quarter(tmp_path):
    db = open_db()
    rows = [
        {"review": f"review {i} {label}", "output": label, "label": label}
        for i in range(40)
        for label in ("positive", "negative")
    ]
    rows.append({"review": "given", "output": "positive", "label": "positive", "split": "train"})
    result = import_examples(db, "a", jsonl(tmp_path / "a.jsonl", rows))
    assert (result.drawn, result.drawn_heldout) == (80, 20)
    held = [ex for ex in ExampleStore(db).examples("a", split="heldout")]
    assert sorted(ex.label for ex in held) == ["negative"] * 10 + ["positive"] * 10
    assert "given" not in {ex.inputs["review"] for ex in held}
    # The same rows in another order, into another set: the same rows held out.
    import_examples(db, "b", jsonl(tmp_path / "b.jsonl", list(reversed(rows))))
    held_b = {ex.inputs["review"] for ex in ExampleStore(db).examples("b", split="heldout")}
    assert held_b == {ex.inputs["review"] for ex in held}
    # Another seed, another draw.
    import_examples(db, "c", jsonl(tmp_path / "c.jsonl", rows), seed=7)
    held_c = {ex.inputs["review"] for ex in ExampleStore(db).examples("c", split="heldout")}
    assert held_c != held_b and len(held_c) == 20


def test_draw_splits_keeps_both_sides_of_a_small_group_and_refuses_a_bad_fraction():
    two = [Example(inputs={"x": str(i)}, output="y") for i in range(2)]
    assert sorted(draw_splits(two)) == ["heldout", "train"]
    assert draw_splits(two[:1]) == ["train"]
    with pytest.raises(BadInput, match="between 0 and 1"):
        draw_splits(two, fraction=1.5)


def test_a_taken_template_name_gets_a_suffix_and_labels_become_the_instruction(tmp_path):
    db = open_db()
    TemplateStore(db).create(Template(name="reviews", body="{{ review }}"))  # the name is taken
    (tmp_path / "s.csv").write_text("review,output,label\nnice,positive,positive\n")
    result = import_examples(db, "reviews", tmp_path / "s.csv")
    assert result.template == "reviews-2"
    template = TemplateStore(db).get("reviews-2")
    assert template.system == "Answer with one of: positive."
    assert template.stop == ["\n"]  # every output is one line


def test_cli_examples_edit_add_and_split(tmp_path):
    src = jsonl(
        tmp_path / "qa.jsonl", [{"q": f"question {i}", "output": f"a{i}"} for i in range(12)]
    )
    assert tuiapp("examples", "import", "qa", str(src)).returncode == 0
    added = tuiapp("examples", "add", "qa", "-i", "one more?", "-o", "yes", "--split", "heldout")
    assert added.returncode == 0, added.stderr
    assert ExampleStore(open_db()).examples("qa")[-1].inputs == {"q": "one more?"}
    assert_one_line_error(
        tuiapp("examples", "add", "qa", "-i", "a", "-i", "b", "-o", "x"), "FIELD=TEXT"
    )
    assert_one_line_error(tuiapp("examples", "add", "qa", "-o", "x"), "Missing --input for q")
    split = json.loads(
        tuiapp("examples", "split", "qa", "--heldout", "0.5", "--seed", "3", "--json").stdout
    )
    assert sorted(split["counts"].items()) == [("heldout", 6), ("train", 7)]
    assert_one_line_error(tuiapp("examples", "split", "qa", "--heldout", "2"), "between 0 and 1")
    edited = tuiapp("examples", "edit", "qa", "--template", "summarize", "--description", "mine")
    assert edited.returncode == 0, edited.stderr
    s = ExampleStore(open_db()).get_set("qa")
    assert (s.template, s.description) == ("summarize", "mine")
    assert_one_line_error(tuiapp("examples", "edit", "qa", "--template", "nope"), "nope")
    assert tuiapp("examples", "edit", "qa", "--labels", "a,b").returncode == 0
    assert_one_line_error(
        tuiapp("examples", "add", "qa", "-i", "q?", "-o", "x", "--label", "c"), "not one of"
    )


def test_adapt_from_a_file_never_appends_to_an_existing_set(tmp_path):
    few = jsonl(tmp_path / "tiny.jsonl", [{"input": f"q{i}", "output": "a"} for i in range(8)])
    assert tuiapp("examples", "import", "tiny", str(few)).returncode == 0
    assert_one_line_error(tuiapp("adapt", str(few)), "`tuiapp adapt tiny` uses it", "--set NEW")
    assert_one_line_error(tuiapp("adapt", "sentiment", "--set", "x"), "is not a file")
