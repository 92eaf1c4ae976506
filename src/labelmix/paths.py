"""Where labelmix keeps caches (features, weak labels, converted models)."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """`LABELMIX_CACHE_DIR`, else `$XDG_CACHE_HOME/labelmix`, else `~/.cache/labelmix`."""
    env = os.environ.get("LABELMIX_CACHE_DIR")
    if env:
        root = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "labelmix"
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_dir_from_env() -> Path | None:
    env = os.environ.get("LABELMIX_DATA_DIR")
    return Path(env) if env else None
