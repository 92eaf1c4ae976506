"""A content-addressed on-disk store of float vectors (features, prompt scores), sharded so that
concurrent writers never corrupt it: each write is a new shard, written to a temp file then
renamed. Readers load every shard once and keep an in-memory index."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class VectorCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._mem: dict[str, np.ndarray] = {}
        self._seen: set[str] = set()

    def refresh(self) -> None:
        if not self.folder.exists():
            return
        for shard in sorted(self.folder.glob("*.npz")):
            if shard.name in self._seen:
                continue
            try:
                with np.load(shard) as z:
                    for key, row in zip(z["ids"], z["x"], strict=True):
                        self._mem[str(key)] = row
            except (OSError, ValueError, KeyError):
                continue  # a foreign or damaged file: ignore it, the values get recomputed
            self._seen.add(shard.name)

    def missing(self, keys: Sequence[str]) -> list[str]:
        self.refresh()
        return list(dict.fromkeys(k for k in keys if k not in self._mem))

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
        for k, row in zip(keys, x, strict=True):
            self._mem[k] = np.asarray(row, dtype=np.float32)

    def get(self, keys: Sequence[str]) -> np.ndarray:
        return np.stack([self._mem[k] for k in keys])
