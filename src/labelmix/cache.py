"""A content-addressed on-disk store of float vectors (features, prompt scores), sharded so that
concurrent writers never corrupt it: each write is a new shard, written to a temp file then
renamed. Readers load every shard once and keep an in-memory index.

A shard that cannot be read back whole (truncated, bit-flipped, not a shard at all) is removed
with a warning: its values are then missing and get recomputed, instead of one bad file failing
every later run."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelmix.errors import LabelmixWarning


def load_npz(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The named arrays of an .npz, read in full (so the zip checksums are verified) and without
    pickles; any failure to read them is a ValueError naming the file and the cause."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: np.asarray(z[name]) for name in names}
    except Exception as e:  # BadZipFile, EOFError, OSError, ValueError, KeyError, zlib.error...
        raise ValueError(f"{type(e).__name__}: {e}") from None


def discard_damaged(path: Path, what: str, why: str) -> None:
    """Remove a damaged cache file and say so in one line; its values will be recomputed."""
    path.unlink(missing_ok=True)
    warnings.warn(
        f"{what} {path} was damaged ({why}); removed it, its values will be recomputed",
        LabelmixWarning,
        stacklevel=3,
    )


class VectorCache:
    """Rows are kept as blocks (one per shard read or written) with a key -> (block, row) index;
    `get` gathers from one stacked matrix, rebuilt only after new rows arrive, so looking up
    ten thousand rows is one indexing operation rather than ten thousand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._blocks: list[np.ndarray] = []
        self._index: dict[str, int] = {}  # key -> row of the stacked matrix
        self._rows = 0
        self._matrix: np.ndarray | None = None
        self._seen: set[str] = set()

    def _add(self, keys: Sequence[str], x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32)
        self._blocks.append(x)
        for i, key in enumerate(keys):
            self._index[str(key)] = self._rows + i  # a later copy of a key wins, as before
        self._rows += len(x)
        self._matrix = None

    def refresh(self) -> None:
        if not self.folder.exists():
            return
        for shard in sorted(self.folder.glob("*.npz")):
            if shard.name in self._seen:
                continue
            try:
                z = load_npz(shard, ("ids", "x"))
                ids, x = z["ids"], z["x"]
                if ids.ndim != 1 or x.ndim != 2 or len(ids) != len(x):
                    raise ValueError(f"ids {ids.shape} and vectors {x.shape} do not match")
                if ids.dtype.kind != "U" or x.dtype.kind != "f":
                    raise ValueError(f"unexpected contents ({ids.dtype}, {x.dtype})")
                if self._blocks and x.shape[1] != self._blocks[0].shape[1]:
                    raise ValueError(
                        f"{x.shape[1]} columns where the cache holds {self._blocks[0].shape[1]}"
                    )
            except ValueError as e:
                if shard.exists():  # another reader may have removed it already
                    discard_damaged(shard, "cache shard", str(e))
                continue
            self._add(ids.tolist(), x)
            self._seen.add(shard.name)

    def missing(self, keys: Sequence[str]) -> list[str]:
        self.refresh()
        return list(dict.fromkeys(k for k in keys if k not in self._index))

    def put(self, keys: Sequence[str], x: np.ndarray) -> None:
        if not len(keys):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.npz"
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, ids=np.array(list(keys)), x=np.asarray(x, dtype=np.float32))
        tmp.rename(self.folder / name)
        self._seen.add(name)
        self._add(keys, x)

    def get(self, keys: Sequence[str]) -> np.ndarray:
        if self._matrix is None:
            self._matrix = np.concatenate(self._blocks) if self._blocks else np.zeros((0, 0))
            self._blocks = [self._matrix]
        return self._matrix[[self._index[k] for k in keys]]
