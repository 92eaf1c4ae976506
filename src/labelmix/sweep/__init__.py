"""Sweeps: a grid of runs (TOML, validated up front), a resumable store of results keyed by run
config, and backends (`local`, `ray`) that execute runs while this process alone writes the store.

    sweep = SweepConfig.load("configs/demo.toml", {"seeds": "0,1"})
    print(plan_table(expand(sweep))[-1])           # labels and dollars the grid will buy
    run_sweep(expand(sweep), Store("out/demo"), backend="ray", sweep=sweep)
"""

from labelmix.sweep.backends import BACKENDS, SweepSummary, run_sweep
from labelmix.sweep.grid import (
    SweepConfig,
    check_affordable,
    describe_run,
    expand,
    plan_table,
)
from labelmix.sweep.store import Store, StoreBusyError

__all__ = [
    "BACKENDS",
    "Store",
    "StoreBusyError",
    "SweepConfig",
    "SweepSummary",
    "check_affordable",
    "describe_run",
    "expand",
    "plan_table",
    "run_sweep",
]
