"""The budget advisor: how many weak and gold labels to buy, and how to train, before the money
is spent (`labelmix advise`, `labelmix.advise`).

`labelmix recommend` looks the answer up in a sweep of the same task, which needs the labels a
team has not bought yet. The advisor instead spends a small pilot from the budget (gold and weak
labels of the same pool items, charged to the ledger, counted in the plan it returns and trained
on by the run that follows it: `Advice.run_config`, `labelmix run --advice`) and combines it with
what the study stores say about how accuracy grows with labels across tasks.

The model (fitted on the stores, explained in docs/advisor.md):

- gold labels: the strong model's accuracy after n gold labels is
  acc(n) = 0.5 + (A - 0.5) * n / (n + s), a ceiling A and a speed s (labels to half the gain);
- weak labels of accuracy q teach as fast as gold ones but only up to their own accuracy:
  acc_weak(n) = 0.5 + (q - 0.5) * n / (n + s). A weak stage of n labels is worth the gold labels
  that reach the same accuracy, so one weak label is worth lambda = that number / n gold labels:
  close to (q - 0.5) / (A - 0.5) while the weak stage is far from its ceiling, falling to 0
  as it approaches q;
- a sequential run (weak stage, then gold stage) learns as much as
  max(n_gold, n_weak_equiv) + gamma * min(n_gold, n_weak_equiv) gold labels;
- gold labels close a fraction delta of the error that weak labels leave: A = q + delta (1 - q).

The stores give gamma, the spread of delta and s across tasks, a per-method offset and the noise
of a single run; the pilot gives q (a uniform prior on [0.5, 1), updated by how often the weak
labels agree with gold on the pilot's items). The pilot is bought in rounds until the expected
loss of the advice under the posterior is below a tenth of an accuracy point, or its cap
(`pilot_frac` of the budget) is reached; none where the cap buys less than one round (a smaller
pilot steers the choice without measuring q) or where the loss is below that tenth before any
pilot (no result could change the advice). Where the cap buys less than one round, the same share
of the budget buys weak labels alone (the weak pilot, kept in the plan: in its weak stage, or
bought and not trained on where the plan is all gold), and the weak
labeler's own mean confidence, corrected by how far the stores' labelers overstated their
accuracy, is read for q. The advice is the plan with the best expected accuracy; its interval is
the posterior predictive interval of one run's test accuracy."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from labelmix.config import RunConfig, allocate_with_pilot
from labelmix.errors import BudgetError, ConfigError, DataError, UnaffordableError
from labelmix.labels.budget import Ledger, Prices, allocate
from labelmix.methods import METHODS
from labelmix.tasks.splits import SplitSizes
from labelmix.train.stages import STANDARDIZE_N

LEVEL = 0.90  # the advice's interval: a 90% predictive interval of one run's test accuracy
ROUND = 8  # pilot items bought per round (a gold and a weak label each)
MIN_PILOT = ROUND  # a smaller pilot barely moves q's posterior but still steers the choice
TOLERANCE = 0.001  # stop buying pilot rounds once the expected loss is below 0.1 points
DEFAULT_PILOT_FRAC = 0.05  # the pilot may spend at most this share of the budget (see docs)
MAX_PILOT_FRAC = 0.5
Q_GRID = np.linspace(0.5025, 0.9975, 100)  # weak-label accuracy: uniform prior on [0.5, 1)
Z_GRID = np.linspace(-2.5, 2.5, 11)  # standard-normal nodes for log delta and log s
MIN_LOG_SD_DELTA = 0.35  # floors: a handful of store tasks must not make the prior overconfident
MIN_LOG_SD_SPEED = 0.5
GAMMAS = (0.0, 0.25, 0.5, 0.75, 1.0)
# The pilot's learning-curve check: a ridge classifier on the strong model's features (features
# standardised on unlabelled pool inputs, as the probe's are), cross-validated on the pilot's gold
# labels. Its accuracy counts as evidence of the gold curve at the folds' training size, with
# the binomial's information divided by CV_DISPERSION (folds share items; the ridge is not the
# probe), and only from CV_MIN_ITEMS pilot items on.
CV_FOLDS = 5
CV_MIN_ITEMS = 16
CV_DISPERSION = 2.0
RIDGE_ALPHA = 300.0
# The weak pilot: where the budget is too small for a pilot of MIN_PILOT items, up to
# `pilot_frac` of it buys weak labels alone, and the weak labeler's own mean confidence,
# max(p, 1 - p), stands for q. On the pools of the three study stores of the built-in prior
# (18 weak labelers, seeds 0 and 1: `confidence_gaps` in benchmarks/advisor.py) it overstated q
# by CONFIDENCE_BIAS on average, with CONFIDENCE_SD between pools. Fewer than MIN_WEAK_PILOT
# items say too little (their own noise is over twice CONFIDENCE_SD); beyond MAX_WEAK_PILOT the
# labeler's calibration error dominates.
CONFIDENCE_BIAS = 0.024
CONFIDENCE_SD = 0.055
MIN_WEAK_PILOT = 4
MAX_WEAK_PILOT = 32
_A_GRID = np.linspace(0.52, 0.98, 47)
_S_GRID = np.geomspace(4.0, 4000.0, 36)
_ENDS = {"weak_only": 0.0, "gold_only": 1.0}


# ---------------------------------------------------------------- the model (plain functions)


def gold_curve(n: Any, ceiling: Any, speed: Any) -> Any:
    """Accuracy after n gold labels: 0.5 + (A - 0.5) n / (n + s)."""
    return 0.5 + (ceiling - 0.5) * n / (n + speed)


def weak_equivalent(n_weak: Any, q: Any, ceiling: Any, speed: Any) -> Any:
    """The gold labels a weak stage of n_weak labels (accuracy q) is worth: those that reach the
    accuracy the weak stage reaches, 0.5 + (q - 0.5) n / (n + s)."""
    reach = (q - 0.5) / np.maximum(ceiling - 0.5, 1e-9) * n_weak / (n_weak + speed)
    reach = np.clip(reach, 0.0, 1.0 - 1e-9)
    return speed * reach / (1.0 - reach)


def predict_accuracy(
    n_weak: Any, n_gold: Any, q: Any, ceiling: Any, speed: Any, gamma: float
) -> Any:
    """Mean test accuracy of a run with n_weak weak then n_gold gold labels (numpy broadcasts)."""
    n_w = weak_equivalent(n_weak, q, ceiling, speed)
    n_eff = np.maximum(n_gold, n_w) + gamma * np.minimum(n_gold, n_w)
    return gold_curve(n_eff, ceiling, speed)


# ---------------------------------------------------------------- what the stores say


@dataclass(frozen=True)
class TaskFit:
    """One store task's curve: gold ceiling A, speed s (labels to half the gain), weak ceiling
    (the accuracy weak labels alone approach), and how well the curve fits its points."""

    task: str
    ceiling: float
    speed: float
    weak_ceiling: float
    rmse: float
    n_points: int

    @property
    def delta(self) -> float:
        """The share of the error left by weak labels that gold labels close."""
        return (self.ceiling - self.weak_ceiling) / max(1.0 - self.weak_ceiling, 1e-9)


@dataclass(frozen=True)
class AdvisorPrior:
    """What the stores know: each task's curve, the spread of delta and s across tasks, the
    composition gamma, per-method offsets, the noise of one run, and the grid they measured."""

    tasks: tuple[TaskFit, ...]
    gamma: float
    log_delta: tuple[float, float]  # mean, sd across tasks (sd floored)
    log_speed: tuple[float, float]
    method_offset: tuple[tuple[str, float], ...]
    sigma: float  # sd of one run's test accuracy around the fitted curves
    methods: tuple[str, ...]
    gold_fracs: tuple[float, ...]  # of the mixed methods; weak_only and gold_only are the ends
    source: str = ""
    model: str = "smollm2"  # the strong model the stores measured (the pilot's features)
    layer: int | None = None
    # How far a weak labeler's mean confidence sits above its accuracy: mean and sd across
    # labelers (the weak pilot's evidence; measured on the stores' pools, see CONFIDENCE_BIAS).
    confidence_bias: float = CONFIDENCE_BIAS
    confidence_sd: float = CONFIDENCE_SD

    def __post_init__(self) -> None:
        if not self.tasks:
            raise DataError("an advisor prior needs at least one store task")
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise ConfigError(f"sigma {self.sigma!r} must be a positive number")
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"gamma {self.gamma!r} must lie in [0, 1]")
        if not (self.confidence_sd > 0 and math.isfinite(self.confidence_sd)):
            raise ConfigError(f"confidence_sd {self.confidence_sd!r} must be a positive number")
        if not (abs(self.confidence_bias) < 0.5):
            raise ConfigError(f"confidence_bias {self.confidence_bias!r} must lie in (-0.5, 0.5)")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"unknown method(s) {unknown} in the advisor prior")

    def offset(self, method: str) -> float:
        return dict(self.method_offset).get(method, 0.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tasks"] = [asdict(t) for t in self.tasks]
        return d

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> AdvisorPrior:
        return AdvisorPrior(
            tasks=tuple(TaskFit(**t) for t in d["tasks"]),
            gamma=float(d["gamma"]),
            log_delta=(float(d["log_delta"][0]), float(d["log_delta"][1])),
            log_speed=(float(d["log_speed"][0]), float(d["log_speed"][1])),
            method_offset=tuple((str(m), float(v)) for m, v in d["method_offset"]),
            sigma=float(d["sigma"]),
            methods=tuple(d["methods"]),
            gold_fracs=tuple(float(g) for g in d["gold_fracs"]),
            source=str(d.get("source", "")),
            model=str(d.get("model", "smollm2")),
            layer=None if d.get("layer") is None else int(d["layer"]),
            confidence_bias=float(d.get("confidence_bias", CONFIDENCE_BIAS)),
            confidence_sd=float(d.get("confidence_sd", CONFIDENCE_SD)),
        )


def trained_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The runs a prior is fitted on: finished, of a method that trains without a prompt prefix,
    with the labels they bought."""
    from labelmix.analysis.frontier import successful_runs

    runs = successful_runs(df)
    plain = [m for m, spec in METHODS.items() if not spec.prompt_only and spec.shots == 0]
    runs = runs[runs["method"].isin(plain)]
    need = ["task", "method", "weak_cost", "budget", "gold_frac", "seed", "n_weak", "n_gold"]
    missing = [c for c in need if c not in runs.columns]
    if missing:
        raise DataError(f"the store table lacks column(s) {missing}; rebuild it with this labelmix")
    runs = runs.copy()
    # a gold_only run that followed an advice bought its pilots' weak labels, trained on none
    runs.loc[runs["method"] == "gold_only", "n_weak"] = 0
    return runs


