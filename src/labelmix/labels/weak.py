"""The weak label source: soft labels for example ids, sold at the weak price. They come from a
small model trained on `weak_train` gold labels (labelmix.train.weak_labeler) or from a user's
own column of weak labels (`WeakLabeler.from_column`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from labelmix.errors import DataError
from labelmix.labels.budget import Ledger


@dataclass(frozen=True)
class WeakLabelReport:
    n_train: int
    n_val: int
    pool_accuracy: float
    pool_auroc: float
    test_accuracy: float
    test_auroc: float
    time_s: float
    cached: bool

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class WeakLabeler:
    """Soft labels (probability of label 1) for example ids, sold at the weak price."""

    source = "weak"

    def __init__(
        self, probs: Mapping[str, float], price: float, report: WeakLabelReport | None = None
    ):
        bad = [(k, p) for k, p in probs.items() if not 0.0 <= float(p) <= 1.0]
        if bad:
            raise DataError(f"weak label {bad[0][1]!r} for example {bad[0][0]} is outside [0, 1]")
        self._probs = {k: float(v) for k, v in probs.items()}
        self.price = price
        self.report = report

    @staticmethod
    def from_column(probs: Mapping[str, float], price: float) -> WeakLabeler:
        """A user's own weak labels (hard 0/1 or probabilities), keyed by example id."""
        return WeakLabeler(probs, price)

    def priced(self, price: float) -> WeakLabeler:
        """The same labels sold at another price (one trained labeler serves every weak cost)."""
        return WeakLabeler(self._probs, price, self.report)

    def peek(self, ids: Sequence[str]) -> np.ndarray:
        """Weak labels without buying them: only for measuring (e.g. agreement on test), never
        for training or selection."""
        missing = [i for i in ids if i not in self._probs]
        if missing:
            raise DataError(
                f"no weak label for {len(missing)} example(s), e.g. {missing[0]}: the weak labels "
                "must cover every example of the task (pool, selection and test)"
            )
        return np.array([self._probs[i] for i in ids], dtype=np.float32)

    def buy(self, ids: Sequence[str], ledger: Ledger, purpose: str) -> np.ndarray:
        labels = self.peek(ids)  # every id has a label, before anything is charged
        ledger.charge(self.source, ids, self.price, purpose)
        return labels

    def confidences(self, ids: Sequence[str]) -> np.ndarray:
        """Used by most-confident sampling, which ranks before buying (the weak labeler's
        confidence is what it would sell; in the reference setup it is known up front)."""
        return self.peek(ids)
