"""Where labelmix keeps caches (features, weak labels, converted models), and the checks on the
user's own paths: text files read as UTF-8 and output folders tested before any work, so a bad
path is one line at the start instead of a traceback after training."""

import os
import tempfile
from pathlib import Path

from labelmix.errors import ConfigError, DataError


def cache_dir() -> Path:
    """`LABELMIX_CACHE_DIR`, else `$XDG_CACHE_HOME/labelmix`, else `~/.cache/labelmix`."""
    env = os.environ.get("LABELMIX_CACHE_DIR")
    if env:
        root = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "labelmix"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cache folder {root} cannot be created ({e.strerror or e}); set LABELMIX_CACHE_DIR "
            "to a writable folder"
        ) from None
    return root


def data_dir_from_env() -> Path | None:
    env = os.environ.get("LABELMIX_DATA_DIR")
    return Path(env) if env else None


def read_text(path: Path, what: str = "file") -> str:
    """A user's text file as UTF-8 (a leading BOM is dropped); a missing file, a folder or other
    bytes are a DataError saying where the first bad byte is and how to fix it."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{what} {path} is a folder, not a file") from None
    except OSError as e:
        raise DataError(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8"
        ) from None


def check_output_dir(path: Path, what: str) -> None:
    """Refuse, before any work, a folder that cannot be created or written: a file in its place
    or on its way, or a read-only (or missing) parent. Creates nothing: it probes the deepest
    folder that exists with a temp file, which works for root on read-only mounts too."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a folder; pick a folder path")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"{what} {path} cannot be created: {probe} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".labelmix-write-check-")
    except OSError as e:
        raise ConfigError(
            f"{what} {path} cannot be written ({probe}: {e.strerror or e}); pick a writable folder"
        ) from None
    os.close(fd)
    os.unlink(tmp)


def check_output_file(path: Path, what: str) -> None:
    """Refuse, before any work, an output file whose place is a folder or whose folder cannot be
    written (see check_output_dir)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; give a file path")
    check_output_dir(path.parent, f"the folder of {what}")
