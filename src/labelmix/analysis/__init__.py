"""Analysis of sweep results: the cost/accuracy frontier, the three regimes, figures, a report,
and advice on how to spend a budget. Plain functions over run tables (metrics: labelmix.metrics)."""

from labelmix.analysis.frontier import (
    aggregate_points,
    best_within_budget,
    frontier_table,
    pareto_frontier,
    successful_runs,
)
from labelmix.analysis.plots import plot_frontier, plot_regimes
from labelmix.analysis.regimes import (
    MIXED,
    QUALITY,
    QUANTITY,
    RULE,
    classify_regime,
    decide_regime,
    decided_regimes,
    regime_detail,
    regimes_by_budget,
)
from labelmix.analysis.report import recommend, write_report
from labelmix.metrics import accuracy, auroc, bootstrap_ci

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
    "decide_regime",
    "decided_regimes",
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
