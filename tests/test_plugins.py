"""Fine-tuning methods as plugins: entry-point loading, broken plugins, option schemas, CLI.

Fast: nothing here imports torch (the training runs are in test_training.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuiapp.errors import BadInput
from tuiapp.plugins import manager as plugins
from tuiapp.plugins.exporters import Exporter
from tuiapp.plugins.methods import (
    Capabilities,
    Method,
    Option,
    PluginError,
    parse_assignments,
    validate_options,
)
from tuiapp.plugins.registry import MethodRegistry

FIXTURES = Path(__file__).parent / "fixtures_plugin"
BUILTINS = {"lora", "dora", "ia3", "qlora", "prompt_tuning", "adapter_tuning", "steering"}
EXPORTERS = {"gguf-lora", "merged", "soft-prompt", "bottleneck-lora", "control-vector"}


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(plugins, "_registry", None)
    yield
    plugins._registry = None


def with_fixture(monkeypatch, *names: str) -> dict[str, str]:
    """Put fixture plugin dirs on sys.path here and on PYTHONPATH for subprocesses."""
    paths = [str(FIXTURES / name) for name in names]
    for path in paths:
        monkeypatch.syspath_prepend(path)
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return env


def tuiapp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuiapp", *args],
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
        timeout=60,
    )


def test_builtin_methods_load_through_the_entry_point_group_like_a_third_party():
    loaded = plugins.load_plugins()
    registry = plugins.build_registry(loaded)
    assert set(registry.names()) == BUILTINS, registry.broken
    assert registry.broken == []
    for name in BUILTINS:
        method = registry.get(name)
        module, dist = loaded.origin[method.plugin]
        assert dist == "tuiapp-methods" and module.startswith("tuiapp_methods.")
    # the exporters are a plugin of the same distribution, and how each method reaches the
    # chat follows from them alone
    assert {e.name for e in registry.exporters()} == EXPORTERS
    assert all(loaded.origin[e.plugin][1] == "tuiapp-methods" for e in registry.exporters())
    forms = {
        name: (
            registry.reach(name).hot_swap and registry.reach(name).hot_swap.produces,
            registry.reach(name).merge and registry.reach(name).merge.name,
        )
        for name in BUILTINS
    }
    assert forms == {
        "lora": ("lora", "merged"),
        "qlora": ("lora", "merged"),
        "dora": (None, "merged"),
        "ia3": (None, "merged"),
        "prompt_tuning": ("soft_prompt", None),
        "adapter_tuning": ("lora", None),
        "steering": ("control_vector", None),
    }
    caps = registry.get("qlora").capabilities
    assert caps.needs_cuda and "bitsandbytes" in caps.needs_packages


def test_lora_options_cover_rslora_and_target_presets():
    lora = plugins.load_methods().get("lora")
    assert lora.option("targets").choices == ("attention", "attention+mlp", "all-linear")
    values = validate_options(lora.options, {"r": "16", "rslora": "yes", "targets": "all-linear"})
    assert values == {
        "r": 16,
        "alpha": 16.0,
        "dropout": 0.05,
        "targets": "all-linear",
        "rslora": True,
    }


def test_builtins_install_under_their_own_import_name_not_a_generic_one():
    from importlib.metadata import packages_distributions

    installed = packages_distributions()
    assert installed.get("tuiapp_methods") == ["tuiapp-methods"]
    assert "plugins" not in installed


@pytest.mark.parametrize(
    "given, fragment",
    [
        ({"r": "0"}, "below the minimum 1"),
        ({"r": "eight"}, "'eight' is not an int"),
        ({"dropout": "0.95"}, "above the maximum 0.9"),
        ({"rslora": "maybe"}, "not true or false"),
        ({"targets": "everything"}, "not one of attention"),
        ({"rank": "4"}, "Unknown method option: rank"),
    ],
)
def test_bad_option_values_are_refused_with_the_option_named(given, fragment):
    lora = plugins.load_methods().get("lora")
    with pytest.raises(BadInput, match=fragment):
        validate_options(lora.options, given)


def test_opt_assignments_parse():
    assert parse_assignments(["r=16", "learning-rate=1e-3", "init_text=a=b"]) == {
        "r": "16",
        "learning_rate": "1e-3",
        "init_text": "a=b",
    }
    with pytest.raises(BadInput, match="key=value"):
        parse_assignments(["r16"])


def _method(name: str, **kwargs) -> Method:
    kwargs.setdefault("exporters", ("gguf-lora",))
    kwargs.setdefault("build_config", lambda o, m: None)
    return Method(name=name, description="d", **kwargs)


def _broken_by(plugin) -> str:
    loaded = plugins.load_plugins()
    loaded.add(plugin, "third")
    registry = plugins.build_registry(loaded)
    assert BUILTINS <= set(registry.names())  # the others are unaffected
    [broken] = [b for b in registry.broken if b.name == "third"]
    return broken.error


def test_registration_refuses_options_that_clash_or_contradict_training():
    registry = MethodRegistry()
    with pytest.raises(PluginError, match="already a training option"):
        registry.register(_method("a", options=(Option("learning_rate", "float", 1.0, "lr"),)))
    with pytest.raises(PluginError, match="not a training option"):
        registry.register(_method("b", training_defaults={"learnig_rate": 1e-3}))
    with pytest.raises(PluginError, match="training_defaults.*above the maximum"):
        registry.register(_method("c", training_defaults={"learning_rate": 5.0}))
    with pytest.raises(PluginError, match="names no exporter"):
        registry.register(_method("d", exporters=()))
    with pytest.raises(PluginError, match="either build_config"):
        registry.register(_method("e", attach=lambda m, o, c: m))
    with pytest.raises(PluginError, match="attach needs save and load"):
        registry.register(_method("f", build_config=None, attach=lambda m, o, c: m))
    # QLoRA's gradient checkpointing is the shared training option, on by its own default
    qlora = plugins.load_methods().get("qlora")
    assert "gradient_checkpointing" not in {o.name for o in qlora.options}
    assert qlora.training_defaults["gradient_checkpointing"] is True


def test_a_misspelled_hook_or_an_unknown_exporter_makes_the_plugin_broken():
    class Typo:
        @plugins.hookspecs.hookimpl
        def register_method(self, register):  # one letter short of the hook
            register(_method("never"))

    assert "register_method" in _broken_by(Typo())

    class NoSuchExporter:
        @plugins.hookspecs.hookimpl
        def register_methods(self, register):
            register(_method("orphan", exporters=("gguf-lora", "telepathy")))

    assert "telepathy" in _broken_by(NoSuchExporter())

    class BadExporter:
        @plugins.hookspecs.hookimpl
        def register_exporters(self, register):
            register(Exporter("odd", "d", produces="hologram", export=lambda r: {}))

    assert "produces must be one of" in _broken_by(BadExporter())


def test_registry_fails_loudly_on_duplicates_bad_names_and_bad_schemas():
    registry = MethodRegistry()
    registry.register(_method("one"))
    with pytest.raises(PluginError, match="already registered"):
        registry.register(_method("one"))
    with pytest.raises(PluginError, match="must be lower-case"):
        registry.register(_method("Bad Name"))
    with pytest.raises(PluginError, match="default is invalid"):
        registry.register(_method("two", options=(Option("r", "int", 0, "rank", min=1),)))
    with pytest.raises(PluginError, match="needs choices"):
        registry.register(_method("three", options=(Option("c", "choice", "a", "c"),)))
    # all-or-nothing per plugin: a bad method keeps its siblings out too
    with pytest.raises(PluginError):
        registry.register_all([_method("four"), _method("one")], plugin="p")
    assert registry.names() == ["one"]


def test_a_plugin_registered_directly_with_pluggy_goes_through_the_same_path():
    class Plugin:
        @plugins.hookspecs.hookimpl
        def register_methods(self, register):
            register(_method("direct", capabilities=Capabilities(needs_cuda=True)))

    loaded = plugins.load_plugins()
    loaded.add(Plugin(), "direct-plugin")
    registry = plugins.build_registry(loaded)
    assert registry.get("direct").plugin == "direct-plugin"
    assert BUILTINS <= set(registry.names())


def test_a_plugin_that_fails_to_import_is_listed_as_broken_and_the_rest_works(monkeypatch):
    env = with_fixture(monkeypatch, "broken", "good")
    registry = plugins.load_methods(refresh=True)
    assert BUILTINS | {"tiny_lora", "fails_to_load", "low_rank"} == set(registry.names())
    [broken] = registry.broken
    assert broken.name == "broken" and broken.distribution == "tuiapp-broken-plugin"
    assert "ImportError" in broken.error and "imaginary-accelerator" in broken.error
    with pytest.raises(BadInput, match="some plugins are broken"):
        registry.get("nope")

    listed = tuiapp("methods", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "tiny_lora" in listed.stdout and "lora" in listed.stdout
    assert "BROKEN broken" in listed.stderr and "imaginary-accelerator" in listed.stderr
    data = json.loads(tuiapp("methods", "list", "--json", env=env).stdout)
    assert data["broken"][0]["name"] == "broken"
    assert {m["name"] for m in data["methods"]} >= BUILTINS | {"tiny_lora"}


def test_a_plugin_whose_hook_raises_is_broken_alone(monkeypatch):
    class Faulty:
        @plugins.hookspecs.hookimpl
        def register_methods(self, register):
            register(_method("half"))
            raise RuntimeError("registration exploded")

    loaded = plugins.load_plugins()
    loaded.add(Faulty(), "faulty")
    registry = plugins.build_registry(loaded)
    assert "half" not in registry and BUILTINS <= set(registry.names())
    assert registry.broken[0].error == "RuntimeError: registration exploded"


def test_methods_show_json_has_the_form_schema():
    result = tuiapp("methods", "show", "prompt_tuning", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["exporters"] == ["soft-prompt"] and data["peft"] is True
    names = [o["name"] for o in data["options"]]
    assert names == ["num_virtual_tokens", "init_text"]
    lr = next(o for o in data["training_options"] if o["name"] == "learning_rate")
    assert lr["default"] == 3e-2  # the method's own default replaces the shared one
    missing = tuiapp("methods", "show", "nope")
    assert missing.returncode == 2 and "Unknown method 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_listing_methods_and_planning_imports_no_ml_library(tmp_path):
    code = (
        "import sys, tuiapp.cli, tuiapp.cli.train, tuiapp.training, tuiapp.training.store\n"
        "from tuiapp.plugins.manager import load_methods\n"
        "load_methods()\n"
        "print([m for m in ('torch', 'transformers', 'peft', 'accelerate') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr
