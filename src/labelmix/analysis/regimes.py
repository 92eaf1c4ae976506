"""The three regimes of Mallen & Belrose: which way of spending wins at each budget.

Two rules. `decide_regime` (what reports and `regimes_by_budget` use, quoted as `DECISION_RULE`)
chooses the best all-weak, all-gold and mixed configuration on the selection split, then asks a
paired bootstrap over seeds and test examples how often each side wins on the test split; a
budget whose evidence does not separate the sides is 'undecided'. `classify_regime` (`RULE`)
only orders mean accuracies, with no notion of noise: a description of the means, not a finding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from labelmix.analysis.frontier import _require, aggregate_points, choice_column
from labelmix.analysis.stats import Z95, t95
from labelmix.methods import METHODS

QUANTITY = "quantity-dominant"
QUALITY = "quality-dominant"
MIXED = "mixed"
UNDECIDED = "undecided"
REGIMES: tuple[str, ...] = (QUANTITY, MIXED, QUALITY)
LEVEL = 0.95  # a regime is called when the bootstrap gives it at least this probability
N_BOOT = 2000

DECISION_RULE = (
    "At one budget, the runs are grouped into configurations (method, gold fraction); W is the "
    "all-weak configuration (every dollar spent on weak labels), G the all-gold one (none) and M "
    "the mixed one with the best mean accuracy on the selection split (labelled data disjoint "
    "from the pool and from test), so the choice never sees a test label. Their test results are "
    "then compared, paired, by a bootstrap that resamples seeds (deviations between seeds "
    "inflated by sqrt(n/(n-1)) * t(0.95, n-1) / z(0.95), so that a few seeds do not look surer "
    "than a t-test over them would) and test examples within each seed. The budget is 'mixed' "
    "when M beats both W and G in at "
    f"least {LEVEL:g} of the resamples; otherwise 'quantity-dominant' when W >= G in at least "
    f"{LEVEL:g} of them, 'quality-dominant' when G > W in at least {LEVEL:g}; otherwise "
    "'undecided'. A mix has to prove itself; without that evidence the budget belongs to the end "
    "that wins. A side with no configuration does not compete. Prompting (few_shot) trains "
    "nothing and is no side."
)

RULE = (
    "At one budget, over the mean-over-seeds accuracy of every (method, gold fraction) point, "
    "let W be the best all-weak point (weak share of dollars spent 1), G the best all-gold point "
    "(weak share 0) and M the best mixed point (0 < weak share < 1). The regime is 'mixed' when "
    "M beats both W "
    "and G by more than tol; otherwise 'quantity-dominant' if W >= G, else 'quality-dominant'. "
    "A side with no point does not compete; if only one kind of point exists, its regime is "
    "returned. tol is a number of accuracy points (default 0), or 'se': the standard error over "
    "seeds of M's mean (sd / sqrt(n_seeds); 0 for a single seed)."
)

# weak_share_spent is a ratio of dollar sums: allow rounding error at the two ends.
_END_ATOL = 1e-9

Tol = float | str


def regime_detail(points: pd.DataFrame | Iterable[Mapping[str, Any]], tol: Tol = 0.0) -> dict:
    """The regime with its evidence: W, G, M (accuracy and row), the tolerance used and the margin.

    `points` holds one row per (method, gold_frac) at one budget with columns weak_share_spent and
    accuracy (mean over seeds); tol='se' also needs accuracy_sd and n_seeds. Points with an
    unknown weak_share_spent (NaN) cannot be placed and are left out.
    """
    pts = points if isinstance(points, pd.DataFrame) else pd.DataFrame(list(points))
    _require(pts, ["weak_share_spent", "accuracy"])
    w = pd.to_numeric(pts["weak_share_spent"], errors="coerce")
    acc = pd.to_numeric(pts["accuracy"], errors="coerce")
    pts = pts[w.notna() & acc.notna()].reset_index(drop=True)
    if pts.empty:
        raise ValueError(
            "no points with a weak_share_spent and an accuracy: cannot classify a regime"
        )
    w = pts["weak_share_spent"].astype(float).to_numpy()
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
    (weak_share_spent == 1), G = best all-gold point (weak_share_spent == 0), M = best mixed
    point. 'mixed' when M beats both W and G by more than `tol`; otherwise 'quantity-dominant'
    if W >= G, else
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
    the method of each, the mixed point's weak_share_spent and gold_frac, margin (M minus the best
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
            mixed_weak_frac=_get(d["mixed_point"], "weak_share_spent"),
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


# ---------------------------------------------------------------- the decision by significance


def _side_masks(weak_share_spent: np.ndarray) -> dict[str, np.ndarray]:
    is_weak = np.isclose(weak_share_spent, 1.0, rtol=0.0, atol=_END_ATOL)
    is_gold = np.isclose(weak_share_spent, 0.0, rtol=0.0, atol=_END_ATOL)
    return {"W": is_weak, "G": is_gold, "M": ~(is_weak | is_gold) & ~np.isnan(weak_share_spent)}


def seed_inflation(n_seeds: int) -> float:
    """How much the bootstrap spreads the seeds' deviations: sqrt(n/(n-1)) undoes the plug-in
    variance's shrinkage, and t(0.95, n-1) / z(0.95) widens the tails to Student's t, so that with
    a few seeds a side wins 95% of the resamples about when a paired t-test over seeds would call
    it (a plain bootstrap of three seeds calls a winner between equals about a third of the
    time)."""
    return math.sqrt(n_seeds / (n_seeds - 1)) * t95(n_seeds - 1) / Z95


def bootstrap_sides(
    correct: Mapping[str, Sequence[np.ndarray]],
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Resampled mean test accuracy of each side: `correct[side][s]` is the boolean vector of test
    examples the side's configuration got right at seed s (same examples for every side at one
    seed). Seeds are resampled with their deviations inflated by sqrt(n/(n-1)), examples within
    each seed; the resamples are paired across sides. Returns side -> (n_boot,) accuracies."""
    sides = list(correct)
    n_seeds = len(correct[sides[0]])
    rng = np.random.default_rng(seed)
    per_seed = np.empty((n_seeds, n_boot, len(sides)))
    for s in range(n_seeds):
        c = np.stack([np.asarray(correct[k][s], dtype=float) for k in sides])  # (sides, n)
        idx = rng.integers(0, c.shape[1], size=(n_boot, c.shape[1]))
        per_seed[s] = c[:, idx].mean(axis=2).T  # (n_boot, sides)
    if n_seeds > 1:
        centre = per_seed.mean(axis=0, keepdims=True)
        per_seed = centre + seed_inflation(n_seeds) * (per_seed - centre)
        pick = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
        acc = per_seed[pick, np.arange(n_boot)[:, None], :].mean(axis=1)  # (n_boot, sides)
    else:
        acc = per_seed[0]
    return {k: acc[:, i] for i, k in enumerate(sides)}


