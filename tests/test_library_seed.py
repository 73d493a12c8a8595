"""Seeding built-ins: idempotent, upgrades only what the user left alone, never loses an edit."""

import json
import time
from pathlib import Path

import pytest

from tuiapp.library.examples import ExampleStore
from tuiapp.library.records import Example, ExampleSet, Template
from tuiapp.library.render import variables_of
from tuiapp.library.seed import default_root, open_library, seed
from tuiapp.library.templates import TemplateStore
from tuiapp.store import open_db


def write_template(root: Path, name: str, body: str, **extra) -> None:
    lines = [f"name: {name}", f"body: {json.dumps(body)}"]
    lines += [f"{k}: {json.dumps(v)}" for k, v in extra.items()]
    (root / "templates").mkdir(parents=True, exist_ok=True)
    (root / "templates" / f"{name}.yaml").write_text("\n".join(lines) + "\n")


def write_set(root: Path, name: str, rows: list[tuple[str, str, str]], **meta) -> None:
    (root / "sets").mkdir(parents=True, exist_ok=True)
    head = {
        "name": name,
        "description": "d",
        "template": "cls",
        "input_fields": ["text"],
        "labels": ["a", "b"],
    } | meta
    (root / "sets" / f"{name}.yaml").write_text(
        "\n".join(f"{k}: {json.dumps(v)}" for k, v in head.items()) + "\n"
    )
    (root / "sets" / f"{name}.jsonl").write_text(
        "".join(
            json.dumps({"inputs": {"text": t}, "output": o, "label": o, "split": s}) + "\n"
            for t, o, s in rows
        )
    )


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "prompts"
    write_template(root, "cls", "Text: {{ text }}\nLabel:", stop=["\n"], tags=["t"])
    write_set(root, "toy", [("one", "a", "train"), ("two", "b", "heldout")])
    return root


@pytest.fixture
def db():
    return open_db()


def test_first_seed_adds_everything_then_nothing(db, root):
    report = seed(db, root)
    assert (report.added_templates, report.added_sets) == (["cls"], ["toy"])
    assert report.errors == [] and report.skipped == []
    assert TemplateStore(db).sources() == {"cls": "builtin"}
    s = ExampleStore(db).get_set("toy")
    assert (s.source, s.labels, s.template) == ("builtin", ["a", "b"], "cls")
    assert ExampleStore(db).counts("toy") == {"train": 1, "heldout": 1}
    before = db.execute("SELECT * FROM template_versions").fetchall()
    started = time.perf_counter()
    again = seed(db, root)
    assert time.perf_counter() - started < 1
    assert not again.changed and again.skipped == []
    assert db.execute("SELECT * FROM template_versions").fetchall() == before


def test_upgrade_adds_new_builtins_and_updates_unedited_ones(db, root):
    seed(db, root)
    write_template(root, "cls", "Text: {{ text }}\nClass:", stop=["\n"], tags=["t"])
    write_template(root, "new", "New {{ x }}")
    write_set(root, "toy", [("one", "a", "train"), ("two", "b", "heldout"), ("3", "a", "train")])
    write_set(root, "more", [("x", "b", "train")])
    report = seed(db, root)
    assert report.added_templates == ["new"] and report.updated_templates == ["cls"]
    assert report.added_sets == ["more"] and report.updated_sets == ["toy"]
    templates = TemplateStore(db)
    assert templates.get("cls").body.endswith("Class:")
    assert [t.version for t in templates.versions("cls")] == [1, 2]  # the old one is kept
    assert ExampleStore(db).counts("toy") == {"train": 2, "heldout": 1}
    assert not seed(db, root).changed


def test_user_edits_are_never_overwritten(db, root):
    seed(db, root)
    templates, sets = TemplateStore(db), ExampleStore(db)
    templates.update("cls", body="Mine: {{ text }}")
    sets.add("toy", Example(inputs={"text": "my row"}, output="a"))
    write_template(root, "cls", "Shipped v2 {{ text }}")
    write_set(root, "toy", [("shipped", "b", "train")])
    report = seed(db, root)
    assert not report.changed
    assert sorted(report.skipped) == [
        "example set 'toy': edited by the user, kept",
        "template 'cls': edited by the user, kept",
    ]
    assert templates.get("cls").body == "Mine: {{ text }}"
    assert [e.inputs["text"] for e in sets.examples("toy")] == ["one", "two", "my row"]
    # Restoring the shipped version makes it upgradable again.
    templates.restore("cls", 1)
    assert seed(db, root).updated_templates == ["cls"]
    assert templates.get("cls").body == "Shipped v2 {{ text }}"


def test_deleted_builtins_and_user_names_are_left_alone(db, root):
    TemplateStore(db).create(Template(name="cls", body="user's own {{ q }}"))
    report = seed(db, root)
    assert report.skipped == ["template 'cls': a user template has this name"]
    assert TemplateStore(db).get("cls").body == "user's own {{ q }}"
    ExampleStore(db).delete_set("toy")
    report = seed(db, root)
    assert report.skipped[-1] == "example set 'toy': deleted by the user"
    assert not report.changed and not ExampleStore(db).exists("toy")
    # The user may create a set under that name again.
    ExampleStore(db).create_set(ExampleSet(name="toy", input_fields=["text"]))
    assert ExampleStore(db).get_set("toy").source == "user"


def test_a_broken_shipped_file_is_reported_and_the_rest_seeded(db, root):
    (root / "templates" / "bad.yaml").write_text("name: bad\nbody: '{{ oops'\n")
    write_set(root, "broken", [("x", "zzz", "train")])
    report = seed(db, root)
    assert report.added_templates == ["cls"] and report.added_sets == ["toy"]
    assert len(report.errors) == 2
    assert "prompts/templates/bad.yaml" in report.errors[0]
    assert "line 1: label 'zzz'" in report.errors[1]
    assert not ExampleStore(db).exists("broken")


def test_open_library_seeds_once_per_database(db, monkeypatch):
    calls = []
    monkeypatch.setattr("tuiapp.library.seed.seed", lambda d, root=None: calls.append(d))
    assert open_library(db) is db
    open_library(db)
    assert calls == [db]


def test_the_shipped_prompts_seed_cleanly(db):
    root = default_root()
    report = seed(db, root)
    assert report.errors == []
    assert report.added_templates and report.added_sets
    sets = ExampleStore(db)
    for name in report.added_sets:
        s = sets.get_set(name)
        if s.template:  # its rows fill exactly that template's variables
            body = TemplateStore(db).get(s.template).body
            assert variables_of(body) == set(s.input_fields), name
    assert not seed(db, root).changed
