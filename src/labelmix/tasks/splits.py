"""The four disjoint splits of a task: weak_train, pool, select and test.

A task's examples are first reduced to a fixed *task sample* (balanced, the same for every seed,
so features are computed once); each run seed then draws its own partition of that sample, so a
repeat with another seed varies what a user's repeat would vary: which items train the weak
labeler, which are candidates to buy, which choose the configuration, and which score it."""

from __future__ import annotations

from dataclasses import dataclass

from labelmix.errors import ConfigError, DataError
from labelmix.seeds import partition_rng
from labelmix.tasks.base import Example, balance, dedupe

SAMPLE_SEED = 0  # the task sample is fixed; only its partition varies with the run seed


@dataclass(frozen=True)
class SplitSizes:
    """Upper bounds on split sizes; a smaller dataset gives smaller splits (balanced 50/50).

    `select` is the researcher's dev set: labelled, never charged, used only to choose among
    configurations (gold fraction, method, frontier points); `test` only scores the choice."""

    weak_train: int = 2000
    pool: int = 8000
    test: int = 1000
    select: int = 500

    def __post_init__(self) -> None:
        for name in ("weak_train", "pool", "test", "select"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 2:
                raise ConfigError(f"split size {name}={v!r} must be an integer >= 2")


@dataclass(frozen=True)
class Splits:
    weak_train: list[Example]
    pool: list[Example]
    test: list[Example]
    select: list[Example]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parts = [self.weak_train, self.pool, self.test, self.select]
        ids = [{e.id for e in p} for p in parts]
        if sum(map(len, ids)) != len(set().union(*ids)):
            raise DataError("splits overlap: weak_train, pool, select and test must be disjoint")

    def sizes(self) -> dict[str, int]:
        return {
            "weak_train": len(self.weak_train),
            "pool": len(self.pool),
            "select": len(self.select),
            "test": len(self.test),
        }


def _even(n: int) -> int:
    return n - n % 2


def _take_balanced(examples: list[Example], n: int) -> list[Example]:
    """First n/2 of each class (examples already shuffled), order kept."""
    half = _even(n) // 2
    pos = [e for e in examples if e.label == 1][:half]
    neg = [e for e in examples if e.label == 0][:half]
    keep = {e.id for e in pos} | {e.id for e in neg}
    return [e for e in examples if e.id in keep]


def _without(examples: list[Example], taken: list[Example]) -> list[Example]:
    ids = {e.id for e in taken}
    return [e for e in examples if e.id not in ids]


def _shuffled(examples: list[Example], seed: int, what: str) -> list[Example]:
    out = sorted(examples, key=lambda e: e.id)
    partition_rng(seed, what).shuffle(out)
    return out


def make_splits(
    train_like: list[Example],
    test_like: list[Example] | None,
    sizes: SplitSizes,
    seed: int,
) -> Splits:
    """Balance, dedupe and carve the splits, deterministic per seed.

    `test_like` is the dataset's held-out split; when absent, a test split is carved from
    `train_like` and the returned notes say so. Any text of the held-out split is removed from
    the training side, so the splits are disjoint by id even when the source splits share texts.
    The task sample (what every seed draws from) does not depend on `seed`."""
    notes: list[str] = []
    train_side = balance(dedupe(train_like), SAMPLE_SEED)
    held_out: list[Example] = []
    if test_like is not None:
        held_out = _take_balanced(balance(dedupe(test_like), SAMPLE_SEED), 2 * sizes.test)
        train_side = _without(train_side, held_out)
    need = sizes.weak_train + sizes.pool + sizes.select
    need += sizes.test if test_like is None else 0
    sample = _take_balanced(train_side, need)

    rest = _shuffled(sample, seed, "partition")
    if test_like is None:
        test = _take_balanced(rest, min(sizes.test, _even(len(rest) // 4)))
        notes.append(
            f"no held-out split: carved a test split of {len(test)} from the training data"
        )
        rest = _without(rest, test)
    else:
        test = _take_balanced(_shuffled(held_out, seed, "test"), sizes.test)
    if len(rest) < 6 or len(test) < 2:
        raise DataError(
            f"too few examples to make splits ({len(rest)} for training, {len(test)} for test); "
            "a task needs at least a few dozen balanced rows"
        )
    select = _take_balanced(rest, min(sizes.select, _even(len(rest) // 4)))
    rest = _without(rest, select)
    # weak_train gets its share next, but never more than a third of what is left.
    weak_train = _take_balanced(rest, min(sizes.weak_train, _even(len(rest) // 3)))
    pool = _take_balanced(_without(rest, weak_train), sizes.pool)
    return Splits(weak_train=weak_train, pool=pool, test=test, select=select, notes=tuple(notes))