def task_unit(task: str, weak_labeler: Any = None) -> str:
    """The name a store task's curve is fitted under: the task, and its weak labeler where that
    is not the default (probe), e.g. `sst2 [finetune]`. Weak labels of another labeler have
    another accuracy, so the same task with them is another curve (another weak ceiling and
    delta): the two must neither be averaged into one point nor count as one task."""
    if weak_labeler is None or (isinstance(weak_labeler, float) and math.isnan(weak_labeler)):
        weak_labeler = "probe"
    return str(task) if weak_labeler == "probe" else f"{task} [{weak_labeler}]"


def unit_task(unit: str) -> str:
    """The task of a unit name, the inverse of `task_unit` and `with_units`:
    `sst2 [finetune, weak_train 600]` -> `sst2`."""
    return re.sub(r" \[[^\]]*\]$", "", unit)


def _weak_train_size(config: Any) -> int | None:
    """The weak_train split size of a stored run's config (JSON text or dict), if it says."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return None
    if not isinstance(config, dict):
        return None
    size = (config.get("split_sizes") or {}).get("weak_train")
    return int(size) if isinstance(size, int | float) else None


def with_units(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with `weak_labeler` filled (records from before the field say nothing: they used
    the default, probe) and `unit`: the task and its weak labeler (`task_unit`). Where the same
    task and labeler were run with weak labelers trained on different weak_train sizes (two
    studies), those are different weak labels too, and the size joins the unit's name:
    `cities [finetune, weak_train 600]`."""
    out = runs.copy()
    if "weak_labeler" in out.columns:
        out["weak_labeler"] = out["weak_labeler"].fillna("probe").astype(str)
    else:
        out["weak_labeler"] = "probe"
    out["unit"] = [task_unit(t, w) for t, w in zip(out["task"], out["weak_labeler"], strict=True)]
    if "config" not in out.columns or out.empty:
        return out
    sizes = pd.Series([_weak_train_size(c) for c in out["config"]], index=out.index)
    for (task, labeler), idx in out.groupby(["task", "weak_labeler"]).groups.items():
        if sizes[idx].dropna().nunique() > 1:
            out.loc[idx, "unit"] = [
                f"{task} [{labeler}, weak_train {int(n)}]"
                if pd.notna(n)
                else task_unit(task, labeler)
                for n in sizes[idx]
            ]
    return out


def _fit_task(points: pd.DataFrame, gamma: float) -> tuple[float, float, float, float]:
    """Least squares (weighted by seeds) of one task's mean accuracies over a grid of
    (A, s, weak ceiling). Returns (sse, A, s, weak ceiling)."""
    y = points["accuracy"].to_numpy(float)
    w = points["n_seeds"].to_numpy(float)
    nw = points["n_weak"].to_numpy(float)[None, None, :]
    ng = points["n_gold"].to_numpy(float)[None, None, :]
    s = _S_GRID[None, :, None]
    best = (math.inf, 0.0, 0.0, 0.0)
    for a in _A_GRID:
        c = np.linspace(0.5, a, 21)[:, None, None]
        sse = (w * (predict_accuracy(nw, ng, c, a, s, gamma) - y) ** 2).sum(axis=-1)
        i, j = np.unravel_index(int(sse.argmin()), sse.shape)
        if sse[i, j] < best[0]:
            best = (float(sse[i, j]), float(a), float(_S_GRID[j]), float(c[i, 0, 0]))
    return best


