"""Stand-in run functions for the sweep tests: cheap, deterministic and importable by worker
processes (spawn pool, Ray), which pickle them by module name. The real run is tested elsewhere;
here only the store and the backends are under test."""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from typing import Any

from labelmix.config import RunConfig
from labelmix.sweep import Store, SweepConfig, expand, run_sweep

SMALL_GRID: dict[str, Any] = {
    "tasks": ["cities"],
    "methods": ["weak_only", "gold_only", "seq_sft"],
    "budgets": [16, 64],
    "gold_fracs": [0.5, 0.2],
    "weak_costs": [0.1],
    "seeds": [0, 1],
}
SMALL_GRID_RUNS = 16  # seq_sft 2 budgets x 2 fracs x 2 seeds, plus 4 each for the fixed methods


def small_sweep() -> SweepConfig:
    return SweepConfig.from_dict(SMALL_GRID)


def fake_run(config: RunConfig) -> dict[str, Any]:
    """A result shaped like execute_run's, with accuracy a fixed function of the config."""
    alloc = config.allocation()
    assert config.gold_frac is not None
    jitter = int(hashlib.sha256(f"{config.seed}".encode()).hexdigest()[:4], 16) / 65535 * 0.02
    accuracy = 0.5 + 0.4 * (1 - math.exp(-config.budget / 256)) * (0.6 + 0.4 * config.gold_frac)
    spent = alloc.cost(config.prices)
    return {
        "key": config.key(),
        "status": "ok",
        "task": config.task,
        "method": config.method,
        "trainer": config.trainer,
        "model": config.model,
        "seed": config.seed,
        "budget": config.budget,
        "gold_frac": config.gold_frac,
        "weak_cost": config.weak_cost,
        "gold_cost": config.gold_cost,
        "n_weak": alloc.n_weak,
        "n_gold": alloc.n_gold,
        "spent": spent,
        "weak_share_spent": alloc.n_weak * config.weak_cost / spent,
        "accuracy": round(accuracy + jitter, 6),
        "auroc": round(min(1.0, accuracy + 0.05 + jitter), 6),
        "accuracy_threshold": "log-odds > 0",
        "accuracy_ci": [round(accuracy - 0.03, 6), round(accuracy + 0.03, 6)],
        "time_s": 0.0,
        "config": config.to_dict(),
    }


def flaky_run(config: RunConfig) -> dict[str, Any]:
    """fake_run, except that seed 1 at budget 64 raises (as a real run might)."""
    if config.seed == 1 and config.budget == 64:
        raise RuntimeError(f"synthetic failure in {config.method}")
    return fake_run(config)


def slow_run(config: RunConfig) -> dict[str, Any]:
    time.sleep(float(os.environ.get("SWEEP_HELPER_DELAY", "0.2")))
    return fake_run(config)


def sweep_main(root: str) -> None:
    """Entry point of the subprocess the kill test SIGKILLs halfway."""
    sweep = small_sweep()
    run_sweep(expand(sweep), Store(root), run_fn=slow_run, progress=False, sweep=sweep)


def hold_lock_main(root: str) -> None:
    """Hold the store's lock until stdin closes, like a long sweep would."""
    store = Store(root)
    with store.lock():
        print("locked", flush=True)
        sys.stdin.read()


def pid_run(config: RunConfig) -> dict[str, Any]:
    """Record this worker's pid in $SWEEP_HELPER_PIDS, then take long (a run still going)."""
    from pathlib import Path

    (Path(os.environ["SWEEP_HELPER_PIDS"]) / str(os.getpid())).write_text("")
    time.sleep(float(os.environ.get("SWEEP_HELPER_DELAY", "120")))
    return fake_run(config)


def pool_main(root: str) -> None:
    """Entry point of the subprocess the worker test SIGKILLs: a 2-worker local pool sweep."""
    sweep = small_sweep()
    run_sweep(expand(sweep), Store(root), workers=2, run_fn=pid_run, progress=False, sweep=sweep)
