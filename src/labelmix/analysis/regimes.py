"""The three regimes of Mallen & Belrose: which way of spending wins at each budget.

The rule is a plain function of mean-over-seeds points, so a report can quote it (`RULE`) and a
test can pin it down with hand-made numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from labelmix.analysis.frontier import _require, aggregate_points

QUANTITY = "quantity-dominant"
QUALITY = "quality-dominant"
MIXED = "mixed"
REGIMES: tuple[str, ...] = (QUANTITY, MIXED, QUALITY)

RULE = (
    "At one budget, over the mean-over-seeds accuracy of every (method, gold fraction) point, "
    "let W be the best all-weak point (weak_frac = 1), G the best all-gold point (weak_frac = 0) "
    "and M the best mixed point (0 < weak_frac < 1). The regime is 'mixed' when M beats both W "
    "and G by more than tol; otherwise 'quantity-dominant' if W >= G, else 'quality-dominant'. "
    "A side with no point does not compete; if only one kind of point exists, its regime is "
    "returned. tol is a number of accuracy points (default 0), or 'se': the standard error over "
    "seeds of M's mean (sd / sqrt(n_seeds); 0 for a single seed)."
)

# weak_frac is a ratio of dollar sums: allow rounding error at the two ends.
_END_ATOL = 1e-9

Tol = float | str


def regime_detail(points: pd.DataFrame | Iterable[Mapping[str, Any]], tol: Tol = 0.0) -> dict:
    """The regime with its evidence: W, G, M (accuracy and row), the tolerance used and the margin.

    `points` holds one row per (method, gold_frac) at one budget with columns weak_frac and
    accuracy (mean over seeds); tol='se' also needs accuracy_sd and n_seeds. Points with an
    unknown weak_frac (NaN) cannot be placed and are left out.
    """
    pts = points if isinstance(points, pd.DataFrame) else pd.DataFrame(list(points))
    _require(pts, ["weak_frac", "accuracy"])
    w = pd.to_numeric(pts["weak_frac"], errors="coerce")
    acc = pd.to_numeric(pts["accuracy"], errors="coerce")
    pts = pts[w.notna() & acc.notna()].reset_index(drop=True)
    if pts.empty:
        raise ValueError("no points with a weak_frac and an accuracy: cannot classify a regime")
    w = pts["weak_frac"].astype(float).to_numpy()
    is_weak = np.isclose(w, 1.0, rtol=0.0, atol=_END_ATOL)
    is_gold = np.isclose(w, 0.0, rtol=0.0, atol=_END_ATOL)
    is_mixed = ~(is_weak | is_gold)

    def best(mask: np.ndarray) -> pd.Series | None:
        sub = pts[mask]
        return None if sub.empty else sub.loc[sub["accuracy"].astype(float).idxmax()]

    W, G, M = best(is_weak), best(is_gold), best(is_mixed)
    tol_value = _resolve_tol(tol, M)
    acc_w = None if W is None else float(W["accuracy"])
    acc_g = None if G is None else float(G["accuracy"])
    acc_m = None if M is None else float(M["accuracy"])
    sides = [a for a in (acc_w, acc_g) if a is not None]

    margin = float("nan")
    if acc_m is not None and sides:
        margin = acc_m - max(sides)
    if acc_m is not None and (not sides or margin > tol_value):
        regime = MIXED
    elif acc_w is not None and (acc_g is None or acc_w >= acc_g):
        regime = QUANTITY
    else:
        regime = QUALITY
    return {
        "regime": regime,
        "best_weak": acc_w,
        "best_gold": acc_g,
        "best_mixed": acc_m,
        "weak_point": W,
        "gold_point": G,
        "mixed_point": M,
        "margin": margin,
        "tol": tol_value,
    }


def classify_regime(points: pd.DataFrame | Iterable[Mapping[str, Any]], tol: Tol = 0.0) -> str:
    """The regime at one budget: 'quantity-dominant', 'mixed' or 'quality-dominant' (`RULE`).

    Over mean-over-seeds points (one per method and gold fraction): W = best all-weak point
    (weak_frac == 1), G = best all-gold point (weak_frac == 0), M = best mixed point. 'mixed' when
    M beats both W and G by more than `tol`; otherwise 'quantity-dominant' if W >= G, else
    'quality-dominant'. An absent side does not compete; one kind alone gives its own regime.
    tol='se' uses the standard error of M's mean (0 for one seed). The margin is there so that
    seed noise alone does not make a budget 'mixed'; W == G goes to quantity (cheap labels do as
    well). No points -> ValueError.
    """
    return str(regime_detail(points, tol)["regime"])


def regimes_by_budget(
    df: pd.DataFrame,
    tol: Tol = 0.0,
    by: Sequence[str] = ("task", "weak_cost"),
    methods: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The regime at each budget within each `by` group, from a table of runs.

    Points are (method, gold_frac) means over seeds of the successful runs (all methods, or only
    `methods`). One row per (by..., budget): regime, best_weak / best_gold / best_mixed accuracy,
    the method of each, the mixed point's weak_frac and gold_frac, margin (M minus the best
    present side) and the tol used.
    """
    keys = list(by)
    runs = df if methods is None else df[df["method"].isin(list(methods))]
    points = aggregate_points(runs, by=[*keys, "budget", "method", "gold_frac"])
    rows = []
    if points.empty:
        return pd.DataFrame(columns=[*keys, "budget", "regime"])
    for key, sub in points.groupby([*keys, "budget"], dropna=False, sort=True):
        try:
            d = regime_detail(sub, tol)
        except ValueError:
            continue
        row = dict(zip([*keys, "budget"], key, strict=True))
        row.update(
            regime=d["regime"],
            best_weak=d["best_weak"],
            weak_method=_get(d["weak_point"], "method"),
            best_gold=d["best_gold"],
            gold_method=_get(d["gold_point"], "method"),
            best_mixed=d["best_mixed"],
            mixed_method=_get(d["mixed_point"], "method"),
            mixed_weak_frac=_get(d["mixed_point"], "weak_frac"),
            mixed_gold_frac=_get(d["mixed_point"], "gold_frac"),
            margin=d["margin"],
            tol=d["tol"],
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _resolve_tol(tol: Tol, mixed: pd.Series | None) -> float:
    """A number as given, or 'se' -> the standard error of the best mixed point's mean."""
    if isinstance(tol, str):
        if tol != "se":
            raise ValueError(f"tol must be a number >= 0 or 'se', got {tol!r}")
        if mixed is None:
            return 0.0
        if "accuracy_sd" not in mixed.index or "n_seeds" not in mixed.index:
            raise ValueError("tol='se' needs accuracy_sd and n_seeds columns (aggregate_points)")
        sd, n = float(mixed["accuracy_sd"]), float(mixed["n_seeds"])
        se = sd / math.sqrt(n) if n > 0 else float("nan")
        return 0.0 if math.isnan(se) else se
    value = float(tol)
    if not value >= 0.0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    return value


def _get(row: pd.Series | None, col: str) -> Any:
    if row is None or col not in row.index:
        return None
    return row[col]