def fit_prior(df: pd.DataFrame, source: str = "", min_points: int = 6) -> AdvisorPrior:
    """Fit the advisor's prior on a table of runs (one or several stores; `trained_runs`)."""
    from labelmix.analysis.frontier import DEFAULT_BY, aggregate_points

    # One curve per task and weak labeler (`task_unit`): named by both where the labeler is not
    # the default, so a task swept with two labelers is two curves, never one averaged point.
    runs = trained_runs(df)
    runs = with_units(runs).assign(task=lambda r: r["unit"])
    points = aggregate_points(runs, by=DEFAULT_BY)  # mean over seeds, as every report has them
    by_task = {t: g for t, g in points.groupby("task") if len(g) >= min_points}
    if not by_task:
        raise DataError(
            f"no store task has {min_points} or more measured allocations: "
            "the advisor needs a sweep over budgets and gold fractions"
        )
    fits: dict[float, tuple[float, list[TaskFit]]] = {}
    for gamma in GAMMAS:
        total, tasks = 0.0, []
        for t, g in sorted(by_task.items()):
            sse, a, s, c = _fit_task(g, gamma)
            total += sse
            rmse = math.sqrt(sse / g["n_seeds"].sum())
            tasks.append(TaskFit(str(t), a, s, c, rmse, len(g)))
        fits[gamma] = (total, tasks)
    gamma = min(fits, key=lambda k: (fits[k][0], k))
    tasks = fits[gamma][1]
    curve = {t.task: t for t in tasks}
    runs = runs[runs["task"].isin(list(curve))]
    pred = [
        float(
            predict_accuracy(
                r.n_weak,
                r.n_gold,
                curve[r.task].weak_ceiling,
                curve[r.task].ceiling,
                curve[r.task].speed,
                gamma,
            )
        )
        for r in runs.itertuples()
    ]
    resid = runs["accuracy"].to_numpy(float) - np.array(pred)
    bias = float(resid.mean())
    offsets = []
    methods = sorted(runs["method"].unique())
    for m in methods:
        r = resid[(runs["method"] == m).to_numpy()]
        se = r.std(ddof=1) / math.sqrt(len(r)) if len(r) > 1 else math.inf
        # A method's own effect moves the advice only when the stores can tell it from noise.
        d = float(r.mean()) - bias
        offsets.append((str(m), bias + (d if abs(d) > 2 * se else 0.0)))
    off = dict(offsets)
    sigma = float(np.sqrt(np.mean((resid - runs["method"].map(off).to_numpy(float)) ** 2)))
    log_d = np.log([max(t.delta, 1e-3) for t in tasks])
    log_s = np.log([t.speed for t in tasks])
    model = str(runs["model"].mode().iloc[0]) if "model" in runs.columns else "smollm2"
    layers = {json.loads(c).get("layer") for c in runs.get("config", pd.Series(dtype=str)).dropna()}
    mixed = runs[~runs["method"].isin(list(_ENDS))]
    fracs = sorted({round(float(g), 6) for g in mixed["gold_frac"].dropna()} - {0.0, 1.0})
    return AdvisorPrior(
        tasks=tuple(tasks),
        gamma=float(gamma),
        log_delta=(float(log_d.mean()), max(MIN_LOG_SD_DELTA, _sd(log_d))),
        log_speed=(float(log_s.mean()), max(MIN_LOG_SD_SPEED, _sd(log_s))),
        method_offset=tuple(offsets),
        sigma=sigma,
        methods=tuple(str(m) for m in methods),
        gold_fracs=tuple(fracs),
        source=source or f"{len(tasks)} task(s): {', '.join(curve)}",
        model=model,
        layer=next(iter(layers)) if len(layers) == 1 else None,
    )


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else 0.0


