"""Shared by the advisor, advisor-store and pilot-reuse tests: an advisor prior written down,
not fitted (fitting one takes seconds), runs of a study grid drawn from the advisor's own model,
a pool with weak labels of a known accuracy, and the benchmark module."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from labelmix.analysis.advisor import AdvisorPrior, TaskFit, predict_accuracy
from labelmix.labels.budget import Prices, allocate
from labelmix.labels.oracle import Oracle
from labelmix.labels.weak import WeakLabeler

ROOT = Path(__file__).resolve().parents[1]
FRACS = (0.05, 0.2, 0.4, 0.6, 0.8)


def hand_prior(tasks: tuple[str, ...] = ("other",), model: str | None = None) -> AdvisorPrior:
    extra = {} if model is None else {"model": model}
    return AdvisorPrior(
        tasks=tuple(TaskFit(t, 0.8, 100.0, 0.7, 0.01, 10) for t in tasks),
        gamma=0.0,
        log_delta=(math.log(0.3), 0.35),
        log_speed=(math.log(100.0), 0.5),
        method_offset=(),
        sigma=0.02,
        methods=("weak_only", "gold_only", "seq_sft"),
        gold_fracs=(0.2, 0.8),
        **extra,
    )


def synthetic_runs(tasks: dict[str, tuple[float, float, float]], seed: int = 0) -> pd.DataFrame:
    """Runs of a study grid drawn from the model itself: task -> (A, s, q), gamma 0, noise 0.01
    per run, three seeds, the pool of 10,000 items capping weak labels. A task named
    `TASK [LABELER]` is TASK with the weak labeler LABELER (column weak_labeler)."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, (a, s, q) in tasks.items():
        task, _, labeler = name.partition(" [")
        labeler = labeler.rstrip("]") or "probe"
        for c in (0.5, 0.1, 0.01):
            for b in (4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0):
                grid = [("weak_only", 0.0), ("gold_only", 1.0)]
                grid += [(m, g) for m in ("seq_sft", "seq_sft_logconf") for g in FRACS]
                for m, g in grid:
                    alloc = allocate(b, g, Prices(c, 1.0))
                    n_g = alloc.n_gold if m != "weak_only" else 0
                    n_w = min(alloc.n_weak if m != "gold_only" else 0, 10_000 - n_g)
                    mean = predict_accuracy(n_w, n_g, q, a, s, 0.0)
                    for sd in range(3):
                        rows.append(
                            dict(
                                status="ok", task=task, method=m, weak_cost=c, budget=b,
                                gold_frac=g, seed=sd, n_weak=n_w, n_gold=n_g, model="smollm2",
                                accuracy=float(mean + rng.normal(0, 0.01)), weak_labeler=labeler,
                            )
                        )  # fmt: skip
    return pd.DataFrame(rows)


def synthetic_pool(n: int, q: float, seed: int = 0) -> tuple[list[str], Oracle, WeakLabeler]:
    """n pool items with balanced gold labels and soft weak labels right with probability q."""
    rng = np.random.default_rng(seed)
    ids = [f"{i:032x}" for i in range(n)]
    gold = rng.integers(0, 2, n)
    right = rng.random(n) < q
    weak = np.where(right, gold, 1 - gold) * 0.8 + 0.1  # soft: 0.9 or 0.1
    return (
        ids,
        Oracle(dict(zip(ids, gold.tolist(), strict=True)), 1.0),
        WeakLabeler(dict(zip(ids, weak.tolist(), strict=True)), 0.0),
    )


def load_bench() -> ModuleType:
    """benchmarks/advisor.py as a module (registered in sys.modules: its dataclasses look their
    module up); the caller pops `advisor_bench` when done."""
    spec = importlib.util.spec_from_file_location("advisor_bench", ROOT / "benchmarks/advisor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
