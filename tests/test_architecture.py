"""The layering in pyproject.toml's import-linter contracts holds, and covers every module."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]
SHARED_CLI_MODULES = {"__init__", "root", "main", "output", "jobs"}


def _contract(kind: str) -> dict:
    found = [c for c in CONTRACTS if c["type"] == kind]
    assert len(found) == 1, f"expected one {kind} contract"
    return found[0]


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_top_level_package_has_a_layer() -> None:
    """A new package must be placed in the layers, or nothing stops it importing anything."""
    named = {
        part.strip().split(".")[1]
        for layer in _contract("layers")["layers"]
        for part in layer.replace("|", ":").split(":")
    }
    packages = {
        p.name if p.is_dir() else p.stem
        for p in (ROOT / "tuiapp").iterdir()
        if (p.is_dir() and (p / "__init__.py").is_file())
        or (p.suffix == ".py" and p.stem != "__init__")
    }
    assert packages - named == set(), "add these to the layers in pyproject.toml"


def test_every_cli_command_module_is_in_the_independence_contract() -> None:
    listed = set(_contract("independence")["modules"])
    commands = {
        f"tuiapp.cli.{f.stem}"
        for f in (ROOT / "tuiapp" / "cli").glob("*.py")
        if f.stem not in SHARED_CLI_MODULES
    }
    assert commands - listed == set(), "add these command modules to the independence contract"


def test_no_import_cycles_counting_function_level_and_type_checking_imports() -> None:
    """Siblings of one layer may import each other, but never in a circle: modules, package
    ``__init__``s, imports inside functions and under ``TYPE_CHECKING`` all count."""
    import graphlib

    import grimp

    graph = grimp.build_graph("tuiapp", exclude_type_checking_imports=False, cache_dir=None)
    sorter = graphlib.TopologicalSorter(
        {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None
