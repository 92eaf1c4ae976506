"""The sweep store: one folder of finished runs, one JSON file per run, keyed by the run's config.

Layout:

    <root>/sweep.json          the sweep configs that wrote into this store (their union)
    <root>/runs/<key>.json     one finished run's result, written atomically (temp + rename)
    <root>/failed/<key>.json   a run that raised: error, traceback, config (retried on resume)
    <root>/quarantine/         run files of the wrong shape, set aside on read (redone on resume)
    <root>/runs.index.json     size and modification time of each run file already validated
    <root>/table.parquet       every finished run, one row each, rebuilt from runs/
    <root>/.lock               held (flock) by the sweep writing into the store

Files only appear complete (atomic rename), so a sweep killed at any point leaves at most stray
`*.tmp` files, which are ignored and removed the next time the store is opened. Runs are keyed by
their config, not by the sweep, so sweeps with different grids can share a store."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelmix.atomic import atomic_write_bytes, atomic_write_json
from labelmix.errors import DataError, LabelmixError, LabelmixWarning
from labelmix.result import RENAMED, RunResult

if TYPE_CHECKING:
    import pandas as pd

    from labelmix.config import RunConfig

# Leading columns of the table, in this order; any other field follows, sorted.
LEAD_COLUMNS = (
    "key",
    "status",
    "task",
    "method",
    "trainer",
    "model",
    "seed",
    "budget",
    "gold_frac",
    "weak_cost",
    "gold_cost",
    "n_weak",
    "n_gold",
    "spent",
    "weak_share_spent",
    "accuracy",
    "selection_accuracy",
    "auroc",
    "accuracy_threshold",
    "pool_limited",
    "time_s",
)


class StoreBusyError(LabelmixError):
    """Another sweep holds the store's lock."""


def _flatten(result: dict[str, Any]) -> dict[str, Any]:
    """Scalars as they are; dicts and lists (config, intervals) as JSON strings, so a table
    column always has one type."""
    out: dict[str, Any] = {}
    for k, v in result.items():
        if v is None or isinstance(v, bool | int | float | str):
            out[k] = v
        else:
            out[k] = json.dumps(v, sort_keys=True, default=str)
    return out