def side_probabilities(boot: Mapping[str, np.ndarray]) -> dict[str, float]:
    """From paired resamples of the sides present: P(mixed) = P(M > max(W, G)); P(quantity) =
    P(W >= G) and P(quality) = P(G > W), the two ends compared with each other (a side that is
    absent loses to one that is present)."""
    n = len(next(iter(boot.values())))
    w, g, m = boot.get("W"), boot.get("G"), boot.get("M")
    ends = [x for x in (w, g) if x is not None]
    if m is not None and ends:
        mixed = m > np.max(np.stack(ends), axis=0)
    else:
        mixed = np.full(n, m is not None)
    if w is not None and g is not None:
        weak_wins = w >= g
    else:
        weak_wins = np.full(n, w is not None)
    return {
        MIXED: float(mixed.mean()),
        QUANTITY: float(weak_wins.mean()) if ends else float("nan"),
        QUALITY: float(1.0 - weak_wins.mean()) if ends else float("nan"),
    }


def call_regime(probs: Mapping[str, float], level: float = LEVEL) -> str:
    """'mixed' when P(mixed) >= level; else the end that beats the other with probability >=
    level; else 'undecided'. A mix must prove itself: without that evidence the budget belongs
    to whichever end wins, as in the paper's reading of its figure."""
    if probs[MIXED] >= level:
        return MIXED
    for regime in (QUANTITY, QUALITY):
        if not math.isnan(probs[regime]) and probs[regime] >= level:
            return regime
    return UNDECIDED