def load_stores(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The run tables of several stores, concatenated (a folder without runs/ is refused)."""
    from labelmix.sweep import Store

    frames = []
    for p in paths:
        path = Path(p)
        if not (path / "runs").is_dir():
            raise DataError(
                f"{path} is not a sweep store (no runs/ folder); pass a store to --from"
            )
        frames.append(Store(path).table())
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        raise DataError(f"the stores {[str(p) for p in paths]} hold no finished runs")
    return df


# Fitted on the three committed study stores (results/paper_regimes: CoLA, HellaSwag, SocialIQA,
# SST-2 with the probe's weak labels, three seeds; results/signal_study and
# results/signal_study_600: eight tasks with finetuned MiniLM weak labels at weak_train 1,000 and
# 600, ten seeds at $16-$1024 with their seed extensions results/*_seeds5to9; SmolLM2-135M
# probe) by `python benchmarks/advisor.py --from results/paper_regimes
# results/signal_study+results/signal_study_seeds5to9
# results/signal_study_600+results/signal_study_600_seeds5to9 --print-prior` (the file task
# named by its file). These are the stores the advisor benchmark holds tasks out of. Used when
# no store is given.
DEFAULT_PRIOR_DICT: dict[str, Any] = {
    "tasks": [
        {
            "task": "cities [finetune, weak_train 1000]",
            "ceiling": 0.85,
            "speed": 4.0,
            "weak_ceiling": 0.8325,
            "rmse": 0.0161,
            "n_points": 255,
        },
        {
            "task": "cities [finetune, weak_train 600]",
            "ceiling": 0.84,
            "speed": 4.0,
            "weak_ceiling": 0.806,
            "rmse": 0.0171,
            "n_points": 255,
        },
        {
            "task": "city_sizes [finetune]",
            "ceiling": 0.67,
            "speed": 19.3988,
            "weak_ceiling": 0.6445,
            "rmse": 0.0121,
            "n_points": 255,
        },
        {
            "task": "cola",
            "ceiling": 0.64,
            "speed": 307.4498,
            "weak_ceiling": 0.535,
            "rmse": 0.0126,
            "n_points": 306,
        },
        {
            "task": "country_areas [finetune, weak_train 1000]",
            "ceiling": 0.86,
            "speed": 63.3957,
            "weak_ceiling": 0.824,
            "rmse": 0.0216,
            "n_points": 255,
        },
        {
            "task": "country_areas [finetune, weak_train 600]",
            "ceiling": 0.87,
            "speed": 63.3957,
            "weak_ceiling": 0.759,
            "rmse": 0.0157,
            "n_points": 255,
        },
        {
            "task": "country_populations [finetune, weak_train 1000]",
            "ceiling": 0.88,
            "speed": 52.041,
            "weak_ceiling": 0.861,
            "rmse": 0.0218,
            "n_points": 255,
        },
        {
            "task": "country_populations [finetune, weak_train 600]",
            "ceiling": 0.86,
            "speed": 42.72,
            "weak_ceiling": 0.77,
            "rmse": 0.0155,
            "n_points": 255,
        },
        {
            "task": "elements [finetune, weak_train 1000]",
            "ceiling": 0.82,
            "speed": 42.72,
            "weak_ceiling": 0.756,
            "rmse": 0.0168,
            "n_points": 255,
        },
        {
            "task": "elements [finetune, weak_train 600]",
            "ceiling": 0.81,
            "speed": 52.041,
            "weak_ceiling": 0.686,
            "rmse": 0.0179,
            "n_points": 255,
        },
        {
            "task": "file:sarcasm_headlines.jsonl [finetune]",
            "ceiling": 0.77,
            "speed": 63.3957,
            "weak_ceiling": 0.743,
            "rmse": 0.0164,
            "n_points": 255,
        },
        {
            "task": "hellaswag",
            "ceiling": 0.61,
            "speed": 555.7982,
            "weak_ceiling": 0.5,
            "rmse": 0.0151,
            "n_points": 306,
        },
        {
            "task": "regions [finetune, weak_train 1000]",
            "ceiling": 0.75,
            "speed": 13.0721,
            "weak_ceiling": 0.7,
            "rmse": 0.0171,
            "n_points": 255,
        },
        {
            "task": "regions [finetune, weak_train 600]",
            "ceiling": 0.76,
            "speed": 23.6314,
            "weak_ceiling": 0.669,
            "rmse": 0.0148,
            "n_points": 255,
        },
        {
            "task": "social_i_qa",
            "ceiling": 0.6,
            "speed": 139.6102,
            "weak_ceiling": 0.55,
            "rmse": 0.0139,
            "n_points": 306,
        },
        {
            "task": "sst2",
            "ceiling": 0.82,
            "speed": 94.0781,
            "weak_ceiling": 0.772,
            "rmse": 0.0219,
            "n_points": 306,
        },
        {
            "task": "sst2 [finetune, weak_train 1000]",
            "ceiling": 0.81,
            "speed": 77.2279,
            "weak_ceiling": 0.7945,
            "rmse": 0.0169,
            "n_points": 255,
        },
        {
            "task": "sst2 [finetune, weak_train 600]",
            "ceiling": 0.8,
            "speed": 77.2279,
            "weak_ceiling": 0.785,
            "rmse": 0.0154,
            "n_points": 255,
        },
    ],
    "gamma": 0.0,
    "log_delta": [-1.7519, 0.5908],
    "log_speed": [3.8643, 1.2632],
    "method_offset": [
        ["gold_only", 0.002],
        ["seq_sft", 0.002],
        ["seq_sft_active", -0.0001],
        ["seq_sft_logconf", 0.003],
        ["weak_only", 0.0038],
    ],
    "sigma": 0.0355,
    "methods": ["gold_only", "seq_sft", "seq_sft_active", "seq_sft_logconf", "weak_only"],
    "gold_fracs": [0.05, 0.2, 0.4, 0.6, 0.8],
    "source": "built-in prior: results/paper_regimes, results/signal_study, results/signal_study_600 with their seed extensions (18 task units)",
    "model": "smollm2",
    "layer": None,
}


def default_prior() -> AdvisorPrior:
    return AdvisorPrior.from_dict(DEFAULT_PRIOR_DICT)


# ---------------------------------------------------------------- plans and the posterior


def trained_weak(method: str, n_weak: int) -> int:
    """The weak labels a plan trains on: gold_only buys the pilots' weak labels (they measured
    the weak labels' accuracy) but trains on none."""
    return 0 if method == "gold_only" else n_weak


def labels_phrase(method: str, n_weak: int, n_gold: int) -> str:
    """A plan's labels in words, saying which it does not train on."""
    if trained_weak(method, n_weak) < n_weak:
        return f"{n_gold} gold labels ({n_weak} weak labels bought, not trained on)"
    return f"{n_weak} weak + {n_gold} gold labels"


@dataclass(frozen=True)
class Plan:
    """A way to spend the whole budget: a method, the grid's gold fraction it stands for, and the
    labels it buys in total (the pilot's included; the pool may cap them). `gold_share` is the
    share of the budget planned for gold labels: the grid's fraction unless the pilot moved it
    (`on_grid` False)."""

    method: str
    gold_frac: float
    n_weak: int
    n_gold: int
    gold_share: float
    on_grid: bool

    def cost(self, weak_cost: float, gold_cost: float) -> float:
        return self.n_weak * weak_cost + self.n_gold * gold_cost

    @property
    def n_weak_trained(self) -> int:
        return trained_weak(self.method, self.n_weak)


def make_plans(
    budget: float,
    weak_cost: float,
    gold_cost: float,
    n_pilot: int,
    methods: Sequence[str],
    gold_fracs: Sequence[float],
    pool_size: int | None = None,
    n_weak_pilot: int = 0,
) -> list[Plan]:
    """Every grid allocation of the budget that keeps the pilot's labels: at least its n_pilot
    gold labels (a plan with fewer gold labels gets the pilot's as its gold stage) and its
    n_pilot weak labels. The counts are those a run with the pilot buys
    (config.allocate_with_pilot), so `Advice.run_config` follows the plan exactly. Without a
    pilot the ends are weak_only and gold_only; with one the all-weak end is a mixed method at
    gold fraction 0, and the all-gold end is gold_only on every gold label the budget leaves,
    the pilot's included, with the pilot's weak labels bought but not trained on: a weak stage
    of a pilot's few dozen labels before an all-gold stage lost accuracy in paired runs
    (docs/advisor.md). Where gold_only is not offered, the all-gold end is the mixed methods
    with the pilot's weak labels (and what the budget has left) as a small weak stage. A pool
    of `pool_size` items caps the labels (the pilot's items carry both kinds). A mixed plan
    that buys no gold (or no weak) label is left out where weak_only (gold_only) is offered: it
    is the same run under another name. A weak pilot of n_weak_pilot items (weak labels alone)
    is kept the same way: every plan buys its weak labels."""
    prices = Prices(weak_cost, gold_cost)
    mixed = [m for m in methods if m not in _ENDS]
    fracs = sorted({0.0, 1.0, *(float(g) for g in gold_fracs)})
    out: dict[tuple[str, int, int], Plan] = {}

    def add(method: str, g: float, n_w: int, n_g: int, on_grid: bool) -> None:
        if pool_size is not None:
            # the weak pilot's items carry no gold label: the gold stage buys among the others
            n_g = min(n_g, max(pool_size - n_weak_pilot, 0))
            n_w = min(n_w, max(pool_size - n_g, 0) + min(n_pilot, n_g))
        if method in mixed and (
            (n_g == 0 and "weak_only" in methods) or (n_w == 0 and "gold_only" in methods)
        ):
            return
        if method == "gold_only" and n_g == 0:
            return  # the pilots' weak labels alone: nothing to train on
        share = n_g * gold_cost / budget
        if n_w + n_g > 0:
            out.setdefault((method, n_w, n_g), Plan(method, g, n_w, n_g, share, on_grid))

    for g in fracs:
        alloc = allocate(budget, g, prices)
        if (n_pilot == 0 and g == 0.0) or (n_pilot == 0 and n_weak_pilot == 0 and g == 1.0):
            end = "weak_only" if g == 0.0 else "gold_only"
            if end in methods:
                add(end, g, alloc.n_weak if g == 0.0 else 0, alloc.n_gold, True)
            continue
        try:
            labels = allocate_with_pilot(budget, g, prices, n_pilot, n_weak_pilot)
        except UnaffordableError:
            continue  # the budget does not pay for the pilot
        if g < 1.0 and labels.n_gold < max(alloc.n_gold, n_pilot):
            continue  # the grid's gold labels would leave the pilot's weak labels unpaid
        if g == 1.0 and "gold_only" in methods:
            add("gold_only", g, n_pilot + n_weak_pilot, labels.n_gold, False)
            continue
        for m in mixed:
            on_grid = g < 1.0 and labels.n_gold == alloc.n_gold
            add(m, g, labels.n_weak, labels.n_gold, on_grid)
    return list(out.values())


@dataclass(frozen=True)
class Posterior:
    """A weighted grid over (q, delta, s): q the weak labels' accuracy, delta and s the task's
    gold curve (A = q + delta (1 - q))."""

    weights: np.ndarray  # (Q, D, S), sums to 1
    q: np.ndarray  # (Q, 1, 1)
    ceiling: np.ndarray  # (Q, D, 1)
    speed: np.ndarray  # (1, 1, S)

    def q_summary(self) -> tuple[float, float, float]:
        """Posterior mean of q and its central 90% interval."""
        wq = self.weights.sum(axis=(1, 2))
        qs = self.q[:, 0, 0]
        cdf = np.cumsum(wq)
        lo = float(qs[min(int(np.searchsorted(cdf, 0.05)), len(qs) - 1)])
        hi = float(qs[min(int(np.searchsorted(cdf, 0.95)), len(qs) - 1)])
        return float((wq * qs).sum()), lo, hi


@dataclass(frozen=True)
class CurveCheck:
    """The pilot's cross-validated accuracy: n_correct of n_scored held-out items right, by a
    classifier trained on about n_train gold labels."""

    n_train: float
    n_correct: int
    n_scored: int

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n_scored if self.n_scored else float("nan")


@dataclass(frozen=True)
class WeakRead:
    """The weak pilot's evidence: n weak labels, their mean confidence max(p, 1 - p) and its
    item-to-item variance."""

    n: int
    mean_confidence: float
    variance: float

    @staticmethod
    def of(weak: np.ndarray) -> WeakRead | None:
        """The read of weak labels (probabilities of 1); None where they say nothing about their
        own accuracy: hard labels (every p 0 or 1), which claim a confidence of 1 whatever q."""
        p = np.asarray(weak, dtype=float)
        if len(p) == 0 or np.all((p == 0.0) | (p == 1.0)):
            return None
        conf = np.maximum(p, 1.0 - p)
        var = float(conf.var(ddof=1)) if len(conf) > 1 else 0.02
        return WeakRead(len(conf), float(conf.mean()), max(var, 1e-4))


def posterior(
    prior: AdvisorPrior,
    n_items: int,
    n_agree: int,
    cv: CurveCheck | None = None,
    read: WeakRead | None = None,
) -> Posterior:
    """The prior grid weighted by the pilot: n_agree of n_items weak labels matched gold, and
    (when given) the cross-validated accuracy of the gold labels and the weak pilot's read: its
    mean confidence ~ Normal(q + bias, sd^2 + variance / n)."""
    if not 0 <= n_agree <= n_items:
        raise ValueError(f"{n_agree} agreements out of {n_items} items")
    dens = np.exp(-0.5 * Z_GRID**2)
    delta = np.clip(np.exp(prior.log_delta[0] + prior.log_delta[1] * Z_GRID), 1e-3, 0.95)
    speed = np.exp(prior.log_speed[0] + prior.log_speed[1] * Z_GRID)
    q = Q_GRID[:, None, None]
    ceiling = q + delta[None, :, None] * (1.0 - q)
    loglik = (n_agree * np.log(q) + (n_items - n_agree) * np.log1p(-q)) + np.zeros(
        (len(Q_GRID), len(Z_GRID), len(Z_GRID))
    )
    loglik += np.log(dens)[None, :, None] + np.log(dens)[None, None, :]
    if cv is not None and cv.n_scored > 0:
        p = np.clip(gold_curve(cv.n_train, ceiling, speed[None, None, :]), 1e-4, 1 - 1e-4)
        miss = cv.n_scored - cv.n_correct
        loglik += (cv.n_correct * np.log(p) + miss * np.log1p(-p)) / CV_DISPERSION
    if read is not None:
        var = prior.confidence_sd**2 + read.variance / read.n
        loglik += -0.5 * (read.mean_confidence - (q + prior.confidence_bias)) ** 2 / var
    w = np.exp(loglik - loglik.max())
    return Posterior(
        weights=w / w.sum(),
        q=q,
        ceiling=ceiling,
        speed=speed[None, None, :],
    )


def ridge_cv(features: np.ndarray, labels: np.ndarray, folds: int = CV_FOLDS) -> CurveCheck:
    """K-fold accuracy of a ridge classifier (targets -1/+1, penalty RIDGE_ALPHA) on
    standardised features; fold i holds the items i, i + K, ... (they come in random order)."""
    x = np.asarray(features, dtype=float)
    y = np.asarray(labels, dtype=float)
    n = len(y)
    correct = 0
    for i in range(folds):
        test = np.arange(n) % folds == i
        train = ~test
        if not test.any() or train.sum() < 2:
            continue
        t = 2.0 * y[train] - 1.0
        a = x[train]
        alpha = np.linalg.solve(a @ a.T + RIDGE_ALPHA * np.eye(len(t)), t - t.mean())
        score = x[test] @ (a.T @ alpha) + t.mean()
        correct += int(((score > 0).astype(float) == y[test]).sum())
    return CurveCheck(n_train=n * (folds - 1) / folds, n_correct=correct, n_scored=n)


def plan_means(prior: AdvisorPrior, post: Posterior, plans: Sequence[Plan]) -> np.ndarray:
    """Predicted mean accuracy of each plan at each grid point: (J, Q, D, S)."""
    out = []
    for p in plans:
        mu = predict_accuracy(
            p.n_weak_trained, p.n_gold, post.q, post.ceiling, post.speed, prior.gamma
        )
        out.append(np.broadcast_to(mu + prior.offset(p.method), post.weights.shape))
    return np.stack(out)


def expected(post: Posterior, means: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Expected accuracy of each plan, the expected loss of the best one (what knowing the task
    exactly would add) and its index. Ties go to the earlier plan."""
    ev = (means * post.weights).sum(axis=(1, 2, 3))
    best = int(np.argmax(ev))
    loss = float((post.weights * (means.max(axis=0) - means[best])).sum())
    return ev, loss, best


def predictive_interval(
    prior: AdvisorPrior, post: Posterior, means: np.ndarray, level: float = LEVEL, seed: int = 0
) -> tuple[float, float]:
    """Central interval of one run's test accuracy: the posterior over the curve, plus the
    run-to-run noise the stores show (sigma). Monte Carlo with a fixed seed."""
    rng = np.random.default_rng(seed)
    flat_w = post.weights.ravel()
    idx = rng.choice(flat_w.size, size=20_000, p=flat_w / flat_w.sum())
    draws = means.ravel()[idx] + rng.normal(0.0, prior.sigma, size=idx.size)
    lo, hi = np.quantile(np.clip(draws, 0.0, 1.0), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


# ---------------------------------------------------------------- the pilot


class PilotSource(Protocol):
    """Sells pilot items: the gold label and the weak label (probability of 1) of each, charged
    to a ledger, and the strong model's standardised features of the items (None: no learning-
    curve check)."""

    def buy(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]: ...

    def buy_weak(self, n: int) -> np.ndarray:
        """The weak labels alone of n more items (the weak pilot), charged to the ledger."""
        ...


@dataclass
class PoolPilot:
    """The real pilot: pool items in a seeded order, their gold labels from the oracle and weak
    labels from the weak labeler, both charged to `ledger` (purpose "pilot")."""

    ids: Sequence[str]
    oracle: Any  # labelmix.labels.oracle.Oracle
    weak: Any  # labelmix.labels.weak.WeakLabeler, priced
    ledger: Ledger
    features: Callable[[Sequence[str]], np.ndarray] | None = None  # standardised, by id
    bought: list[str] = field(default_factory=list)
    bought_weak: list[str] = field(default_factory=list)  # the weak pilot's items

    def _next(self, n: int) -> list[str]:
        start = len(self.bought) + len(self.bought_weak)
        ids = list(self.ids[start : start + n])
        if len(ids) < n:
            raise DataError(
                f"the pool holds {len(self.ids)} items: a pilot of {start + n} is too big"
            )
        return ids

    def buy(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        ids = self._next(n)
        gold = self.oracle.buy(ids, self.ledger, "pilot")
        weak = self.weak.buy(ids, self.ledger, "pilot")
        self.bought += ids
        x = None if self.features is None else self.features(ids)
        return np.asarray(gold, dtype=float), np.asarray(weak, dtype=float), x

    def buy_weak(self, n: int) -> np.ndarray:
        ids = self._next(n)
        weak = self.weak.buy(ids, self.ledger, "pilot")
        self.bought_weak += ids
        return np.asarray(weak, dtype=float)


@dataclass(frozen=True)
class PilotReport:
    n_items: int  # pilot items: each has a gold and a weak label
    n_agree: int  # items whose hard weak label (p > 0.5) matched gold
    cost: float
    mean_confidence: float  # the weak labels' own mean max(p, 1 - p): their stated accuracy
    cv_accuracy: float  # the learning-curve check (nan: none), at about cv_train gold labels
    cv_train: float
    cv_expected: float  # what the stores' curves alone expected there, given the pilot's q
    rounds: int
    cap_items: int
    stopped: str  # why the pilot stopped
    n_weak_items: int = 0  # the weak pilot: items whose weak label alone was bought
    weak_cost_paid: float = 0.0  # what the weak pilot cost (inside `cost`)
    weak_confidence: float = float("nan")  # their mean max(p, 1 - p) (nan: none, or hard labels)


def pilots_name(p: PilotReport) -> str:
    """Who bought an all-gold plan's untrained weak labels, for the messages."""
    if p.n_items and p.n_weak_items:
        return "the pilots"
    return "the pilot" if p.n_items else "the weak pilot"


@dataclass(frozen=True)
class Advice:
    """How to spend the budget, with the evidence: the plan (the pilot's labels included), the
    predicted test accuracy of one run with its 90% interval, the pilot, and why."""

    task: str
    budget: float
    weak_cost: float
    gold_cost: float
    method: str
    gold_frac: float  # the grid's gold fraction the plan stands for
    n_weak: int  # labels bought in total, the pilot's included
    n_gold: int
    gold_share: float  # share of the budget planned for gold (off the grid if not on_grid)
    on_grid: bool
    predicted_accuracy: float
    interval: tuple[float, float]
    expected_loss: float
    weak_accuracy: tuple[float, float, float]  # posterior mean and 90% interval of q
    weak_worth: float  # gold labels one of the plan's weak labels is worth (lambda)
    pilot: PilotReport
    pool_size: int | None
    alternatives: tuple[tuple[str, float, int, int, float], ...]  # method, frac, nw, ng, acc
    prior_source: str
    reason: str
    pilot_ids: tuple[str, ...] = ()  # the pilot's pool items: their gold and weak labels are paid
    weak_pilot_ids: tuple[str, ...] = ()  # the weak pilot's items: their weak labels are paid
    # Where the pilot was bought, so that `run_config` trains on the same pool: the prior's
    # strong model, the weak labels' labeler and model, the seed that drew the splits, their
    # sizes, the data.
    model: str = "smollm2"
    layer: int | None = None
    weak_model: str = "minilm"
    weak_labeler: str = "probe"
    seed: int = 0
    split_sizes: SplitSizes = field(default_factory=SplitSizes)
    data_dir: str | None = None

    @property
    def pilot_cost(self) -> float:
        return self.pilot.cost

    def run_config(self, base: RunConfig | None = None) -> RunConfig:
        """The run that follows this plan and reuses the pilot's labels (charged once, inside
        the budget): the plan's method and grid gold fraction, the budget and prices, the pilot's
        items, on the pool the pilot came from, with the weak labeler the pilot's weak labels
        came from. `base`: another run whose other settings (model, trainer, weak labeler,
        splits, seed, schedule) to keep, e.g. a stored run of the same pool."""
        plan: dict[str, Any] = dict(
            task=self.task,
            method=self.method,
            budget=self.budget,
            gold_frac=self.gold_frac,
            weak_cost=self.weak_cost,
            gold_cost=self.gold_cost,
            pilot=self.pilot_ids,
            weak_pilot=self.weak_pilot_ids,
        )
        if base is not None:
            return base.with_(**plan)
        return RunConfig(
            **plan,
            model=self.model,
            layer=self.layer,
            weak_model=self.weak_model,
            weak_labeler=self.weak_labeler,
            seed=self.seed,
            split_sizes=self.split_sizes,
            data_dir=self.data_dir,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what was not measured (e.g. no learning-curve check) is None."""
        d = asdict(self)
        d["pilot_cost"] = self.pilot.cost
        d["pilot"] = {
            k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in d["pilot"].items()
        }
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(d: Any) -> Advice:
        """An advice as `to_dict` (and `labelmix advise --json`) wrote it."""
        if not isinstance(d, Mapping):
            raise DataError(f"an advice is a JSON object, not {type(d).__name__}")
        names = [f.name for f in fields(Advice)]
        # An advice written before the weak labeler was recorded bought its pilot from the probe.
        d = {**_ADVICE_OPTIONAL, **d}
        missing = [n for n in names if n not in d]
        if missing:
            raise DataError(
                f"not an advice of this labelmix (no {', '.join(missing[:4])}); write it with "
                "`labelmix advise ... --json`"
            )
        v = {n: d[n] for n in names}
        try:
            v["pilot"] = PilotReport(
                **{k: float("nan") if x is None else x for k, x in d["pilot"].items()}
            )
            v["interval"] = tuple(v["interval"])
            v["weak_accuracy"] = tuple(v["weak_accuracy"])
            v["alternatives"] = tuple(tuple(a) for a in v["alternatives"])
            v["pilot_ids"] = tuple(v["pilot_ids"])
            v["weak_pilot_ids"] = tuple(v["weak_pilot_ids"])
            v["split_sizes"] = SplitSizes(**v["split_sizes"])
        except (TypeError, ValueError, AttributeError) as e:
            raise DataError(f"not a valid advice: {e}") from None
        return Advice(**v)

    @staticmethod
    def load(path: str | Path) -> Advice:
        """The advice in a file written by `labelmix advise --json > FILE`."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"advice file {path} does not exist; write one with "
                f"`labelmix advise ... --json > {path}`"
            )
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"advice file {path} is not readable JSON ({e})") from None
        try:
            return Advice.from_dict(d)
        except DataError as e:
            raise DataError(f"advice file {path}: {e}") from None


