"""`tuiapp prompts` and `tuiapp examples` as a script uses them: real subprocesses and SQLite."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tuiapp.library.examples import ExampleStore
from tuiapp.store import open_db


def tuiapp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuiapp", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy() | (env or {}),
        timeout=120,
    )


def ok(*args: str, **kw) -> str:
    result = tuiapp(*args, **kw)
    assert result.returncode == 0, result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_prompts_add_edit_versions_restore_render_export(tmp_path: Path):
    path = tmp_path / "greet.yaml"
    path.write_text(
        "name: greet\ndescription: Say hello\ntags: [demo]\nbody: |\n"
        "  Hello {{ who }}!\nparams:\n  temperature: 0\n"
    )
    assert json.loads(ok("prompts", "add", str(path), "--json"))[0]["version"] == 1
    listed = json.loads(ok("prompts", "list", "--json"))
    assert {"name": "greet", "source": "user"}.items() <= next(
        t for t in listed if t["name"] == "greet"
    ).items()
    assert "greet" in ok("prompts", "list", "--tag", "demo")
    edited = json.loads(ok("prompts", "edit", "greet", "--body", "Hi {{ who }}.", "--json"))
    assert edited["version"] == 2
    # No option: $EDITOR gets the template as YAML.
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/Hi /Hey /' \"$1\"\n")
    editor.chmod(0o755)
    ok("prompts", "edit", "greet", env={"EDITOR": str(editor), "VISUAL": str(editor)})
    versions = json.loads(ok("prompts", "versions", "greet", "--json"))
    assert [v["body"] for v in versions] == [
        "Hello {{ who }}!\n",
        "Hi {{ who }}.",
        "Hey {{ who }}.",
    ]
    assert ok("prompts", "render", "greet", "--var", "who=Ann") == "Hey Ann.\n"
    assert json.loads(ok("prompts", "restore", "greet", "1", "--json"))["version"] == 4
    rendered = json.loads(ok("prompts", "render", "greet", "--var", "who=Bo", "--json"))
    assert rendered == {"template": "greet", "version": 4, "system": "", "prompt": "Hello Bo!\n"}
    assert "version 2" in ok("prompts", "show", "greet", "--version", "2")
    out = tmp_path / "out.yaml"
    ok("prompts", "export", "greet", "-o", str(out))
    assert "Hello {{ who }}!" in out.read_text()
    ok("prompts", "delete", "greet")
    assert "No template named 'greet'" in one_line_error(tuiapp("prompts", "show", "greet"))
    assert json.loads(ok("prompts", "import", str(out), "--json"))[0]["version"] == 1


def test_prompt_errors_are_one_line(tmp_path: Path):
    path = tmp_path / "cls.yaml"
    path.write_text("body: 'Review: {{ review }}'\n")
    ok("prompts", "add", str(path))
    error = one_line_error(tuiapp("prompts", "render", "cls", "--var", "nope=1"))
    assert error == "Error: Template 'cls' v1: missing variables: review; unknown variables: nope"
    assert "--var expects key=value" in one_line_error(
        tuiapp("prompts", "render", "cls", "--var", "novalue")
    )
    assert "template refused" in one_line_error(
        tuiapp("prompts", "edit", "cls", "--body", "{{ ''.__class__ }}")
    )
    assert "already exists" in one_line_error(tuiapp("prompts", "add", str(path)))


def test_examples_import_show_export_delete(tmp_path: Path):
    src = tmp_path / "rows.csv"
    src.write_text("question,output,split\n2+2?,4,train\nCapital of France?,Paris,heldout\n")
    result = json.loads(ok("examples", "import", "qa", str(src), "--json"))
    assert result == {
        "set": "qa",
        "added": 2,
        "created": True,
        "counts": {"train": 1, "heldout": 1},
        "shape": "flat",
        "split_drawn": {"rows": 0, "heldout": 0},
        "template": "qa",  # generated: the set came with none
        "template_created": True,
    }
    listed = json.loads(ok("examples", "list", "--json"))
    assert next(s for s in listed if s["name"] == "qa")["counts"] == {"train": 1, "heldout": 1}
    shown = json.loads(ok("examples", "show", "qa", "--split", "heldout", "--json"))
    assert [e["output"] for e in shown["examples"]] == ["Paris"]
    assert "Paris" in ok("examples", "show", "qa")
    out = tmp_path / "qa.jsonl"
    ok("examples", "export", "qa", "-o", str(out))
    assert json.loads(out.read_text().splitlines()[0])["inputs"] == {"question": "2+2?"}
    assert ok("examples", "export", "qa", "--format", "csv").startswith("question,output,split")
    ok("examples", "delete", "qa")
    assert "No example set named 'qa'" in one_line_error(tuiapp("examples", "show", "qa"))


def test_bad_import_is_one_line_exit_2_and_writes_nothing(tmp_path: Path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"review": "kept", "output": "positive"}\n')
    ok("examples", "import", "reviews", str(good))
    before = ExampleStore(open_db()).all_counts()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"review": "fine", "output": "positive"}\nnot json\n{"review": "x"}\n')
    error = one_line_error(tuiapp("examples", "import", "reviews", str(bad)))
    assert error.startswith(f"Error: {bad}: nothing imported, 2 bad lines: line 2: invalid JSON")
    assert "line 3: missing output" in error
    one_line_error(tuiapp("examples", "import", "brand-new", str(bad)))
    assert ExampleStore(open_db()).all_counts() == before
    assert "cannot tell the format" in one_line_error(
        tuiapp("examples", "import", "x", str(tmp_path / "rows.txt"))
    )
