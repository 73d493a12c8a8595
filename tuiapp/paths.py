"""Where tuiapp keeps its files. ``TUIAPP_HOME`` overrides the whole data dir (tests use it)."""

import os
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("TUIAPP_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("tuiapp", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    return data_dir() / "tuiapp.db"


def models_dir() -> Path:
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