# Advice fields an older advice file may lack, and what they were then.
_ADVICE_OPTIONAL: dict[str, Any] = {"weak_labeler": "probe", "weak_pilot_ids": ()}


def check_request(budget: float, weak_cost: float, gold_cost: float, pilot_frac: float) -> None:
    """Refuse what cannot be advised, before any work."""
    for name, v in (("budget", budget), ("weak cost", weak_cost), ("gold cost", gold_cost)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ConfigError(f"{name} {v!r} must be a positive number of dollars")
    if weak_cost >= gold_cost:
        raise ConfigError(
            f"weak cost ${weak_cost:g} is not below the gold cost ${gold_cost:g}: a weak label "
            "can then never pay, so there is nothing to advise; buy gold labels only"
        )
    if budget > 1e9:
        raise ConfigError(f"budget {budget:g} is above $1e9; no labelling budget needs it")
    if budget < min(weak_cost, gold_cost):
        raise BudgetError(
            f"budget ${budget:g} buys no label (weak ${weak_cost:g}, gold ${gold_cost:g}); "
            "raise the budget"
        )
    if not (isinstance(pilot_frac, int | float) and 0.0 <= pilot_frac <= MAX_PILOT_FRAC):
        raise ConfigError(
            f"pilot fraction {pilot_frac!r} must lie in [0, {MAX_PILOT_FRAC:g}] "
            "(the share of the budget the pilot may spend; 0: no pilot)"
        )


def plan_advice(
    prior: AdvisorPrior,
    source: PilotSource,
    *,
    budget: float,
    weak_cost: float,
    gold_cost: float = 1.0,
    pool_size: int | None = None,
    pilot_frac: float = DEFAULT_PILOT_FRAC,
    methods: Sequence[str] | None = None,
    gold_fracs: Sequence[float] | None = None,
    task: str = "",
    tolerance: float = TOLERANCE,
    round_size: int = ROUND,
    fixed_pilot: int | None = None,
    min_pilot: int = MIN_PILOT,
) -> Advice:
    """Buy the pilot in rounds and choose the plan (module docstring). `methods` and
    `gold_fracs` restrict the choice (default: the prior's grid); `fixed_pilot` buys exactly
    that many items instead of deciding round by round (for studies of the pilot's size)."""
    check_request(budget, weak_cost, gold_cost, pilot_frac)
    methods = list(methods or prior.methods)
    fracs = list(prior.gold_fracs if gold_fracs is None else gold_fracs)
    cap = math.floor(pilot_frac * budget / (gold_cost + weak_cost) + 1e-9)
    if pool_size is not None:
        cap = min(cap, pool_size)
    # Only weak_only and gold_only: weak_only cannot keep a pilot's gold labels, so a pilot
    # would rule out the all-weak plan; and no weak pilot either (both ends could keep one, but
    # the benchmark never measured a weak pilot deciding between the two ends alone).
    keeps = any(m not in _ENDS for m in methods)
    if not keeps:
        cap = 0
    affordable = cap
    if fixed_pilot is None and cap < min_pilot:
        cap = 0
    target = None if fixed_pilot is None else min(fixed_pilot, cap)
    weak_cap = 0  # the weak pilot, where no pilot is bought (see MIN_WEAK_PILOT)
    if fixed_pilot is None and cap == 0:
        weak_cap = min(MAX_WEAK_PILOT, math.floor(pilot_frac * budget / weak_cost + 1e-9))
        if pool_size is not None:
            weak_cap = min(weak_cap, pool_size)
        if weak_cap < MIN_WEAK_PILOT or not keeps:
            weak_cap = 0
    n, agree, rounds, conf_sum, stopped = 0, 0, 0, 0.0, ""
    n_read, read = 0, None
    golds: list[np.ndarray] = []
    feats: list[np.ndarray] = []
    cv: CurveCheck | None = None
    while True:
        post = posterior(prior, n, agree, cv, read)
        plans = make_plans(
            budget, weak_cost, gold_cost, n, methods, fracs, pool_size, n_weak_pilot=n_read
        )
        if not plans:
            raise BudgetError(
                f"${budget:g} buys no plan of {methods} at weak ${weak_cost:g}, gold ${gold_cost:g}"
            )
        means = plan_means(prior, post, plans)
        ev, loss, best = expected(post, means)
        step = min(round_size, cap - n) if target is None else min(round_size, target - n)
        if cap == 0:
            if weak_cap and not n_read and loss >= tolerance:
                weak = source.buy_weak(weak_cap)
                n_read = weak_cap
                read = WeakRead.of(weak)
                continue
            stopped = _no_pilot_why(
                pilot_frac, budget, weak_cost + gold_cost, methods, affordable, min_pilot
            )
            break
        # No round where no pilot result could change the choice: its weak labels would only
        # be a stage of a few labels in a gold-heavy plan.
        if target is None and loss < tolerance:
            stopped = f"expected loss {100 * loss:.2f} points, below {100 * tolerance:g}"
            break
        if step <= 0:
            stopped = "the pilot's cap" if target is None else f"a fixed pilot of {target} items"
            break
        gold, weak, x = source.buy(step)
        agree += int(((weak > 0.5).astype(float) == gold).sum())
        conf_sum += float(np.maximum(weak, 1.0 - weak).sum())
        n += step
        rounds += 1
        golds.append(gold)
        if x is not None:
            feats.append(np.asarray(x, dtype=float))
            if n >= CV_MIN_ITEMS and sum(len(f) for f in feats) == n:
                cv = ridge_cv(np.concatenate(feats), np.concatenate(golds))
    plan = plans[best]
    lo, hi = predictive_interval(prior, post, means[best])
    q_mean, q_lo, q_hi = post.q_summary()
    order = np.argsort(-ev, kind="stable")
    alternatives = tuple(
        (plans[j].method, plans[j].gold_frac, plans[j].n_weak, plans[j].n_gold, float(ev[j]))
        for j in order[:4]
    )
    worth = _weak_worth(post, plan)
    expected_cv = float("nan")
    if cv is not None:
        alone = posterior(prior, n, agree, None, read)
        expected_cv = float(
            (alone.weights * gold_curve(cv.n_train, alone.ceiling, alone.speed)).sum()
        )
    report = PilotReport(
        n_items=n,
        n_agree=agree,
        cost=round(n * (gold_cost + weak_cost) + n_read * weak_cost, 6),
        mean_confidence=conf_sum / n if n else float("nan"),
        cv_accuracy=cv.accuracy if cv is not None else float("nan"),
        cv_train=cv.n_train if cv is not None else float("nan"),
        cv_expected=expected_cv,
        rounds=rounds,
        cap_items=cap,
        stopped=stopped,
        n_weak_items=n_read,
        weak_cost_paid=round(n_read * weak_cost, 6),
        weak_confidence=read.mean_confidence if read is not None else float("nan"),
    )
    advice = Advice(
        task=task,
        budget=float(budget),
        weak_cost=float(weak_cost),
        gold_cost=float(gold_cost),
        method=plan.method,
        gold_frac=plan.gold_frac,
        n_weak=plan.n_weak,
        n_gold=plan.n_gold,
        gold_share=plan.gold_share,
        on_grid=plan.on_grid,
        predicted_accuracy=float(ev[best]),
        interval=(lo, hi),
        expected_loss=loss,
        weak_accuracy=(q_mean, q_lo, q_hi),
        weak_worth=worth,
        pilot=report,
        pool_size=pool_size,
        alternatives=alternatives,
        prior_source=prior.source,
        reason="",
        pilot_ids=tuple(getattr(source, "bought", ())),
        weak_pilot_ids=tuple(getattr(source, "bought_weak", ())),
    )
    return _with_reason(advice, prior)


def _no_pilot_why(
    pilot_frac: float,
    budget: float,
    item_cost: float,
    methods: Sequence[str],
    affordable: int,
    min_pilot: int,
) -> str:
    """Why no pilot is bought (the pilot's cap is 0)."""
    if pilot_frac == 0:
        return "no pilot: --pilot-frac is 0"
    if not any(m not in _ENDS for m in methods):
        return "no pilot: only weak_only and gold_only are offered, and neither trains on both its labels"
    if affordable > 0:
        return (
            f"no pilot: {pilot_frac:.0%} of ${budget:g} buys {affordable} pilot item"
            f"{'s' if affordable > 1 else ''} (a gold and a weak label, ${item_cost:.2f}), "
            f"fewer than the {min_pilot} a pilot needs: so few items barely measure the weak "
            "labels, yet would steer the choice"
        )
    return (
        f"no pilot: {pilot_frac:.0%} of ${budget:g} does not buy one pilot item "
        f"(a gold and a weak label, ${item_cost:.2f})"
    )


def _weak_worth(post: Posterior, plan: Plan) -> float:
    """Posterior mean of lambda: gold labels one weak label of the plan is worth."""
    n_w = max(plan.n_weak_trained, 1)  # without weak labels: the worth of a first one
    eq = weak_equivalent(n_w, post.q, post.ceiling, post.speed)
    return float((post.weights * eq).sum() / n_w)


def _with_reason(a: Advice, prior: AdvisorPrior) -> Advice:
    p = a.pilot
    share = p.cost / a.budget if a.budget else 0.0
    if p.n_items:
        conf = (
            f"; the weak labels' own confidence says {p.mean_confidence:.2f}"
            if math.isfinite(p.mean_confidence)
            else ""
        )
        pilot = (
            f"The pilot bought the gold and weak labels of {p.n_items} pool items "
            f"(${p.cost:.2f}, {share:.0%} of the budget, kept in the plan) and the weak labels "
            f"agreed with gold on {p.n_agree} of them: weak accuracy {a.weak_accuracy[0]:.2f} "
            f"(90% interval {a.weak_accuracy[1]:.2f}-{a.weak_accuracy[2]:.2f}){conf}. "
        )
        if math.isfinite(p.cv_accuracy):
            pilot += (
                f"A ridge classifier on the strong model's features, cross-validated on the "
                f"pilot's gold labels ({CV_FOLDS} folds of about {p.cv_train:.0f} training "
                f"labels), scored {p.cv_accuracy:.2f} where the stores' curves expected "
                f"{p.cv_expected:.2f}: the strong model learns this task "
                + ("faster" if p.cv_accuracy > p.cv_expected else "no faster")
                + " than the stores' average task. "
            )
    else:
        why = (
            "no pilot result could change the advice by more than "
            f"{100 * TOLERANCE:g} points in expectation"
            if p.stopped.startswith("expected loss")
            else p.stopped.removeprefix("no pilot: ")  # no pilot allowed, or a fixed one of 0
        )
        if p.n_weak_items and math.isfinite(p.weak_confidence):
            pilot = (
                f"No pilot of gold labels was bought: {why}. Instead the weak labels alone of "
                f"{p.n_weak_items} pool items were bought (${p.weak_cost_paid:.2f}, kept in the "
                f"plan) and their labeler's own mean confidence, {p.weak_confidence:.2f}, read "
                f"for their accuracy: on the stores' pools a labeler's confidence overstated "
                f"it by {prior.confidence_bias:.2f} on average, give or take "
                f"{prior.confidence_sd:.2f}; so weak accuracy {a.weak_accuracy[0]:.2f} (90% "
                f"interval {a.weak_accuracy[1]:.2f}-{a.weak_accuracy[2]:.2f}). "
            )
        elif p.n_weak_items:
            pilot = (
                f"No pilot of gold labels was bought: {why}. The weak labels of "
                f"{p.n_weak_items} pool items were bought (${p.weak_cost_paid:.2f}, kept in the "
                "plan), but they are hard labels (0 or 1) whose confidence says nothing of "
                f"their accuracy; so it is unknown (anything from 0.5 to 1 is allowed: "
                f"{a.weak_accuracy[0]:.2f} on average). "
            )
        else:
            pilot = (
                f"No pilot was bought: {why}; so the weak labels' accuracy is unknown (anything "
                f"from 0.5 to 1 is allowed: {a.weak_accuracy[0]:.2f} on average). "
            )
    # A long list (the built-in prior's 18 task units) would bury the reason; name the tasks
    # once each and say how many curves they are.
    bases = list(dict.fromkeys(unit_task(t.task) for t in prior.tasks))
    tasks = ", ".join(bases)
    if len(bases) < len(prior.tasks):
        tasks += f"; {len(prior.tasks)} curves, one per task and set of weak labels"
    d_mu = math.exp(prior.log_delta[0])
    s_mu = math.exp(prior.log_speed[0])
    model = (
        f"On the stores' tasks ({tasks}) a weak label teaches as fast as a gold one but only up "
        f"to its own accuracy, gold labels close about {d_mu:.0%} of the error weak labels "
        f"leave, and the strong model gets half its gain from about {s_mu:.0f} labels; so "
        + (
            f"each weak label of this plan is worth about {a.weak_worth:.2f} gold labels. "
            if trained_weak(a.method, a.n_weak)
            else f"a first weak label would be worth about {a.weak_worth:.2f} gold labels. "
        )
    )
    if a.method == "gold_only" and a.n_weak:
        mix = f"{a.n_gold} gold labels" + (
            f" (the pilot's {p.n_items} included)" if p.n_items else ""
        )
        mix += (
            f", and not the {a.n_weak} weak labels {pilots_name(p)} bought (a weak stage that "
            "small before an all-gold stage cost accuracy in paired runs)"
        )
    else:
        mix = f"{a.n_weak} weak + {a.n_gold} gold labels"
        if p.n_items:
            mix += f" (the pilot's {p.n_items} of each included)"
    plan = (
        f"Best expected test accuracy: {a.method} with {mix}, "
        f"predicted {a.predicted_accuracy:.3f} (90% interval for one run "
        f"{a.interval[0]:.3f}-{a.interval[1]:.3f})"
    )
    if len(a.alternatives) > 1:
        m, g, nw, ng, acc = a.alternatives[1]
        plan += f"; next best {m} with {labels_phrase(m, nw, ng)}, {acc:.3f}"
    plan += (
        f". Knowing the task exactly would add {100 * a.expected_loss:.2f} points in expectation."
    )
    spent = a.n_weak * a.weak_cost + a.n_gold * a.gold_cost
    if a.pool_size is not None and a.budget - spent >= max(a.weak_cost, a.gold_cost):
        plan += (
            f" The pool holds only {a.pool_size} items, so this plan leaves "
            f"${a.budget - spent:.2f} unspent."
        )
    return replace(a, reason=pilot + model + plan)


# ---------------------------------------------------------------- on a task, end to end


def strong_features(
    model: str, layer: int | None, pool: Sequence[Any]
) -> Callable[[Sequence[str]], np.ndarray]:
    """The strong model's features of pool items by id, standardised with the statistics of
    the first STANDARDIZE_N pool inputs (unlabelled, as the probe's are)."""
    from labelmix.run import cached_extractor

    extractor = cached_extractor(model, layer)
    text = {e.id: e.text for e in pool}
    stats: list[np.ndarray] = []  # mean, sd: computed on the first call (no pilot, no work)

    def features(ids: Sequence[str]) -> np.ndarray:
        if not stats:
            base = extractor.features([e.text for e in pool[:STANDARDIZE_N]], desc="features")
            stats.extend([base.mean(axis=0), base.std(axis=0) + 1e-6])
        x = extractor.features([text[i] for i in ids], desc="features")
        return (np.asarray(x, dtype=float) - stats[0]) / stats[1]

    return features


def advise(
    task: str = "cities",
    *,
    budget: float,
    weak_cost: float = 0.1,
    gold_cost: float = 1.0,
    pilot_frac: float = DEFAULT_PILOT_FRAC,
    stores: Sequence[str | Path] | None = None,
    prior: AdvisorPrior | None = None,
    weak_labeler: str = "probe",
    weak_model: str | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    split_sizes: Any = None,
    on_prior: Callable[[AdvisorPrior], None] | None = None,
) -> Advice:
    """Advise how to spend `budget` on `task` (a registered name or `file:PATH`): buy the pilot
    from the task's pool (gold labels from its labels, weak labels from `weak_labeler`, as
    `labelmix run --weak-labeler` has them: probe, finetune, prompt, column[:SOURCE], with
    `weak_model` (default: the labeler's) trained on the weak_train split, a sunk cost as
    everywhere in labelmix), then plan. The advice records the labeler, so the run that follows
    it buys its other weak labels from the same one. `stores`: study stores to fit the prior on
    (default: the built-in prior, fitted on the three committed study stores)."""
    from labelmix.labels.weak import check_labeler, default_weak_model
    from labelmix.models.loading import check_model_name
    from labelmix.tasks.registry import get_task

    check_request(budget, weak_cost, gold_cost, pilot_frac)
    get_task(task)  # an unknown task or weak labeler is refused before the stores are read
    weak_model = weak_model or default_weak_model(weak_labeler)
    check_model_name(weak_model)
    check_labeler(weak_labeler, task, weak_model)
    if prior is None:
        prior = (
            fit_prior(load_stores(stores), source=", ".join(map(str, stores)))
            if stores
            else default_prior()
        )
    if on_prior is not None:
        on_prior(prior)
    from labelmix.labels.oracle import Oracle
    from labelmix.run import cached_splits, cached_weak_labeler, check_models_loadable

    check_models_loadable(prior.model, weak_model)
    sizes = split_sizes or SplitSizes()
    where = str(data_dir) if data_dir else None
    if where is None:
        from labelmix.paths import data_dir_from_env

        env = data_dir_from_env()
        where = str(env) if env else None
    splits = cached_splits(task, where, sizes, seed)
    weak = cached_weak_labeler(task, where, sizes, seed, weak_model, weak_labeler)
    weak = weak.priced(weak_cost)
    pool = splits.pool
    order = np.random.default_rng([seed, 7]).permutation(len(pool))
    ledger = Ledger(budget)
    source = PoolPilot(
        ids=[pool[i].id for i in order],
        oracle=Oracle.from_examples(pool, gold_cost),
        weak=weak,
        ledger=ledger,
        features=strong_features(prior.model, prior.layer, pool),
    )
    advice = plan_advice(
        prior,
        source,
        budget=budget,
        weak_cost=weak_cost,
        gold_cost=gold_cost,
        pool_size=len(pool),
        pilot_frac=pilot_frac,
        task=task,
    )
    advice = replace(
        advice,
        model=prior.model,
        layer=prior.layer,
        weak_model=weak_model,
        weak_labeler=weak_labeler,
        seed=seed,
        split_sizes=sizes,
        data_dir=where,
    )
    k = advice.pilot.n_items
    if (
        abs(ledger.spent - advice.pilot.cost) > 1e-6
        or len(advice.pilot_ids) != k
        or min(advice.n_gold, advice.n_weak) < k
    ):
        raise BudgetError(
            f"internal error: the ledger holds ${ledger.spent} for a pilot of {k} items, "
            f"and the plan ({advice.n_weak} weak + {advice.n_gold} gold labels) must keep them"
        )
    return advice