def decide_regime(
    runs: pd.DataFrame, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0
) -> dict[str, Any]:
    """The regime at one budget by `DECISION_RULE`, with its evidence.

    `runs`: the successful runs at one budget (one task, one weak cost), with columns method,
    gold_frac, seed, weak_share_spent, accuracy, and for a decision also selection_accuracy,
    test_correct (metrics.pack_correct) and n_test. Returns regime (or 'undecided'), the three
    probabilities, the chosen configuration of each side with its selection and test means,
    the seeds compared, and which column chose.
    """
    from labelmix.metrics import unpack_correct

    runs = runs[pd.to_numeric(runs["weak_share_spent"], errors="coerce").notna()]
    if runs.empty:
        raise ValueError("no runs with a weak_share_spent: cannot classify a regime")
    metric = choice_column(runs)
    points = aggregate_points(runs, by=("method", "gold_frac"))
    masks = _side_masks(points["weak_share_spent"].astype(float).to_numpy())
    chosen: dict[str, pd.Series] = {}
    for side, mask in masks.items():
        sub = points[mask]
        if not sub.empty:
            chosen[side] = sub.loc[sub[metric].astype(float).idxmax()]
    out: dict[str, Any] = {"chosen_on": metric, "sides": chosen, "level": level}
    evidence = "test_correct" in runs.columns and metric == "selection_accuracy"
    seeds: list[Any] = []
    correct: dict[str, list[np.ndarray]] = {k: [] for k in chosen}
    if evidence:
        per_side = {}
        for side, row in chosen.items():
            sel = runs[
                (runs["method"] == row["method"])
                & _same(runs["gold_frac"], row["gold_frac"])
                & runs["test_correct"].notna()
            ]
            per_side[side] = {
                r["seed"]: (r["test_correct"], int(r["n_test"])) for _, r in sel.iterrows()
            }
        seeds = sorted(set.intersection(*(set(v) for v in per_side.values())))
        for side in chosen:
            for s in seeds:
                packed, n = per_side[side][s]
                correct[side].append(unpack_correct(str(packed), n))
    if not seeds:
        probs = {MIXED: float("nan"), QUANTITY: float("nan"), QUALITY: float("nan")}
        regime = UNDECIDED
        out["reason"] = (
            "no per-example test results chosen on a selection split"
            if not evidence
            else "no seed has a finished run of every side"
        )
    else:
        probs = side_probabilities(bootstrap_sides(correct, n_boot=n_boot, seed=seed))
        regime = call_regime(probs, level)
    out.update(regime=regime, p=probs, seeds=seeds)
    return out


def _same(col: pd.Series, value: Any) -> pd.Series:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return col.isna()
    return np.isclose(pd.to_numeric(col, errors="coerce").astype(float), float(value))


def decided_regimes(
    df: pd.DataFrame,
    by: Sequence[str] = ("task", "weak_cost"),
    methods: Sequence[str] | None = None,
    level: float = LEVEL,
    n_boot: int = N_BOOT,
) -> pd.DataFrame:
    """`decide_regime` at each budget within each `by` group of a run table. One row per
    (by..., budget): regime, p_quantity / p_mixed / p_quality, each side's method, gold
    fraction, selection-split and test means, whether the all-weak side was limited by the pool,
    the number of seeds compared and the column that chose."""
    from labelmix.analysis.frontier import successful_runs

    keys = list(by)
    runs = successful_runs(df)
    if methods is not None:
        runs = runs[runs["method"].isin(list(methods))]
    runs = runs[pd.to_numeric(runs["weak_share_spent"], errors="coerce").notna()]
    # Regimes compare how a trained model is best fed: prompting trains nothing, so it spends
    # all on gold without being the all-gold side of a training recipe.
    prompted = [m for m in runs["method"].unique() if m in METHODS and METHODS[m].prompt_only]
    runs = runs[~runs["method"].isin(prompted)]
    rows = []
    for key, sub in runs.groupby([*keys, "budget"], dropna=False, sort=True):
        d = decide_regime(sub, level=level, n_boot=n_boot)
        row = dict(zip([*keys, "budget"], key, strict=True))
        row.update(
            regime=d["regime"],
            p_quantity=d["p"][QUANTITY],
            p_mixed=d["p"][MIXED],
            p_quality=d["p"][QUALITY],
            n_seeds=len(d["seeds"]),
            chosen_on=d["chosen_on"],
        )
        for side, name in (("W", "weak"), ("G", "gold"), ("M", "mixed")):
            r = d["sides"].get(side)
            row[f"{name}_method"] = None if r is None else r["method"]
            row[f"{name}_gold_frac"] = None if r is None else optional_float(r["gold_frac"])
            row[f"{name}_selection"] = None if r is None else float(r[d["chosen_on"]])
            row[f"{name}_test"] = None if r is None else float(r["accuracy"])
        weak_side = d["sides"].get("W")
        row["weak_pool_limited"] = bool(weak_side is not None and weak_side.get("pool_limited"))
        rows.append(row)
    return pd.DataFrame(rows)


def optional_float(x: Any) -> float | None:
    """A number, or None for what is missing, NaN or not a number (table cells)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v
