"""Where every random stream of a run comes from, in one place.

A run has two seeds: `seed` (training: the pool order and sampling, each stage's batch order and
initialisation, the few-shot prefix draw) and `split_seed` (the draw of the splits and the weak
labeler's training; the run seed unless `data_seed` fixes it). The streams of a run derive from
them through the functions below and are passed explicitly. torch's global generator is only
seeded inside `torch_seeded`, which restores it afterwards, so nothing one run does to it leaks
into the next (or into a caller's own code).

Outside a run's training, fixed seeds define the task itself (formatting and distractors,
balancing, `cities`: labelmix.tasks, seed 0 or the task's own) and the bootstrap intervals
(labelmix.metrics and the regime decision take their seed as an argument)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np


def run_rng(seed: int) -> np.random.Generator:
    """The pool's order and every sampling choice of a run."""
    return np.random.default_rng(seed)


def stage_seed(seed: int, stage: int) -> int:
    """Stage `stage` of a run: its batch order and torch's generator while it trains."""
    return seed * 1000 + stage


def prefix_rng(seed: int, example_id: str) -> np.random.Generator:
    """The k-shot prefix of one input: the same input gets the same demonstrations everywhere."""
    return np.random.default_rng([seed, int(example_id[:12], 16)])


def partition_rng(seed: int, what: str) -> random.Random:
    """A split draw (`what` names it: partition, test, balance...), stable across Python runs."""
    return random.Random(f"{what}:{seed}")


@contextlib.contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """torch's generators seeded with `seed` inside the block, restored after it."""
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
