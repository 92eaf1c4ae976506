"""The gold label source: ground truth in simulation, or a user's imported expert labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from labelmix.errors import DataError
from labelmix.labels.budget import Ledger
from labelmix.tasks.base import Example


class Oracle:
    """Sells correct labels at the gold price; every sale goes through the ledger."""

    source = "gold"

    def __init__(self, labels: Mapping[str, int], price: float) -> None:
        bad = {k: v for k, v in labels.items() if v not in (0, 1)}
        if bad:
            k, v = next(iter(bad.items()))
            raise DataError(f"gold label {v!r} for example {k} is outside {{0, 1}}")
        self._labels = dict(labels)
        self.price = price

    @staticmethod
    def from_examples(examples: Sequence[Example], price: float) -> Oracle:
        return Oracle({e.id: e.label for e in examples}, price)

    def buy(self, ids: Sequence[str], ledger: Ledger, purpose: str) -> np.ndarray:
        missing = [i for i in ids if i not in self._labels]
        if missing:
            raise DataError(
                f"the oracle has no gold label for {len(missing)} example(s), e.g. {missing[0]}"
            )
        ledger.charge(self.source, ids, self.price, purpose)
        return np.array([self._labels[i] for i in ids], dtype=np.float32)