class Store:
    """A folder of run results; see the module docstring for its layout."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.failed_dir = self.root / "failed"
        for d in (self.root, self.runs_dir, self.failed_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:  # a file in the way, a read-only folder
                raise DataError(
                    f"cannot use {self.root} as a sweep store ({d}: {e.strerror or e}); "
                    "pick a writable folder"
                ) from None
        self._lock_fd: int | None = None
        self._clean_tmp()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    @property
    def sweep_path(self) -> Path:
        return self.root / "sweep.json"

    @property
    def table_path(self) -> Path:
        return self.root / "table.parquet"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    # -- locking --------------------------------------------------------------------------------

    def _clean_tmp(self) -> None:
        """Remove temp files a killed writer left behind, unless a sweep is writing right now
        (its temp files are about to be renamed)."""
        try:
            with self.lock():
                for d in (self.root, self.runs_dir, self.failed_dir):
                    for tmp in d.glob("*.tmp"):
                        tmp.unlink(missing_ok=True)
        except StoreBusyError:
            pass

    def holder_pid(self) -> int | None:
        """The pid written by the sweep that holds (or last held) the lock."""
        try:
            return int(self.lock_path.read_text().strip() or 0) or None
        except (FileNotFoundError, ValueError):
            return None

    @contextlib.contextmanager
    def lock(self) -> Iterator[Store]:
        """Hold the store exclusively (non-blocking flock on `.lock`); re-entrant in one object.

        The kernel drops an flock when its process dies, so a killed sweep never leaves the
        store locked."""
        if self._lock_fd is not None:
            yield self
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = self.holder_pid()
            who = f" (pid {pid})" if pid else ""
            raise StoreBusyError(
                f"store {self.root} is in use by another sweep{who}; "
                "wait for it or use another --out"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._lock_fd = fd
            yield self
        finally:
            self._lock_fd = None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- reading --------------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        return self.root / "runs.index.json"

    def done_keys(self) -> set[str]:
        """Keys of the runs finished with a valid record; a damaged one is set aside (and so
        redone by the next sweep). Records already validated, unchanged since (same size and
        modification time, kept in runs.index.json), are not read again: resuming a store of
        thousands of runs starts in a second."""
        try:
            index = json.loads(self.index_path.read_text())
            if not isinstance(index, dict):
                index = {}
        except (OSError, ValueError):
            index = {}
        valid: dict[str, list[int]] = {}
        for path in self.runs_dir.glob("*.json"):
            try:
                st = path.stat()
            except OSError:
                continue
            stamp = [st.st_size, st.st_mtime_ns]
            if index.get(path.name) != stamp and self._valid_record(path) is None:
                continue
            valid[path.name] = stamp
        if valid != index:
            with contextlib.suppress(OSError):  # a read-only store is still readable
                atomic_write_json(self.index_path, valid)
        return {name[: -len(".json")] for name in valid}

    def failed_keys(self) -> set[str]:
        return {p.stem for p in self.failed_dir.glob("*.json")}

    def is_done(self, key: str) -> bool:
        """A valid record of the run is stored (a damaged one is set aside, see results)."""
        path = self.runs_dir / f"{key}.json"
        return path.exists() and self._valid_record(path) is not None

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(
                f"{path} is not valid JSON ({e}); delete it and resume the sweep to redo the run"
            ) from None

    def results(self) -> list[dict[str, Any]]:
        """Every finished run with a valid record (labelmix.result), sorted by key. A record that
        is not JSON, has the wrong shape or another run's key is moved to quarantine/ with a
        warning, so it neither counts as done nor breaks a report."""
        records = (self._valid_record(p) for p in sorted(self.runs_dir.glob("*.json")))
        return [r.to_dict() for r in records if r is not None]

    def _valid_record(self, path: Path) -> RunResult | None:
        """The run record in `path`, or None after moving a damaged one to quarantine/."""
        try:
            record = RunResult.from_dict(self._read(path), where=str(path))
            if record.key != path.stem:
                raise DataError(f"{path}: holds the record of run {record.key!r}")
        except DataError as e:
            self._quarantine(path, str(e))
            return None
        return record

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    def _quarantine(self, path: Path, why: str) -> None:
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / path.name
        if target.exists():  # an earlier bad copy of the same run: keep both
            target = self.quarantine_dir / f"{path.stem}.{time.time_ns()}{path.suffix}"
        try:
            os.replace(path, target)
        except OSError:
            target = path  # read-only store: leave it, still not counted
        warnings.warn(
            f"{why}; set aside as {target}: the run will be redone by the next sweep",
            LabelmixWarning,
            stacklevel=3,
        )

    def failures(self) -> list[dict[str, Any]]:
        return [self._read(p) for p in sorted(self.failed_dir.glob("*.json"))]

    def sweeps(self) -> list[dict[str, Any]]:
        if not self.sweep_path.exists():
            return []
        return list(self._read(self.sweep_path).get("sweeps", []))

    # -- writing --------------------------------------------------------------------------------

    def record_sweep(self, sweep: dict[str, Any]) -> None:
        """Add a sweep config to sweep.json unless an equal one is there already."""
        sweeps = self.sweeps()
        canon = json.dumps(sweep, sort_keys=True, default=str)
        if any(json.dumps(s, sort_keys=True, default=str) == canon for s in sweeps):
            return
        sweeps.append(sweep)
        atomic_write_json(self.sweep_path, {"sweeps": sweeps})

    def write_result(self, config: RunConfig, result: dict[str, Any]) -> Path:
        """Record a finished run; a failure recorded by an earlier attempt is cleared."""
        key = config.key()
        if result.get("key", key) != key:
            raise DataError(
                f"the run function returned key {result.get('key')!r} for run {key}; "
                "it must not change the config it was given"
            )
        result = {"key": key, **result}
        result.setdefault("config", config.to_dict())
        # A custom run function may return only its metrics: the run's identity is the config's.
        result.setdefault("status", "ok")
        for name in ("task", "method", "seed", "budget", "weak_cost", "gold_cost", "gold_frac"):
            result.setdefault(name, getattr(config, name))
        return self._record(key, RunResult.from_dict(result, where=f"run {key}").to_dict())

    def _record(self, key: str, result: dict[str, Any]) -> Path:
        """Write a finished run atomically and clear any failure an earlier attempt recorded."""
        path = self.runs_dir / f"{key}.json"
        atomic_write_json(path, result)
        (self.failed_dir / f"{key}.json").unlink(missing_ok=True)
        return path

    def write_failure(
        self, config: RunConfig, error: str, traceback_text: str, time_s: float | None = None
    ) -> Path:
        path = self.failed_dir / f"{config.key()}.json"
        atomic_write_json(
            path,
            {
                "key": config.key(),
                "status": "failed",
                "error": error,
                "traceback": traceback_text,
                "time_s": time_s,
                "failed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "config": config.to_dict(),
            },
        )
        return path

    def merge(self, other: Store) -> int:
        """Copy the finished runs of `other` that this store lacks, and its sweep configs, then
        rebuild the table; returns how many runs were copied.

        For sweeps split by hand across machines or processes (one store each). Runs are keyed
        by config, so a key already here is the same run and is kept as it is; `other`'s failure
        records are not copied (a resume retries them)."""
        if other.root.resolve() == self.root.resolve():
            raise DataError(f"cannot merge store {self.root} into itself")
        if not other.runs_dir.is_dir():
            raise DataError(f"{other.root} is not a sweep store (no runs/ folder)")
        copied = 0
        with self.lock():
            have = self.done_keys()
            for path in sorted(other.runs_dir.glob("*.json")):
                if path.stem in have:
                    continue
                result = other._read(path)
                if result.get("key", path.stem) != path.stem:
                    raise DataError(
                        f"{path} holds the run {result.get('key')!r}, not {path.stem}; "
                        "the file was renamed or edited: fix or delete it, then merge again"
                    )
                self._record(path.stem, result)
                copied += 1
            for sweep in other.sweeps():
                self.record_sweep(sweep)
            self.rebuild_table()
        return copied

    def current_table(self) -> pd.DataFrame:
        """One row per finished run, sorted by key, read from runs/ now (writes nothing)."""
        import pandas as pd

        rows = [_flatten(r) for r in self.results()]
        cols = [c for c in LEAD_COLUMNS if any(c in r for r in rows)]
        cols += sorted({k for r in rows for k in r} - set(cols))
        return pd.DataFrame(rows, columns=cols)

    def rebuild_table(self) -> pd.DataFrame:
        """Rebuild table.parquet from runs/ and return it. Safe at any time: run files are
        complete and the table is replaced atomically."""
        import io

        df = self.current_table()
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        atomic_write_bytes(self.table_path, buf.getvalue())
        return df

    def table(self) -> pd.DataFrame:
        """The table as last rebuilt, or built from runs/ where there is none or it predates a
        field's rename. Reading never rewrites it: a store may be tracked by git."""
        import pandas as pd

        if not self.table_path.exists():
            return self.current_table()
        df = pd.read_parquet(self.table_path)
        if any(old in df.columns for old in RENAMED):  # written before a field was renamed
            return self.current_table()
        return df
