"""Example sets and rows: CRUD, field/label/split checks, filters, chat exchanges, FTS text."""

import pytest

from tuiapp.errors import BadInput, NotFound
from tuiapp.library.examples import ExampleStore
from tuiapp.library.records import Example, ExampleSet
from tuiapp.store import open_db


@pytest.fixture
def store():
    s = ExampleStore(open_db())
    s.create_set(
        ExampleSet(
            name="sent",
            input_fields=["review", "product"],
            labels=["positive", "negative"],
            template="sentiment",
        )
    )
    return s


def ex(review="great", product="phone", output="positive", **kw):
    return Example(inputs={"product": product, "review": review}, output=output, **kw)


def test_sets_crud_and_counts(store):
    assert [s.name for s in store.list_sets()] == ["sent"]
    assert store.get_set("sent").labels == ["positive", "negative"]
    store.add("sent", ex())
    store.add("sent", ex("awful", output="negative", label="negative", split="heldout"))
    assert store.counts("sent") == {"train": 1, "heldout": 1}
    assert store.all_counts() == {"sent": {"train": 1, "heldout": 1}}
    store.update_set("sent", description="reviews")
    assert store.get_set("sent").description == "reviews"
    with pytest.raises(BadInput, match="input fields cannot change"):
        store.update_set("sent", input_fields=["text"])
    with pytest.raises(BadInput, match="1 rows would not fit: label 'negative' is not one"):
        store.update_set("sent", labels=["positive", "neutral"])
    store.delete_set("sent")
    assert store.list_sets() == []
    assert store.db.execute("SELECT count(*) FROM examples").fetchone() == (0,)
    with pytest.raises(NotFound):
        store.get_set("sent")


def test_rows_keep_field_order_positions_and_text(store):
    a = store.add("sent", ex("great battery"))
    b = store.add("sent", ex("meh", output="negative"))
    assert (a.position, b.position) == (0, 1)
    assert list(a.inputs) == ["review", "product"]  # the set's field order
    row = store.db.execute("SELECT text FROM examples WHERE id = ?", [a.id]).fetchone()
    assert row[0] == a.text() == "great battery\nphone\npositive"
    hits = store.db.execute(
        "SELECT rowid FROM examples_fts WHERE examples_fts MATCH 'battery'"
    ).fetchall()
    assert hits == [(a.id,)]
    changed = store.update(a.id, output="negative", inputs={"review": "bad", "product": "tv"})
    assert store.get(a.id) == changed
    assert (
        store.db.execute(
            "SELECT rowid FROM examples_fts WHERE examples_fts MATCH 'battery'"
        ).fetchall()
        == []
    )
    store.delete(b.id)
    with pytest.raises(NotFound, match=f"No example with id {b.id}"):
        store.get(b.id)


@pytest.mark.parametrize(
    "row, message",
    [
        (Example(inputs={"review": "x"}, output="positive"), r"wrong fields \(missing product\)"),
        (
            Example(inputs={"review": "x", "product": "p", "extra": "e"}, output="positive"),
            "unknown extra",
        ),
        (ex(output=""), "missing output"),
        (ex(split="test"), "unknown split 'test'"),
        (ex(label="meh"), "label 'meh' is not one of the set's labels"),
        (Example(inputs={"review": 3, "product": "p"}, output="x"), "field 'review' must be text"),
    ],
)
def test_bad_rows_get_one_clear_error(store, row, message):
    with pytest.raises(BadInput, match=message):
        store.add("sent", row)
    assert store.examples("sent") == []


def test_add_many_is_all_or_nothing(store):
    with pytest.raises(BadInput, match=r"\(row 2\): missing output"):
        store.add_many("sent", [ex(), ex(output=" ")])
    assert store.examples("sent") == []


def test_filters(store):
    store.add_many(
        "sent",
        [ex("Great screen"), ex("bad screen", output="negative", split="heldout"), ex("fine")],
    )
    assert [e.inputs["review"] for e in store.examples("sent", contains="SCREEN")] == [
        "Great screen",
        "bad screen",
    ]
    assert [e.inputs["review"] for e in store.examples("sent", split="heldout")] == ["bad screen"]
    assert len(store.examples("sent", limit=2)) == 2
    with pytest.raises(BadInput, match="Unknown split"):
        store.examples("sent", split="dev")
    with pytest.raises(NotFound):
        store.examples("missing")


def test_save_a_chat_exchange_as_an_example(store):
    saved = store.from_conversation("sent", "Love it", "positive")
    assert saved.inputs == {"review": "Love it", "product": ""}
    saved = store.from_conversation("sent", "a phone", "negative", field="product")
    assert saved.inputs == {"review": "", "product": "a phone"}
    with pytest.raises(BadInput, match="has no field 'prompt'"):
        store.from_conversation("sent", "x", "y", field="prompt")
    # A new set is created with one field.
    new = store.from_conversation("chats", "What is 2+2?", "4")
    assert new.inputs == {"input": "What is 2+2?"}
    assert store.get_set("chats").input_fields == ["input"]


def test_set_names_and_fields_are_checked(store):
    with pytest.raises(BadInput, match="already exists"):
        store.create_set(ExampleSet(name="sent"))
    with pytest.raises(BadInput, match="Bad example set name"):
        store.create_set(ExampleSet(name="a b"))
    with pytest.raises(BadInput, match="input fields must be names"):
        store.create_set(ExampleSet(name="x", input_fields=["has space"]))
