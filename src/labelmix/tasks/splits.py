"""The three disjoint splits of a task: weak_train, pool and test."""

from __future__ import annotations

import random
from dataclasses import dataclass

from labelmix.errors import ConfigError, DataError
from labelmix.tasks.base import Example, balance, dedupe


@dataclass(frozen=True)
class SplitSizes:
    """Upper bounds on split sizes; a smaller dataset gives smaller splits (balanced 50/50)."""

    weak_train: int = 2000
    pool: int = 8000
    test: int = 1000

    def __post_init__(self) -> None:
        for name in ("weak_train", "pool", "test"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 2:
                raise ConfigError(f"split size {name}={v!r} must be an integer >= 2")


@dataclass(frozen=True)
class Splits:
    weak_train: list[Example]
    pool: list[Example]
    test: list[Example]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        a = {e.id for e in self.weak_train}
        b = {e.id for e in self.pool}
        c = {e.id for e in self.test}
        if a & b or a & c or b & c:
            raise DataError("splits overlap: weak_train, pool and test must be disjoint by id")

    def sizes(self) -> dict[str, int]:
        return {"weak_train": len(self.weak_train), "pool": len(self.pool), "test": len(self.test)}


def _even(n: int) -> int:
    return n - n % 2


def _take_balanced(examples: list[Example], n: int) -> list[Example]:
    """First n/2 of each class (examples already shuffled), order kept."""
    half = _even(n) // 2
    pos = [e for e in examples if e.label == 1][:half]
    neg = [e for e in examples if e.label == 0][:half]
    keep = {e.id for e in pos} | {e.id for e in neg}
    return [e for e in examples if e.id in keep]


def make_splits(
    train_like: list[Example],
    test_like: list[Example] | None,
    sizes: SplitSizes,
    seed: int,
) -> Splits:
    """Balance, dedupe and carve the splits, deterministic per seed.

    `test_like` is the dataset's held-out split; when absent, a test split is carved from
    `train_like` and the returned notes say so. Any text that lands in test is removed from the
    training side, so the splits are disjoint by id even when the source splits share texts."""
    notes: list[str] = []
    train_like = balance(dedupe(train_like), seed)
    if test_like is None:
        n_test = min(sizes.test, _even(len(train_like) // 4))
        test = _take_balanced(train_like, n_test)
        notes.append(
            f"no held-out split: carved a test split of {len(test)} from the training data"
        )
    else:
        test = _take_balanced(balance(dedupe(test_like), seed), sizes.test)
    test_ids = {e.id for e in test}
    rest = balance([e for e in train_like if e.id not in test_ids], seed + 1)
    if len(rest) < 4 or len(test) < 2:
        raise DataError(
            f"too few examples to make splits ({len(rest)} for training, {len(test)} for test); "
            "a task needs at least a few dozen balanced rows"
        )
    # weak_train gets its share first, but never more than a third of what is left.
    n_weak = min(sizes.weak_train, _even(len(rest) // 3))
    weak_train = _take_balanced(rest, n_weak)
    weak_ids = {e.id for e in weak_train}
    pool = _take_balanced([e for e in rest if e.id not in weak_ids], sizes.pool)
    rng = random.Random(f"order:{seed}")
    for part in (weak_train, pool, test):
        rng.shuffle(part)
    return Splits(weak_train=weak_train, pool=pool, test=test, notes=tuple(notes))
