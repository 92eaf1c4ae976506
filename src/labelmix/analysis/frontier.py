"""Cost/accuracy Pareto frontier and per-point aggregates over seeds.

The core is `pareto_frontier` (arrays in, indices out); the DataFrame helpers turn a table of
runs (one row per finished run) into mean-over-seeds points that the frontier, the regime rule,
the plots and the report all share, so every view of the results agrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

DEFAULT_BY: tuple[str, ...] = ("task", "method", "budget", "gold_frac", "weak_cost")
BEST_BY: tuple[str, ...] = ("task", "method", "budget", "weak_cost")
# Columns averaged over seeds next to accuracy, when the run table has them.
_MEAN_COLUMNS: tuple[str, ...] = (
    "selection_accuracy",
    "weak_share_spent",
    "spent",
    "auroc",
    "n_weak",
    "n_gold",
    "gold_frac",
)


def choice_column(df: pd.DataFrame) -> str:
    """What every choice (best gold fraction, frontier point, recommendation) is made on: the
    selection split's accuracy where the runs have one, so no choice sees a test label. Stores
    written before the selection split existed fall back to test accuracy; reports say so."""
    if "selection_accuracy" in df.columns and df["selection_accuracy"].notna().any():
        return "selection_accuracy"
    return "accuracy"


def chosen_on_text(column: str) -> str:
    if column == "selection_accuracy":
        return "chosen on the selection split, scored on the test split"
    return "chosen on the test split (these runs have no selection split: choices are optimistic)"


def pareto_frontier(costs: ArrayLike, accs: ArrayLike) -> np.ndarray:
    """Indices of the Pareto-optimal points (lower cost and higher accuracy are better), by cost.

    A point is dominated when another has cost <= and accuracy >= with at least one strict.
    Exact duplicates keep only their first index. Points with a NaN cost or accuracy cannot be
    placed and are left out. Sweeping once in (cost up, accuracy down, index up) order keeps a
    point exactly when it beats the best accuracy of every cheaper-or-equal point before it.
    """
    c = np.asarray(costs, dtype=float).ravel()
    a = np.asarray(accs, dtype=float).ravel()
    if c.shape != a.shape:
        raise ValueError(f"costs and accs differ in length: {c.size} vs {a.size}")
    idx = np.flatnonzero(~(np.isnan(c) | np.isnan(a)))
    if idx.size == 0:
        return np.array([], dtype=int)
    order = idx[np.lexsort((idx, -a[idx], c[idx]))]
    keep: list[int] = []
    best = -np.inf
    for i in order:
        if a[i] > best:
            keep.append(int(i))
            best = a[i]
    return np.array(keep, dtype=int)


def successful_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that count for analysis: status 'ok' (when the column exists) and a finite accuracy."""
    _require(df, ["accuracy"])
    ok = df["status"].astype(str).eq("ok") if "status" in df.columns else True
    keep = ok & pd.to_numeric(df["accuracy"], errors="coerce").notna()
    return df[keep].copy()


def aggregate_points(df: pd.DataFrame, by: Sequence[str] = DEFAULT_BY) -> pd.DataFrame:
    """Mean-over-seeds points: one row per `by` group of successful runs.

    Columns: `by`, accuracy (mean), accuracy_sd (over seeds, ddof=1, NaN for one seed), n_seeds,
    and the mean of weak_share_spent, spent (and auroc, n_weak, n_gold, gold_frac) where present.
    Failed runs are left out here so that no caller can average them in by accident.
    """
    keys = list(by)
    runs = successful_runs(df)
    _require(runs, keys)
    if runs.empty:
        cols = [*keys, "accuracy", "accuracy_sd", "n_seeds"]
        cols += [c for c in _MEAN_COLUMNS if c in runs.columns and c not in keys]
        return pd.DataFrame(columns=cols)
    runs["accuracy"] = runs["accuracy"].astype(float)
    named: dict[str, tuple[str, str]] = {
        "accuracy": ("accuracy", "mean"),
        "accuracy_sd": ("accuracy", "std"),
        "n_seeds": ("accuracy", "size"),
    }
    for col in _MEAN_COLUMNS:
        if col in runs.columns and col not in keys:
            named[col] = (col, "mean")
    if "pool_limited" in runs.columns and "pool_limited" not in keys:
        runs["pool_limited"] = runs["pool_limited"].fillna(False).astype(bool)
        named["pool_limited"] = ("pool_limited", "max")
    out = runs.groupby(keys, dropna=False, sort=True).agg(**named).reset_index()
    out["n_seeds"] = out["n_seeds"].astype(int)
    return out


def best_within_budget(
    df: pd.DataFrame, by: Sequence[str] = BEST_BY, over: str = "gold_frac"
) -> pd.DataFrame:
    """The accuracy each (task, method, budget, weak_cost) reaches when its gold fraction is
    chosen well: the paper's table. The gold fraction with the best mean selection-split
    accuracy is chosen (`choice_column`), and its mean test accuracy is reported, so the table
    is not the best of several noisy test scores. Returns `by`, `over` (the chosen gold
    fraction), accuracy (test), selection_accuracy, accuracy_sd, n_seeds, weak_share_spent,
    spent (and the other means). Ties go to the smallest `over` value.
    """
    keys = list(by)
    points = aggregate_points(df, by=[*keys, over])
    if points.empty:
        return points
    metric = choice_column(points)
    points = points.sort_values([*keys, over], kind="mergesort", na_position="last")
    best_idx = points.groupby(keys, dropna=False, sort=True)[metric].idxmax()
    return points.loc[best_idx.to_numpy()].reset_index(drop=True)


def frontier_table(
    df: pd.DataFrame,
    cost: str = "spent",
    group: Sequence[str] = ("task", "weak_cost"),
    points_by: Sequence[str] = ("method", "budget", "gold_frac"),
) -> pd.DataFrame:
    """The mean-over-seeds points on the (cost, accuracy) frontier within each `group`, by cost.

    Means, not single runs, go into the frontier: the best of several seeds would overstate what
    a recipe reliably reaches. Points sit at the dollars they actually spent (a run the pool
    could not serve spends less than its budget), the frontier is drawn on the selection split
    (`choice_column`) and each point carries its test accuracy too.
    """
    keys = list(group)
    points = aggregate_points(df, by=_unique([*keys, *points_by]))
    if points.empty:
        return points
    if cost not in points.columns:
        raise ValueError(f"cost column {cost!r} is not in the run table")
    metric = choice_column(points)
    parts = []
    for _, sub in points.groupby(keys, dropna=False, sort=True):
        sub = sub.reset_index(drop=True)
        parts.append(sub.iloc[pareto_frontier(sub[cost], sub[metric])])
    return pd.concat(parts, ignore_index=True)


def _unique(cols: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(cols))


def _require(df: pd.DataFrame, cols: Iterable[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(
            f"the run table lacks column(s) {missing}; it has {sorted(map(str, df.columns))}"
        )
