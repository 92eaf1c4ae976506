"""Analysis of sweep results: metrics, the cost/accuracy frontier, the three regimes, figures,
a report, and advice on how to spend a budget. Plain functions over arrays and run tables.

Names are imported lazily, so that training code importing `labelmix.analysis.metrics` does not
pay for pandas and matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelmix.analysis.frontier import (
        aggregate_points,
        best_within_budget,
        frontier_table,
        pareto_frontier,
        successful_runs,
    )
    from labelmix.analysis.metrics import accuracy, auroc, bootstrap_ci
    from labelmix.analysis.plots import plot_frontier, plot_regimes
    from labelmix.analysis.regimes import (
        MIXED,
        QUALITY,
        QUANTITY,
        RULE,
        classify_regime,
        regime_detail,
        regimes_by_budget,
    )
    from labelmix.analysis.report import recommend, write_report

__all__ = [
    "MIXED",
    "QUALITY",
    "QUANTITY",
    "RULE",
    "accuracy",
    "aggregate_points",
    "auroc",
    "best_within_budget",
    "bootstrap_ci",
    "classify_regime",
    "frontier_table",
    "pareto_frontier",
    "plot_frontier",
    "plot_regimes",
    "recommend",
    "regime_detail",
    "regimes_by_budget",
    "successful_runs",
    "write_report",
]

_MODULES: dict[str, tuple[str, ...]] = {
    "frontier": (
        "aggregate_points",
        "best_within_budget",
        "frontier_table",
        "pareto_frontier",
        "successful_runs",
    ),
    "metrics": ("accuracy", "auroc", "bootstrap_ci"),
    "plots": ("plot_frontier", "plot_regimes"),
    "regimes": (
        "MIXED",
        "QUALITY",
        "QUANTITY",
        "RULE",
        "classify_regime",
        "regime_detail",
        "regimes_by_budget",
    ),
    "report": ("recommend", "write_report"),
}
_WHERE: dict[str, str] = {name: mod for mod, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"labelmix.analysis.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'labelmix.analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
