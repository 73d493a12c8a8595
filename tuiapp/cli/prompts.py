"""``tuiapp prompts``: versioned prompt templates (list, show, add, edit, restore, render, ...)."""

from pathlib import Path
from typing import Any

import click
import yaml

from tuiapp.cli.output import emit_export, json_option, print_json, print_table
from tuiapp.cli.root import cli
from tuiapp.errors import BadInput
from tuiapp.library.records import Template
from tuiapp.library.seed import open_library
from tuiapp.library.templates import (
    EDITABLE,
    TemplateStore,
    from_yaml,
    load_file,
    to_yaml,
    transaction,
)


def _store() -> TemplateStore:
    return TemplateStore(open_library())


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    """``k=v`` pairs; ``k=@path`` reads the value from a file."""
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput(f"{option} expects key=value, got {item!r}.")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                why = exc.strerror or exc
                raise BadInput(f"{option} {key}: cannot read {value[1:]} ({why}).") from None
        pairs[key] = value
    return pairs


def _summary(t: Template, source: str | None = None) -> dict[str, Any]:
    first = t.description or t.body.strip().splitlines()[0]
    return {
        "name": t.name,
        "version": t.version,
        "source": source,
        "tags": ", ".join(t.tags),
        "description": first[:60],
    }


def _done(t: Template, what: str, as_json: bool) -> None:
    if as_json:
        print_json(t.to_dict())
    else:
        click.echo(f"{what} template '{t.name}' (version {t.version}).")


def _report(templates: list[Template], what: str, as_json: bool) -> None:
    if as_json:
        print_json([t.to_dict() for t in templates])
    for t in [] if as_json else templates:
        _done(t, what, False)


@cli.group()
def prompts() -> None:
    """Prompt templates: every edit makes a version; old versions stay readable."""


@prompts.command("list")
@click.option("--tag", default=None, help="Only templates with this tag.")
@json_option
def list_(tag: str | None, as_json: bool) -> None:
    """List templates (current versions)."""
    store = _store()
    sources = store.sources()
    templates = [t for t in store.list() if tag is None or tag in t.tags]
    if as_json:
        print_json([t.to_dict() | {"source": sources.get(t.name)} for t in templates])
    else:
        rows = [_summary(t, sources.get(t.name)) for t in templates]
        print_table(rows, ["name", "version", "source", "tags", "description"])


@prompts.command()
@click.argument("name")
@click.option("--version", "version", type=int, default=None, help="An older version.")
@json_option
def show(name: str, version: int | None, as_json: bool) -> None:
    """Show a template as YAML (the format of `add` and `export`)."""
    t = _store().get(name, version)
    if as_json:
        print_json(t.to_dict())
    else:
        click.echo(f"# version {t.version}, {t.created}")
        click.echo(to_yaml(t), nl=False)


@prompts.command()
@click.argument("name")
@json_option
def versions(name: str, as_json: bool) -> None:
    """List every version of a template, oldest first."""
    found = _store().versions(name)
    if as_json:
        print_json([t.to_dict() for t in found])
    else:
        rows = [
            {
                "version": t.version,
                "created": t.created,
                "body": t.body.strip().splitlines()[0][:60],
            }
            for t in found
        ]
        print_table(rows, ["version", "created", "body"])


@prompts.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def add(files: tuple[Path, ...], as_json: bool) -> None:
    """Add new templates from YAML files (the name must be new)."""
    store = _store()
    loaded = [load_file(f) for f in files]  # check every file before adding any
    with transaction(store.db):
        _report([store.create(t) for t in loaded], "Added", as_json)


@prompts.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def import_(files: tuple[Path, ...], as_json: bool) -> None:
    """Add templates from YAML files, or a new version where the name exists."""
    store = _store()
    loaded = [load_file(f) for f in files]
    with transaction(store.db):
        done = [
            store.update(t.name, **{k: getattr(t, k) for k in EDITABLE})
            if store.exists(t.name)
            else store.create(t)
            for t in loaded
        ]
    _report(done, "Imported", as_json)


@prompts.command()
@click.argument("name")
@click.option("--body", default=None, help="New body (Jinja).")
@click.option("--system", default=None, help="New system text.")
@click.option("--description", default=None)
@click.option("--output-field", default=None)
@click.option("--stop", multiple=True, help="Stop string (repeat; replaces the list).")
@click.option("--tag", "tags", multiple=True, help="Tag (repeat; replaces the list).")
@click.option("--param", "params", multiple=True, help="Sampling default key=value (merged).")
@json_option
def edit(
    name: str,
    body: str | None,
    system: str | None,
    description: str | None,
    output_field: str | None,
    stop: tuple[str, ...],
    tags: tuple[str, ...],
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Edit a template: with options, or in $EDITOR as YAML when none is given."""
    store = _store()
    current = store.get(name)
    given = {
        "body": body,
        "system": system,
        "description": description,
        "output_field": output_field,
        "stop": list(stop) or None,
        "tags": list(tags) or None,
    }
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if params:
        values = {k: yaml.safe_load(v) for k, v in _pairs(params, "--param").items()}
        changes["params"] = current.params | values
    if not changes:
        header = (
            f"# Template '{name}', version {current.version}. Save and quit to make "
            f"version {current.version + 1}; the name cannot change here.\n"
        )
        text = click.edit(header + to_yaml(current), extension=".yaml", require_save=True)
        if text is None:
            click.echo("No changes.", err=True)
            return
        edited = from_yaml(text, "edited template", default_name=name)
        if edited.name != name:
            raise BadInput(f"The name cannot change in an edit ({name!r} -> {edited.name!r}).")
        changes = {k: getattr(edited, k) for k in EDITABLE}
    new = store.update(name, **changes)
    if new.version == current.version and not as_json:
        click.echo("No changes.", err=True)
        return
    _done(new, "Saved", as_json)


@prompts.command()
@click.argument("name")
@click.argument("version", type=int)
@json_option
def restore(name: str, version: int, as_json: bool) -> None:
    """Make an old version current again (as a new version)."""
    _done(_store().restore(name, version), "Restored", as_json)


@prompts.command()
@click.argument("name")
@click.option("--var", "variables", multiple=True, help="key=value (or key=@file); repeat.")
@click.option("--version", "version", type=int, default=None)
@json_option
def render(name: str, variables: tuple[str, ...], version: int | None, as_json: bool) -> None:
    """Render a template with its variables filled in."""
    store = _store()
    t = store.get(name, version)
    text = store.render(name, _pairs(variables, "--var"), t.version)
    if as_json:
        print_json({"template": name, "version": t.version, "system": t.system, "prompt": text})
    else:
        click.echo(text, nl=not text.endswith("\n"))


@prompts.command()
@click.argument("name")
@click.option("--version", "version", type=int, default=None)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@json_option
def export(name: str, version: int | None, output: Path | None, as_json: bool) -> None:
    """Write a template as YAML (stdout, or -o FILE)."""
    t = _store().get(name, version)
    text = to_yaml(t)
    emit_export(text, output, as_json, {"template": name, "version": t.version, "yaml": text})


@prompts.command()
@click.argument("name")
@json_option
def delete(name: str, as_json: bool) -> None:
    """Delete a template and all its versions."""
    _store().delete(name)
    if as_json:
        print_json({"deleted": name})
    else:
        click.echo(f"Deleted template '{name}'.")
