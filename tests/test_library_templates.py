"""Versioned templates: create, edit (new version), restore, delete, render, template files."""

import pytest

from tuiapp.errors import BadInput, NotFound
from tuiapp.library.records import Template
from tuiapp.library.templates import TemplateStore, from_yaml, load_file, to_yaml
from tuiapp.store import open_db


@pytest.fixture
def store():
    return TemplateStore(open_db())


def make(name="greet", body="Hello {{ who }}!", **kw):
    return Template(name=name, body=body, **kw)


def test_create_get_list(store):
    t = store.create(make(description="say hi", tags=["x"], stop=["\n"], params={"top_k": 5}))
    assert t.version == 1 and t.created
    got = store.get("greet")
    assert got == t
    assert [x.name for x in store.list()] == ["greet"]
    assert store.sources() == {"greet": "user"}
    with pytest.raises(BadInput, match="already exists"):
        store.create(make())
    with pytest.raises(NotFound, match="No template named 'nope'"):
        store.get("nope")


def test_every_edit_is_a_version_and_old_ones_stay_readable(store):
    store.create(make())
    v2 = store.update("greet", body="Hi {{ who }}.")
    v3 = store.update("greet", system="Be brief.", stop=["END"])
    assert (v2.version, v3.version) == (2, 3)
    assert store.get("greet").body == "Hi {{ who }}."
    assert store.get("greet", 1).body == "Hello {{ who }}!"
    assert [t.version for t in store.versions("greet")] == [1, 2, 3]
    # An update that changes nothing makes no version.
    assert store.update("greet", system="Be brief.").version == 3
    assert store.render("greet", {"who": "Ann"}) == "Hi Ann."
    assert store.render("greet", {"who": "Ann"}, version=1) == "Hello Ann!"
    with pytest.raises(NotFound, match="no version 9 .latest is 3"):
        store.get("greet", 9)


def test_restore_appends_a_copy_of_the_old_version(store):
    store.create(make())
    store.update("greet", body="Bye {{ who }}", description="changed")
    restored = store.restore("greet", 1)
    assert restored.version == 3
    assert (restored.body, restored.description) == ("Hello {{ who }}!", "")
    assert len(store.versions("greet")) == 3


def test_render_errors_name_template_and_version(store):
    store.create(make())
    store.update("greet", body="{{ greeting }} {{ who }}")
    with pytest.raises(BadInput) as info:
        store.render("greet", {"who": "x", "mood": "y"})
    assert str(info.value) == (
        "Template 'greet' v2: missing variables: greeting; unknown variables: mood"
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"body": "{{ x"}, "syntax error on line 1"),
        ({"body": "{{ x.__class__ }}"}, "template refused"),
        ({"body": "  "}, "body is empty"),
        ({"params": {"temperature": -1}}, "temperature must be"),
        ({"params": {"warmth": 1}}, "unknown sampling params: warmth"),
        ({"stop": [""]}, "'stop' must be a list"),
        ({"name": "x"}, "Cannot change name"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(store, changes, message):
    store.create(make())
    with pytest.raises(BadInput, match=message):
        store.update("greet", **changes)
    assert [t.version for t in store.versions("greet")] == [1]


@pytest.mark.parametrize("name", ["", "a/b", "has space", "-x", "x" * 101])
def test_bad_names_are_refused(store, name):
    with pytest.raises(BadInput, match="Bad template name"):
        store.create(make(name=name))


def test_delete_removes_every_version(store):
    store.create(make())
    store.update("greet", body="x {{ who }}")
    store.delete("greet")
    assert store.list() == []
    with pytest.raises(NotFound):
        store.versions("greet")
    assert store.create(make()).version == 1  # the name is free again


def test_an_edit_is_one_transaction(store, monkeypatch):
    store.create(make())
    table = store.db["templates"]

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(table), "update", boom)
    with pytest.raises(RuntimeError):
        store.update("greet", body="new {{ who }}")
    monkeypatch.undo()
    # The version row inserted before the failure was rolled back with it.
    assert [t.version for t in store.versions("greet")] == [1]
    assert store.update("greet", body="new {{ who }}").version == 2


def test_yaml_round_trip(tmp_path):
    t = make(
        body="Line 1: {{ who }}\n  indented\n",
        system="sys",
        tags=["a", "b"],
        params={"temperature": 0.0, "max_tokens": 8},
        stop=["\n", "END"],
        description="d",
        output_field="answer",
    )
    text = to_yaml(t)
    assert "body: |" in text
    back = from_yaml(text, "x.yaml")
    assert back == t
    path = tmp_path / "greet.yaml"
    path.write_text("body: 'Hi {{ who }}'\nstop: END\n")
    loaded = load_file(path)
    assert (loaded.name, loaded.stop) == ("greet", ["END"])  # name from the file name


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: a\nbody: x: y\ntags: []\n", "invalid YAML on line 2"),
        ("- a\n- b\n", "expected a mapping"),
        ("name: a\nbody: x\ncolour: red\n", "unknown keys colour"),
        ("name: a\n", "needs 'name' and 'body'"),
        ("name: a\nbody: '{{ x '\n", "syntax error on line 1"),
    ],
)
def test_bad_template_files_name_the_file(text, message):
    with pytest.raises(BadInput, match=message) as info:
        from_yaml(text, "t.yaml")
    assert str(info.value).startswith("t.yaml: ")
