"""Leave-one-task-out evaluation of the budget advisor (`labelmix advise`; docs/advisor.md).

    .venv/bin/python benchmarks/advisor.py --from results/paper_regimes runs/demo \
        results/signal_study --data-dir DATA_DIR --md advisor_tables.md

For every task with a store, every weak cost and every budget from $16 (the cells), and every
seed the store measured: the advisor's prior is fitted on the other tasks' runs, its pilot is
bought from that seed's pool of the held-out task (gold labels from the task, weak labels from the
seed's weak labeler, both charged), and the plan it picks is scored by its test accuracy at that
seed (read from the store or run with the pilot, below). Hindsight-best: the cell's grid
configuration with the best mean test accuracy over seeds (the oracle may look at test).
Regret = hindsight-best minus realized, per seed; a cell's regret is the mean over its seeds
(t-interval over seeds); the mean over cells has a bootstrap interval that resamples seeds within
each (task, weak cost). Nothing the advisor does sees a test or selection label, nor the held-out
task's store: its prior is fitted on the other tasks (checked: a prior that knows the held-out
task is refused), never the built-in one.

An advised plan without a pilot is a run of the store's grid and is read as it is. A plan with a
pilot (or a weak pilot: weak labels alone, bought where a pilot of a round is not affordable; its
confidence correction for a held-out unit is measured on the other tasks' weak labelers,
`confidence_gaps`) is run (`Advice.run_config`): the plan's method, gold fraction and budget with the pilot's
items, on the settings of the store's own run of that cell and seed (same splits, weak labeler,
model, schedule), so the pilot's gold and weak labels are trained on and paid once, as a user who
follows the advice pays them. These runs go into --pilot-store (resumable: a rerun reads them
back; with the feature cache a probe run takes about a second) and are flagged (`pilot_run`).
seq_sft at 50/50, a fixed policy the grid lacks, is run once into --extra-store (resumable).
`--tasks` holds out only the units named, or every unit of a task named (a quick check; the
tables then cover those units only). `--rerun-best STORE` adds a reference: each cell's
hindsight-best configuration run again at each seed on the same splits with another run seed
(resumable, into STORE), i.e. the right plan without the luck of the grid's run that the oracle
picked it by; its worst cell is how far run noise alone takes a cell from the oracle.

Several stores: the held-out unit is a task with its weak labeler (`advisor.task_unit`), e.g.
`sst2` (results/paper_regimes, probe weak labels) and `sst2 [finetune]` (results/signal_study).
A unit's grid, pilot (pool, weak labeler, split sizes, data seed) and advised runs are those of
its own store's runs (a unit found in two stores, or with runs of different settings, is
refused), and the prior for a held-out unit is fitted without its task under every weak labeler.
Its cells are the budgets its store measured from $16 (signal_study: $16-$1024). With more
than one store, the summary, policies and calibration are also given per store. `--from A+B`
reads A and B as one store: a study and the store that adds seeds to it
(results/signal_study+results/signal_study_seeds5to9 holds ten seeds at $16-$1024)."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from labelmix.analysis.advisor import (
    DEFAULT_PILOT_FRAC,
    Advice,
    AdvisorPrior,
    PoolPilot,
    fit_prior,
    load_stores,
    plan_advice,
    strong_features,
    trained_runs,
    unit_task,
    with_units,
)
from labelmix.analysis.stats import mean_interval, t975
from labelmix.config import RunConfig
from labelmix.labels.budget import Ledger
from labelmix.labels.oracle import Oracle
from labelmix.paths import data_dir_from_env
from labelmix.run import cached_splits, cached_weak_labeler
from labelmix.tasks.splits import SplitSizes

ROOT = Path(__file__).resolve().parents[1]
MIN_BUDGET = 16.0
ENDS = ("weak_only", "gold_only")
POLICIES = ("advisor", "all-gold", "all-weak", "seq_sft 50/50", "rule of thumb")
REFERENCES = ("selection split", "advisor, q known", "hindsight, other seeds")
REFERENCES += ("hindsight best, rerun",)  # only with --rerun-best
RERUN_SEED_OFFSET = 1000  # the rerun's run seed: the stored run's plus this (its splits kept)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the measured grid


@dataclass
class Grid:
    """Test (and selection) accuracy of every stored run, by (unit, c, B, method, frac, seed).
    A unit is a task with its weak labeler (`advisor.task_unit`): `sst2` (probe) and
    `sst2 [finetune]` are two units, whose runs share every other coordinate."""

    acc: dict[tuple, float]
    sel: dict[tuple, float]
    own: set[tuple]  # (unit, c, B, method, frac) of the stores' own grid (not the extra runs)

    @staticmethod
    def of(runs: pd.DataFrame, extra: pd.DataFrame) -> Grid:
        acc, sel = {}, {}
        runs, extra = _units(runs), _units(extra)
        for r in pd.concat([runs, extra], ignore_index=True).itertuples():
            cell = (r.unit, float(r.weak_cost), float(r.budget), r.method, _f(r.gold_frac))
            key = (*cell, int(r.seed))
            if key in acc:
                raise ValueError(
                    f"two stored runs of {key}: a unit's runs must come from one store"
                )
            acc[key] = float(r.accuracy)
            sel[key] = float(r.selection_accuracy)
        own = {
            (r.unit, float(r.weak_cost), float(r.budget), r.method, _f(r.gold_frac))
            for r in runs.itertuples()
        }
        return Grid(acc, sel, own)

    def configs(self, task: str, c: float, b: float) -> list[tuple[str, float]]:
        """The stores' own grid at this cell: what the advisor and the hindsight oracle choose
        from."""
        return sorted({(k[3], k[4]) for k in self.own if k[:3] == (task, c, b)})

    def seeds(self, task: str, c: float, b: float) -> list[int]:
        return sorted({k[5] for k in self.acc if k[:3] == (task, c, b)})

    def at(self, task: str, c: float, b: float, method: str, frac: float, seed: int) -> float:
        return self.acc[(task, c, b, method, _f(frac), seed)]

    def of_advice(self, task: str, c: float, b: float, advice: Advice, seed: int) -> float | None:
        """The store's own run of an advised plan at this seed, where the plan is one: no pilot
        and a grid allocation. None: the plan has to be run (it reuses a pilot or a weak pilot)."""
        if advice.pilot.n_items or advice.pilot.n_weak_items or not advice.on_grid:
            return None
        return self.at(task, c, b, advice.method, advice.gold_frac, seed)


def _f(x: object) -> float:
    v = float(x)  # type: ignore[arg-type]
    return 0.0 if math.isnan(v) else round(v, 6)


def _units(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with their unit (task and weak labeler; `advisor.with_units`)."""
    return runs if "unit" in runs.columns else with_units(runs)


# What may differ between the runs of one unit: the cell, the seed and where the data was read.
_PER_RUN = ("method", "budget", "gold_frac", "weak_cost", "seed", "data_dir", "pilot", "shots")
_PER_RUN += ("weak_pilot",)
_PER_RUN += ("gradient_checkpointing",)


def check_units(runs: pd.DataFrame) -> None:
    """Refuse a unit (task, weak labeler) whose runs come from several stores or differ in a
    setting other than the cell and the seed (split sizes, models, trainer, schedule, gold
    price): its pilot and its advised runs could not all be on the settings of its runs."""
    runs = _units(runs)
    for unit, g in runs.groupby("unit"):
        stores = sorted(set(g["store"])) if "store" in g.columns else []
        if len(stores) > 1:
            raise ValueError(
                f"{unit} is in several stores ({', '.join(stores)}): hold out one of them"
            )
        if "config" not in g.columns:
            continue
        settings = {
            json.dumps(
                {k: v for k, v in json.loads(c).items() if k not in _PER_RUN}, sort_keys=True
            )
            for c in g["config"]
        }
        if len(settings) > 1:
            raise ValueError(f"the runs of {unit} differ in their settings: {sorted(settings)[:2]}")


def data_where(cfg: dict, data_dir: str | None) -> str | None:
    """Where a stored run's task data lies on this machine: the benchmark's --data-dir, else
    LABELMIX_DATA_DIR, else where the run read it. The data folder is execution-only (not in a
    run's key; the caches key splits and weak labels by their contents), so the pilot and the
    advised runs read the same rows the store's runs read, offline too (a stored run without a
    data_dir resolved LABELMIX_DATA_DIR, as `run.resolved_data_dir` does)."""
    if data_dir:
        return str(data_dir)
    env = data_dir_from_env()
    return str(env) if env else cfg.get("data_dir")


def unit_config(runs: pd.DataFrame, unit: str, seed: int, c: float | None = None,
                b: float | None = None) -> dict:  # fmt: skip
    """The settings (config) of the unit's stored run at this seed (and weak cost and budget):
    its task, weak labeler, weak model, split sizes, data seed, model and schedule."""
    r = _units(runs)
    pick = (r["unit"] == unit) & (r["seed"] == seed)
    if c is not None:
        pick &= r["weak_cost"] == c
    if b is not None:
        pick &= r["budget"] == b
    row = r[pick]
    if row.empty:
        raise ValueError(f"no stored run of {unit} at seed {seed} (weak ${c}, ${b})")
    return json.loads(row["config"].iloc[0])


# ---------------------------------------------------------------- advised plans, run with the pilot

# (task, weak cost, budget, seed, advice) of each plan to run -> their test accuracies
Realize = Callable[[list[tuple[str, float, float, int, Advice]]], list[float]]


@dataclass
class PilotRuns:
    """Runs advised plans with their pilot (`Advice.run_config`) on the settings of the store's
    own run of the same cell and seed (its splits, weak labeler, model and schedule), into
    `store`; a rerun reads back what is there."""

    runs: pd.DataFrame
    store: Path
    data_dir: str | None
    workers: int = 1

    def config(self, unit: str, c: float, b: float, seed: int, advice: Advice) -> RunConfig:
        """The plan run on the settings of the unit's stored run of this cell and seed: its
        task, weak labeler and weak model, split sizes, seeds, model and schedule."""
        cfg = unit_config(self.runs, unit, seed, c, b)
        cfg["data_dir"] = data_where(cfg, self.data_dir)  # as load_pool has it
        rc = advice.run_config(RunConfig.from_dict(cfg))
        if rc.weak_labeler != cfg.get("weak_labeler", "probe") or rc.task != cfg["task"]:
            raise RuntimeError(f"the advised run of {unit} left the store's task or labeler")
        return rc

    def __call__(self, items: list[tuple[str, float, float, int, Advice]]) -> list[float]:
        configs = [self.config(*item) for item in items]
        return run_accuracies(configs, self.store, self.workers, "advised plans with their pilot")


def run_accuracies(configs: list[RunConfig], root: Path, workers: int, what: str) -> list[float]:
    """The test accuracy of each run, run into the store at `root` where it is not there yet
    (resumable); a run that fails stops the benchmark with where to look."""
    from labelmix.sweep import Store, run_sweep

    store = Store(root)
    todo = {c.key() for c in configs} - store.done_keys()
    if todo:
        log(f"running {len(todo)} {what} into {root}")
    run_sweep(configs, store, workers=workers, progress=False)
    acc = {r["key"]: float(r["accuracy"]) for r in store.results()}
    failed = [c.key() for c in configs if c.key() not in acc]
    if failed:
        raise RuntimeError(f"{len(failed)} {what} failed (e.g. {failed[0]}); see {root}/failed")
    return [acc[c.key()] for c in configs]


@dataclass
class BestReruns:
    """The hindsight-best configuration of a cell run again at each seed on the same splits and
    weak labels (data seed kept), with another run seed: other items bought, another training
    draw. Its regret is what a fresh run of the right plan pays against the oracle, which picks
    with the grid's own runs: the luck any advised run made with its pilot cannot share."""

    runs: pd.DataFrame
    store: Path
    data_dir: str | None
    workers: int = 1

    def config(self, unit: str, c: float, b: float, seed: int, method: str, g: float) -> RunConfig:
        cfg = unit_config(self.runs, unit, seed, c, b)
        cfg["data_dir"] = data_where(cfg, self.data_dir)
        stored = RunConfig.from_dict(cfg)
        return stored.with_(
            method=method,
            gold_frac=None if method in ENDS else g,
            data_seed=stored.split_seed,
            seed=stored.seed + RERUN_SEED_OFFSET,
        )

    def __call__(self, items: list[tuple[str, float, float, int, str, float]]) -> list[float]:
        configs = [self.config(*item) for item in items]
        what = "hindsight-best reruns with another run seed"
        return run_accuracies(configs, self.store, self.workers, what)


# ---------------------------------------------------------------- seq_sft 50/50, run once


def extra_runs(
    runs: pd.DataFrame, extra_store: Path, workers: int, data_dir: str | None = None
) -> pd.DataFrame:
    """seq_sft at gold fraction 0.5 for every (task, c, B >= $16, seed) that lacks it: built
    from the config of a stored seq_sft run of the same cell and seed, run into `extra_store`."""
    from labelmix.sweep import Store, run_sweep

    runs = _units(runs)
    have = runs[(runs["method"] == "seq_sft") & np.isclose(runs["gold_frac"].astype(float), 0.5)]
    have_keys = set(zip(have.unit, have.weak_cost, have.budget, have.seed, strict=True))
    todo = {}
    base = runs[(runs["method"] == "seq_sft") & (runs["budget"] >= MIN_BUDGET)]
    for r in base.itertuples():
        if (r.unit, r.weak_cost, r.budget, r.seed) in have_keys:
            continue
        cfg = json.loads(r.config)  # the unit's own run: its weak labeler, splits and seeds
        cfg["gold_frac"] = 0.5
        cfg["data_dir"] = data_where(cfg, data_dir)
        rc = RunConfig.from_dict(cfg)
        todo[rc.key()] = rc
    if not todo:
        return runs.iloc[0:0]
    store = Store(extra_store)
    missing = [k for k in todo if k not in store.done_keys()]
    if missing:
        log(
            f"running seq_sft at 50/50 where the grid lacks it: {len(missing)} runs into {extra_store}"
        )
        run_sweep(list(todo.values()), store, workers=workers, progress=False)
    done = store.table()
    # only this benchmark's runs (the store may hold those of other stores' units)
    return _units(trained_runs(done[done["key"].isin(list(todo))]))


# ---------------------------------------------------------------- pilots on held-out tasks


@dataclass
class PoolData:
    ids: list[str]
    oracle: Oracle
    weak: object  # WeakLabeler (unpriced)
    q_pool: float
    features: object  # id -> standardised strong-model features (advisor.strong_features)
    task: str = ""  # the task's registered name (the unit's name adds its weak labeler)


def unit_pool(
    unit: str, seed: int, runs: pd.DataFrame, data_dir: str | None
) -> tuple[dict, list, object, np.ndarray, np.ndarray]:
    """The seed's pool and weak labeler of a unit (task and weak labeler), as the unit's stored
    runs had them (the same split sizes, data seed, weak model and weak labeler): the run's
    settings, the pool, the weak labeler, its weak labels (probabilities) and the gold labels."""
    cfg = unit_config(runs, unit, seed)
    task = cfg["task"]
    sizes = SplitSizes(**cfg["split_sizes"])
    where = data_where(cfg, data_dir)
    data_seed = seed if cfg.get("data_seed") is None else int(cfg["data_seed"])
    splits = cached_splits(task, where, sizes, data_seed)
    labeler = cfg.get("weak_labeler", "probe")
    weak = cached_weak_labeler(task, where, sizes, data_seed, cfg["weak_model"], labeler)
    p = weak.peek([e.id for e in splits.pool])
    y = np.array([e.label for e in splits.pool])
    return cfg, splits.pool, weak, p, y


def load_pool(unit: str, seed: int, runs: pd.DataFrame, data_dir: str | None) -> PoolData:
    """What the advisor's pilot buys from on a unit at a seed (`unit_pool`), with its weak
    labels' pool accuracy and the strong model's features."""
    cfg, pool, weak, p, y = unit_pool(unit, seed, runs, data_dir)
    return PoolData(
        [e.id for e in pool],
        Oracle.from_examples(pool, float(cfg.get("gold_cost", 1.0))),
        weak,
        float(((p > 0.5) == y).mean()),
        strong_features(str(cfg["model"]), cfg.get("layer"), pool),
        cfg["task"],
    )


def advise_cell(
    prior: AdvisorPrior,
    pool: PoolData,
    task: str,
    c: float,
    b: float,
    seed: int,
    gold: float,
    configs: list[tuple[str, float]],
    pilot_frac: float,
    fixed_pilot: int | None = None,
) -> Advice:
    order = np.random.default_rng([seed, int(b * 100), int(round(c * 1e6))]).permutation(
        len(pool.ids)
    )
    ledger = Ledger(b)
    source = PoolPilot(
        [pool.ids[i] for i in order],
        pool.oracle,
        pool.weak.priced(c),  # type: ignore[attr-defined]
        ledger,
        features=pool.features,  # type: ignore[arg-type]
    )
    methods = sorted({m for m, _ in configs})
    fracs = sorted({g for m, g in configs if m not in ENDS})
    advice = plan_advice(
        prior,
        source,
        budget=b,
        weak_cost=c,
        gold_cost=gold,
        pool_size=len(pool.ids),
        pilot_frac=pilot_frac,
        methods=methods,
        gold_fracs=fracs,
        task=pool.task or task,  # the advice's run trains on the task, not on the unit's name
        fixed_pilot=fixed_pilot,
    )
    k, kw = advice.pilot.n_items, advice.pilot.n_weak_items
    bought = [*source.bought, *source.bought_weak]
    if abs(ledger.spent - advice.pilot.cost) > 1e-6 or len(set(bought)) != k + kw:
        raise RuntimeError(
            f"the pilot of {k} items (and {kw} weak) is not charged once: ledger ${ledger.spent}"
        )
    if (
        advice.n_gold < k
        or advice.n_weak < k + kw
        or advice.n_gold * gold + advice.n_weak * c > b + 1e-6
    ):
        raise RuntimeError(
            f"the plan {advice.n_weak}/{advice.n_gold} drops the pilot or overspends"
        )
    return advice


# ---------------------------------------------------------------- the evaluation


def _best_without(acc: dict[tuple[str, float], dict[int, float]], seed: int) -> tuple[str, float]:
    """The configuration with the best mean test accuracy over the other seeds: the hindsight
    best without the luck of this seed's runs, which the usual oracle shares with the grid."""
    others = {x: [a for s, a in by.items() if s != seed] for x, by in acc.items()}
    if not any(others.values()):
        return max(acc, key=lambda x: acc[x][seed])
    return max(others, key=lambda x: float(np.mean(others[x])))


def evaluate(
    runs: pd.DataFrame,
    grid: Grid,
    data_dir: str | None,
    pilot_frac: float,
    fixed: int | None = None,
    priors: dict[str, AdvisorPrior] | None = None,
    pools: dict | None = None,
    known_q: bool = True,
    tasks: list[str] | None = None,
    realize: Realize | None = None,
    confidence: dict[tuple[str, int], float] | None = None,
    rerun: BestReruns | None = None,
) -> pd.DataFrame:
    """One row per (unit, weak cost, budget, seed): every policy's test accuracy, the hindsight
    best's, and the advisor's prediction, interval and pilot. A unit is a task with its weak
    labeler (`advisor.task_unit`; column `task` of the rows, `base_task` the task itself); its
    prior is fitted on the runs of every other task, under any labeler (`held_out_prior`).
    `tasks`: the held-out units, or tasks for all their units (default: every unit in `runs`).
    `realize` runs the advised plans that reuse a pilot (default: PilotRuns into
    runs/advisor_pilot); the others are read from the grid. `rerun` adds the reference
    "hindsight best, rerun" (BestReruns)."""
    rows = []
    pending: list[tuple[dict, str, tuple[str, float, float, int, Advice]]] = []
    reruns: list[tuple[dict, tuple[str, float, float, int, str, float]]] = []

    def score(row: dict, column: str, task: str, c: float, b: float, adv: Advice) -> None:
        """The plan's test accuracy from the grid, or later from its run with the pilot."""
        s = row["seed"]
        row[column] = grid.of_advice(task, c, b, adv, s)
        if row[column] is None:
            pending.append((row, column, (task, c, b, s, adv)))

    runs = _units(runs)
    units = held_out_units(runs, tasks)
    priors = priors if priors is not None else {}
    pools = pools if pools is not None else {}
    for task in units:  # the unit: a task and its weak labeler
        base = base_of(runs, task)
        if task not in priors:
            priors[task] = held_out_prior(runs, task, confidence)
        prior = priors[task]
        check_held_out(prior, task, runs)
        sub = runs[(runs["unit"] == task) & (runs["budget"] >= MIN_BUDGET)]
        gold = float(sub["gold_cost"].iloc[0])
        for c in sorted(sub["weak_cost"].unique()):
            for b in sorted(sub[sub["weak_cost"] == c]["budget"].unique()):
                configs = grid.configs(task, c, b)
                seeds = grid.seeds(task, c, b)
                seeds = [
                    s for s in seeds if all((task, c, b, m, g, s) in grid.acc for m, g in configs)
                ]
                acc_by = {x: {s: grid.at(task, c, b, *x, s) for s in seeds} for x in configs}
                means = {x: np.mean(list(by.values())) for x, by in acc_by.items()}
                best = max(means, key=lambda x: means[x])
                chosen = max(
                    configs, key=lambda x: np.mean([grid.sel[(task, c, b, *x, s)] for s in seeds])
                )
                for s in seeds:
                    if (task, s) not in pools:
                        pools[(task, s)] = load_pool(task, s, runs, data_dir)
                    pool = pools[(task, s)]
                    adv = advise_cell(prior, pool, task, c, b, s, gold, configs, pilot_frac, fixed)
                    row = {
                        "task": task,
                        "base_task": base,
                        "weak_labeler": str(sub["weak_labeler"].iloc[0]),
                        "store": str(sub["store"].iloc[0]) if "store" in sub.columns else "",
                        "weak_cost": c,
                        "budget": b,
                        "seed": s,
                        "best_config": f"{best[0]}@{best[1]:g}",
                        "best": grid.at(task, c, b, *best, s),
                        "all-gold": grid.at(task, c, b, "gold_only", 1.0, s),
                        "all-weak": grid.at(task, c, b, "weak_only", 0.0, s),
                        "seq_sft 50/50": grid.at(task, c, b, "seq_sft", 0.5, s),
                        "rule of thumb": rule_of_thumb(grid, task, c, b, s),
                        "selection split": grid.at(task, c, b, *chosen, s),
                        "hindsight, other seeds": grid.at(task, c, b, *_best_without(acc_by, s), s),
                        "pick": f"{adv.method}@{adv.gold_frac:g}",
                        "pilot_run": adv.pilot.n_items + adv.pilot.n_weak_items > 0
                        or not adv.on_grid,
                        "n_weak": adv.n_weak,
                        "n_gold": adv.n_gold,
                        "predicted": adv.predicted_accuracy,
                        "lo": adv.interval[0],
                        "hi": adv.interval[1],
                        "pilot_items": adv.pilot.n_items,
                        "pilot_cost": adv.pilot.cost,
                        "weak_pilot_items": adv.pilot.n_weak_items,
                        "weak_confidence": adv.pilot.weak_confidence,
                        "q_pilot": adv.weak_accuracy[0],
                        "cv_accuracy": adv.pilot.cv_accuracy,
                        "cv_expected": adv.pilot.cv_expected,
                        "q_pool": pool.q_pool,
                        "expected_loss": adv.expected_loss,
                    }
                    score(row, "advisor", task, c, b, adv)
                    if known_q:
                        # q known for free: the same advice with a pilot of 2,000 items that costs nothing
                        ref = _known_q_advice(prior, pool, b, c, gold, configs)
                        score(row, "advisor, q known", task, c, b, ref)
                    if rerun is not None:
                        reruns.append((row, (task, c, b, s, best[0], best[1])))
                    rows.append(row)
    if pending:
        if realize is None:
            realize = PilotRuns(runs, ROOT / "runs" / "advisor_pilot", data_dir)
        for (row, column, _), acc in zip(pending, realize([p[2] for p in pending]), strict=True):
            row[column] = acc
    if rerun is not None and reruns:
        for (row, _), acc in zip(reruns, rerun([r[1] for r in reruns]), strict=True):
            row["hindsight best, rerun"] = acc
    out = pd.DataFrame(rows)
    for (task, c, b), g in out.groupby(["task", "weak_cost", "budget"], sort=False):
        log(
            f"[{task}] weak ${c:g} budget ${b:g}: {len(g)} seeds, pilot "
            f"{g['pilot_items'].mean():.0f} items, picks {sorted(set(g['pick']))}, "
            f"{int(g['pilot_run'].sum())} run with the pilot, regret "
            f"{100 * (g['best'] - g['advisor']).mean():.2f} points"
        )
    return out


def held_out_units(runs: pd.DataFrame, tasks: list[str] | None = None) -> list[str]:
    """The units to hold out: every unit of `runs`, or those named in `tasks` by unit or by task
    (a task names all its units)."""
    runs = _units(runs)
    every = sorted(runs["unit"].unique())
    if not tasks:
        return every
    pick = [u for u in every if u in tasks or base_of(runs, u) in tasks]
    unknown = [t for t in tasks if t not in every and t not in set(runs["task"])]
    if unknown:
        raise ValueError(f"no store holds {unknown}: the units are {every}")
    return pick


def held_out_prior(
    runs: pd.DataFrame, unit: str, confidence: dict[tuple[str, int], float] | None = None
) -> AdvisorPrior:
    """The prior for a held-out unit: fitted on the runs of every other task. The unit's task is
    left out under every weak labeler (holding out `sst2 [finetune]` drops `sst2` (probe) too:
    the same texts and strong model, only the weak labels differ). `confidence`
    (`confidence_gaps`): the weak pilot's calibration, from the other tasks' weak labelers."""
    runs = _units(runs)
    base = base_of(runs, unit)
    t0 = time.perf_counter()
    prior = fit_prior(runs[runs["task"] != base], source=f"stores without {base}")
    if confidence is not None:
        # the weak pilot's calibration, measured without the held-out task too
        task_of = dict(zip(runs["unit"], runs["task"], strict=True))
        gaps = np.array([g for (u, _), g in confidence.items() if task_of[u] != base])
        prior = replace(
            prior,
            confidence_bias=float(gaps.mean()),
            confidence_sd=max(float(gaps.std(ddof=1)), 1e-3),
        )
    log(
        f"[{unit}] prior fitted on {', '.join(t.task for t in prior.tasks)} "
        f"in {time.perf_counter() - t0:.0f} s; weak labelers' confidence minus accuracy "
        f"{prior.confidence_bias:+.3f} (sd {prior.confidence_sd:.3f})"
    )
    return prior


def base_of(runs: pd.DataFrame, unit: str) -> str:
    """The task of a unit of `runs` (its runs' `task`)."""
    return str(runs.loc[runs["unit"] == unit, "task"].iloc[0])


def confidence_gaps(
    runs: pd.DataFrame, data_dir: str | None, seeds: tuple[int, ...] = (0, 1)
) -> dict[tuple[str, int], float]:
    """Per unit and seed: the weak labeler's mean confidence max(p, 1 - p) on its whole pool
    minus its accuracy there (what the weak pilot's reading of q must correct)."""
    runs = _units(runs)
    out = {}
    for unit in sorted(runs["unit"].unique()):
        for seed in seeds:
            _, _, _, p, y = unit_pool(unit, seed, runs, data_dir)
            out[(unit, seed)] = float(np.maximum(p, 1 - p).mean() - ((p > 0.5) == y).mean())
    return out


def check_held_out(prior: AdvisorPrior, unit: str, runs: pd.DataFrame) -> None:
    """Refuse a prior that knows the held-out unit's task, under any weak labeler."""
    runs = _units(runs)
    task_of = dict(zip(runs["unit"], runs["task"], strict=True))
    base = task_of.get(unit, unit)
    known = {task_of.get(t.task, unit_task(t.task)) for t in prior.tasks}
    known |= {t.task for t in prior.tasks}
    if base in known or unit in known:
        raise ValueError(
            f"the prior for held-out {unit} was fitted on {base}'s own store "
            f"(its tasks: {', '.join(t.task for t in prior.tasks)})"
        )


def _known_q_advice(
    prior: AdvisorPrior,
    pool: PoolData,
    b: float,
    c: float,
    gold: float,
    configs: list[tuple[str, float]],
) -> Advice:
    """The advice when q is known exactly and for free (a reference for the pilot's cost)."""
    from labelmix.analysis import advisor as A

    post = A.posterior(prior, 2000, int(round(2000 * pool.q_pool)))
    methods = sorted({m for m, _ in configs})
    fracs = sorted({g for m, g in configs if m not in ENDS})
    plans = A.make_plans(b, c, gold, 0, methods, fracs, len(pool.ids))
    means = A.plan_means(prior, post, plans)
    ev, loss, best = A.expected(post, means)
    p = plans[best]
    nan = math.nan
    return Advice(
        task="",
        budget=b,
        weak_cost=c,
        gold_cost=gold,
        method=p.method,
        gold_frac=p.gold_frac,
        n_weak=p.n_weak,
        n_gold=p.n_gold,
        gold_share=p.gold_share,
        on_grid=p.on_grid,
        predicted_accuracy=float(ev[best]),
        interval=(0.0, 1.0),
        expected_loss=loss,
        weak_accuracy=post.q_summary(),
        weak_worth=nan,
        pilot=A.PilotReport(0, 0, 0.0, nan, nan, nan, nan, 0, 0, "q known"),
        pool_size=len(pool.ids),
        alternatives=(),
        prior_source="",
        reason="",
    )


def rule_of_thumb(grid: Grid, task: str, c: float, b: float, s: int) -> float:
    """The paper's rule at weak $0.10, applied as stated at every price: all weak up to $64, a
    50/50 mix in between, all gold from $1024."""
    if b <= 64:
        return grid.at(task, c, b, "weak_only", 0.0, s)
    if b >= 1024:
        return grid.at(task, c, b, "gold_only", 1.0, s)
    return grid.at(task, c, b, "seq_sft", 0.5, s)


# ---------------------------------------------------------------- summaries


def cell_table(rows: pd.DataFrame, policy: str) -> pd.DataFrame:
    keys = ["task", "weak_cost", "budget"]
    r = rows.assign(regret=rows["best"] - rows[policy])
    out = (
        r.groupby(keys)
        .agg(regret=("regret", "mean"), sd=("regret", "std"), n=("regret", "size"))
        .reset_index()
    )
    out["ci"] = [
        t975(int(n)) * sd / math.sqrt(n) if n > 1 else math.nan
        for sd, n in zip(out["sd"], out["n"], strict=True)
    ]
    return out


def bootstrap_means(
    rows: pd.DataFrame, policies: list[str], n_boot: int = 2000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Mean regret over cells for each resample of seeds (within each task and weak cost, the
    seeds are resampled together across budgets: a seed's budgets share its splits)."""
    rng = np.random.default_rng(seed)
    groups = []
    for _, g in rows.groupby(["task", "weak_cost"]):
        seeds = sorted(g["seed"].unique())
        cells = []
        for _, cell in g.groupby("budget"):
            by_seed = cell.set_index("seed")
            cells.append(
                {p: (by_seed["best"] - by_seed[p]).reindex(seeds).to_numpy() for p in policies}
            )
        groups.append((len(seeds), cells))
    n_cells = sum(len(c) for _, c in groups)
    out = {p: np.zeros(n_boot) for p in policies}
    for i in range(n_boot):
        for n, cells in groups:
            pick = rng.integers(0, n, size=n)
            for cell in cells:
                for p in policies:
                    out[p][i] += np.nanmean(cell[p][pick])
        for p in policies:
            out[p][i] /= n_cells
    return out


def summary(rows: pd.DataFrame) -> str:
    present = [p for p in (*POLICIES, *REFERENCES) if p in rows.columns]
    boot = bootstrap_means(rows, present)
    lines = [
        "| policy | mean regret (points) [95% CI] | worst cell (points) [95% CI] | worst cell | "
        "advisor minus policy [95% CI] | cells where the advisor is better / worse (CI excludes 0) |",
        "|---|---|---|---|---|---|",
    ]
    adv_cells = cell_table(rows, "advisor")
    for p in present:
        cells = cell_table(rows, p)
        mean = cells["regret"].mean()
        lo, hi = np.quantile(boot[p], [0.025, 0.975])
        w = cells.loc[cells["regret"].idxmax()]
        where = f"{w.task} ${w.weak_cost:g} ${w.budget:g}"
        if p == "advisor":
            diff, wins = "—", "—"
        else:
            d = boot["advisor"] - boot[p]
            dlo, dhi = np.quantile(d, [0.025, 0.975])
            diff = f"{100 * (adv_cells['regret'].mean() - mean):+.2f} [{100 * dlo:+.2f}, {100 * dhi:+.2f}]"
            paired = rows.assign(d=rows[p] - rows["advisor"]).groupby(
                ["task", "weak_cost", "budget"]
            )["d"]
            m, sd, n = paired.mean(), paired.std(), paired.size()
            half = np.array([t975(int(k)) for k in n]) * sd / np.sqrt(n)
            better = int(((m + half) < 0).sum())
            worse = int(((m - half) > 0).sum())
            wins = f"{better} / {worse} of {len(m)}"
        lines.append(
            f"| {p} | {100 * mean:.2f} [{100 * lo:.2f}, {100 * hi:.2f}] | {100 * w.regret:.2f} "
            f"[{100 * (w.regret - w.ci):.2f}, {100 * (w.regret + w.ci):.2f}] | {where} | {diff} | {wins} |"
        )
    return "\n".join(lines)


def per_budget(rows: pd.DataFrame, policy: str = "advisor") -> str:
    cells = cell_table(rows, policy)
    budgets = sorted(cells["budget"].unique())
    lines = [
        "| task | weak $ | " + " | ".join(f"${b:g}" for b in budgets) + " |",
        "|---" * (len(budgets) + 2) + "|",
    ]
    for (t, c), g in cells.groupby(["task", "weak_cost"]):
        vals = []
        for b in budgets:
            hit = g[g["budget"] == b]
            if hit.empty:
                vals.append("—")
            else:
                r = hit.iloc[0]
                ci = "" if math.isnan(r.ci) else f" ± {100 * r.ci:.1f}"
                vals.append(f"{100 * r.regret:.1f}{ci}")
        lines.append(f"| {t} | {c:g} | " + " | ".join(vals) + " |")
    by_b = cells.groupby("budget")["regret"].mean()
    lines.append(
        "| **mean** | | "
        + " | ".join(f"**{100 * by_b.get(b, math.nan):.2f}**" for b in budgets)
        + " |"
    )
    return "\n".join(lines)


def policy_tables(rows: pd.DataFrame) -> str:
    """Mean regret of every policy by budget and by task (points)."""
    present = [p for p in (*POLICIES, *REFERENCES) if p in rows.columns]
    out = []
    for col in ("budget", "task"):
        values = sorted(rows[col].unique())
        head = [f"${v:g}" if col == "budget" else str(v) for v in values]
        lines = ["| policy | " + " | ".join(head) + " |", "|---" * (len(values) + 1) + "|"]
        for p in present:
            cells = cell_table(rows, p)
            by = cells.groupby(col)["regret"].mean()
            lines.append(f"| {p} | " + " | ".join(f"{100 * by[v]:.2f}" for v in values) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def losses_table(rows: pd.DataFrame) -> str:
    """Cells where a fixed policy beats the advisor with a 95% t-interval over seeds that
    excludes 0."""
    keys = ["task", "weak_cost", "budget"]
    lines = [
        "| task | weak $ | budget | policy | its accuracy | advisor's | difference [95% CI] | "
        "advisor's plan | pilot items |",
        "|---" * 9 + "|",
    ]
    for p in POLICIES[1:]:
        for (t, c, b), g in rows.groupby(keys):
            d = g[p] - g["advisor"]
            if len(d) < 2:
                continue
            mean, half = mean_interval(d.tolist())
            if mean - half > 0:
                picks = ", ".join(sorted(set(g["pick"])))
                lines.append(
                    f"| {t} | {c:g} | ${b:g} | {p} | {g[p].mean():.3f} | {g['advisor'].mean():.3f} | "
                    f"{100 * mean:+.1f} [{100 * (mean - half):+.1f}, {100 * (mean + half):+.1f}] | "
                    f"{picks} | {g['pilot_items'].mean():.0f} |"
                )
    return "\n".join(lines)


def picks_table(rows: pd.DataFrame) -> str:
    keys = ["task", "weak_cost", "budget"]
    lines = [
        "| task | weak $ | budget | advisor's plan(s) | n weak / n gold (mean) | pilot items (mean, $) | "
        "hindsight best | predicted | realized | regret | runs with the pilot |",
        "|---" * 11 + "|",
    ]
    for (t, c, b), g in rows.groupby(keys):
        picks = ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in g["pick"].value_counts().items())
        lines.append(
            f"| {t} | {c:g} | ${b:g} | {picks} | {g['n_weak'].mean():.0f} / {g['n_gold'].mean():.0f} | "
            f"{g['pilot_items'].mean():.0f} (${g['pilot_cost'].mean():.2f}) | {g['best_config'].iloc[0]} | "
            f"{g['predicted'].mean():.3f} [{g['lo'].mean():.3f}, {g['hi'].mean():.3f}] | "
            f"{g['advisor'].mean():.3f} | {100 * (g['best'] - g['advisor']).mean():.1f} | "
            f"{int(g['pilot_run'].sum())} of {len(g)} |"
        )
    return "\n".join(lines)


def coverage(rows: pd.DataFrame) -> pd.Series:
    """Per advised run: does the realized test accuracy lie in that run's own 90% interval?"""
    return (rows["advisor"] >= rows["lo"]) & (rows["advisor"] <= rows["hi"])


def calibration(rows: pd.DataFrame) -> str:
    """Coverage at the level the interval is stated at: one run's test accuracy against that
    run's interval (not a cell's mean over seeds against a one-run interval, which is too wide
    for a mean). The runs made with the pilot and the store's own runs are shown apart."""
    r = rows.assign(inside=coverage(rows))
    by_task = r.groupby("task")["inside"].mean()
    per_cell = r.groupby(["task", "weak_cost", "budget"])["inside"].mean()
    err = rows["predicted"] - rows["advisor"]
    parts = []
    for name, sub in (
        ("the store's own runs", r[~r["pilot_run"]]),
        ("run with the pilot", r[r["pilot_run"]]),
    ):
        if len(sub):
            parts.append(f"{name} {sub['inside'].mean():.0%} of {len(sub)}")
    return (
        f"- advised runs whose realized test accuracy lies in their own 90% interval: "
        f"**{r['inside'].mean():.0%}** ({int(r['inside'].sum())} of {len(r)}; "
        + "; ".join(parts)
        + "); by task: "
        + ", ".join(f"{t} {v:.0%}" for t, v in by_task.items())
        + f"\n- cells (task, weak cost, budget) where at least 80% of the runs are inside: "
        f"**{(per_cell >= 0.8).mean():.0%}** ({int((per_cell >= 0.8).sum())} of {len(per_cell)}); "
        f"where every run is: {int((per_cell == 1).sum())}. Runs of a cell share the task, and "
        "runs of a seed share its test split, so these are not independent trials."
        + f"\n- prediction minus realized: mean {100 * err.mean():+.1f} points, mean absolute "
        f"{100 * err.abs().mean():.1f}; mean interval width {100 * (rows['hi'] - rows['lo']).mean():.1f} points"
    )


def weak_ceiling_check(runs: pd.DataFrame, rows: pd.DataFrame) -> str:
    """The model's assumption that weak labels alone approach their own accuracy q (on the
    pool): each task's fitted weak ceiling (all stores) beside its measured pool accuracy. A
    diagnostic fitted with every task: no advice above uses it."""
    prior = fit_prior(runs, source="all stores")
    q = rows.groupby("task")["q_pool"].mean()
    lines = [
        "| task | weak labels' accuracy on the pool (mean over seeds) | fitted weak ceiling | "
        "fitted gold ceiling A | speed s (labels) | delta | curve RMSE |",
        "|---" * 7 + "|",
    ]
    for t in prior.tasks:
        name = short_unit(t.task)
        lines.append(
            f"| {name} | {q.get(name, math.nan):.3f} | {t.weak_ceiling:.3f} | {t.ceiling:.3f} | "
            f"{t.speed:.0f} | {t.delta:.2f} | {t.rmse:.3f} |"
        )
    return (
        "\n".join(lines)
        + f"\n\ngamma (pooled) = {prior.gamma:g}; one run's sd around the curves = {prior.sigma:.3f}"
    )


def pilot_table(rows: pd.DataFrame) -> str:
    g = rows.groupby(["weak_cost", "budget"]).agg(
        items=("pilot_items", "mean"),
        cost=("pilot_cost", "mean"),
        zero=("pilot_items", lambda x: float((x == 0).mean())),
    )
    lines = [
        "| weak $ | budget | pilot items (mean) | pilot $ (mean) | share of budget | runs with no pilot |",
        "|---|---|---|---|---|---|",
    ]
    for (c, b), r in g.iterrows():
        lines.append(
            f"| {c:g} | ${b:g} | {r['items']:.1f} | ${r['cost']:.2f} | {r['cost'] / b:.1%} | {r['zero']:.0%} |"
        )
    return "\n".join(lines)


def confidence_table(gaps: dict[tuple[str, int], float], rows: pd.DataFrame) -> str:
    """The calibration the weak pilot corrects for, per unit (pool of seeds 0 and 1), and what
    the weak pilot read."""
    by_unit: dict[str, list[float]] = {}
    for (u, _), g in gaps.items():
        by_unit.setdefault(short_unit(u), []).append(g)
    allg = np.array(list(gaps.values()))
    lines = [
        f"Over {len(allg)} pools ({len(by_unit)} units, seeds 0 and 1): mean {allg.mean():+.3f}, "
        f"sd {allg.std(ddof=1):.3f} (each held-out unit's prior uses these of the other tasks).",
        "",
        "| unit | confidence minus accuracy (seeds 0, 1) |",
        "|---|---|",
    ]
    lines += [f"| {u} | {', '.join(f'{g:+.3f}' for g in v)} |" for u, v in sorted(by_unit.items())]
    if "weak_pilot_items" in rows.columns:
        read = rows[rows["weak_pilot_items"] > 0]
        cells = read.groupby(["task", "weak_cost", "budget"]).ngroups
        lines += [
            "",
            f"The weak pilot was bought in {len(read)} advised runs ({cells} cells), "
            f"{read['weak_pilot_items'].mean():.1f} weak labels on average"
            + (f" (${read['pilot_cost'].mean():.2f})" if len(read) else "")
            + ".",
        ]
    return "\n".join(lines)


def short_unit(unit: str) -> str:
    """A unit's name for the tables: a `file:PATH` task by its file name."""
    m = re.match(r"file:(.*?)( \[[^\]]*\])?$", unit)
    return f"file:{Path(m.group(1)).name}{m.group(2) or ''}" if m else unit


def units_table(rows: pd.DataFrame) -> str:
    """Each held-out unit: its store, task, weak labeler, weak prices, budgets and seeds, the
    advisor's mean regret, and its calibration."""
    lines = [
        "| unit | store | task | weak labeler | weak $ | budgets | seeds | cells | advised runs | "
        "mean regret | runs inside | cells with 80% inside | prediction minus realized |",
        "|---" * 13 + "|",
    ]
    r = rows.assign(inside=coverage(rows), err=rows["predicted"] - rows["advisor"])
    for unit, g in rows.groupby("task"):
        prices = ", ".join(f"{c:g}" for c in sorted(g["weak_cost"].unique()))
        budgets = sorted(g["budget"].unique())
        lines.append(
            f"| {unit} | {g['store'].iloc[0]} | {short_unit(str(g['base_task'].iloc[0]))} | "
            f"{g['weak_labeler'].iloc[0]} | {prices} | ${budgets[0]:g}-${budgets[-1]:g} | "
            f"{g['seed'].nunique()} | {g.groupby(['weak_cost', 'budget']).ngroups} | {len(g)} | "
            f"{100 * (g['best'] - g['advisor']).mean():.2f} | "
            f"{r.loc[g.index, 'inside'].mean():.0%} | "
            f"{(r.loc[g.index].groupby(['weak_cost', 'budget'])['inside'].mean() >= 0.8).mean():.0%} | "
            f"{100 * r.loc[g.index, 'err'].mean():+.1f} |"
        )
    return "\n".join(lines)


def read_stores(paths: list[str]) -> pd.DataFrame:
    """The trained runs of the stores, each tagged with its store and unit. `A+B` reads stores A
    and B as one (a study and its seed extension: the same units on more seeds)."""
    frames = []
    for p in paths:
        df = trained_runs(load_stores(p.split("+")))
        frames.append(df.assign(store=str(p)))
    return with_units(pd.concat(frames, ignore_index=True))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--from", dest="stores", nargs="+", default=[str(ROOT / "results" / "paper_regimes")]
    )
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--extra-store", default=str(ROOT / "runs" / "advisor_extra"))
    ap.add_argument(
        "--pilot-store",
        default=str(ROOT / "runs" / "advisor_pilot"),
        help="where the advised plans are run with their pilot (resumable)",
    )
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--pilot-frac", type=float, default=DEFAULT_PILOT_FRAC)
    ap.add_argument(
        "--tasks", nargs="+", default=None, help="hold out only these tasks (default: every one)"
    )
    ap.add_argument(
        "--sensitivity", action="store_true", help="also fixed pilots of 0/8/24/64 items"
    )
    ap.add_argument(
        "--rerun-best",
        default=None,
        metavar="STORE",
        help="also rerun each cell's hindsight-best configuration with another run seed (same "
        "splits) into STORE: the reference 'hindsight best, rerun'",
    )
    ap.add_argument("--md", default=None, help="write the tables to this Markdown file")
    ap.add_argument("--csv", default=None, help="write the per-seed rows to this CSV")
    ap.add_argument(
        "--print-prior", action="store_true", help="print the prior fitted on all stores (JSON)"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    runs = read_stores(args.stores)
    if args.print_prior:
        prior = fit_prior(runs, source=", ".join(args.stores))
        print(json.dumps(prior.to_dict(), indent=1))
        return
    check_units(runs)
    extra = extra_runs(runs, Path(args.extra_store), args.workers, args.data_dir)
    grid = Grid.of(runs, extra)
    log(f"{len(runs)} stored runs (+{len(extra)} seq_sft 50/50) of {sorted(runs['unit'].unique())}")
    priors: dict[str, AdvisorPrior] = {}
    pools: dict = {}
    realize = PilotRuns(runs, Path(args.pilot_store), args.data_dir, args.workers)
    gaps = confidence_gaps(runs, args.data_dir)
    rows = evaluate(
        runs,
        grid,
        args.data_dir,
        args.pilot_frac,
        priors=priors,
        pools=pools,
        tasks=args.tasks,
        realize=realize,
        confidence=gaps,
        rerun=None
        if args.rerun_best is None
        else BestReruns(runs, Path(args.rerun_best), args.data_dir, args.workers),
    )
    held_out = f" --tasks {' '.join(args.tasks)}" if args.tasks else ""
    rows = rows.assign(task=rows["task"].map(short_unit))  # file:PATH tasks by their file name
    out = [
        f"Command: `python benchmarks/advisor.py --from {' '.join(args.stores)} --data-dir "
        f"{args.data_dir} --pilot-frac {args.pilot_frac:g}{held_out}`; "
        f"{len(rows)} advised runs in {rows.groupby(['task', 'weak_cost', 'budget']).ngroups} cells; "
        f"{time.perf_counter() - t0:.0f} s. {int(rows['pilot_run'].sum())} of the {len(rows)} "
        f"advised plans reuse a pilot and were run with it ({args.pilot_store}); the others are "
        "the stores' own runs.",
        "### Regret against the hindsight-best allocation (accuracy points; lower is better)",
        summary(rows),
        "### The advisor's regret per cell (mean over seeds ± 95% t-interval)",
        per_budget(rows),
        "### Every policy's mean regret by budget and by task (points)",
        policy_tables(rows),
        "### Where a fixed policy beats the advisor (95% t-interval over seeds excludes 0)",
        losses_table(rows),
        "### Calibration of the predicted accuracy",
        calibration(rows),
        "### What the advisor chose",
        picks_table(rows),
        "### The pilot",
        pilot_table(rows),
        "### The weak pilot: weak labelers' mean confidence minus their accuracy",
        confidence_table(gaps, rows),
        "### The weak-ceiling assumption",
        weak_ceiling_check(runs, rows),
        "### The held-out units by store",
        units_table(rows),
    ]
    if rows["store"].nunique() > 1:
        for store, sub in rows.groupby("store", sort=False):
            out += [
                f"## {store} alone ({sub.groupby(['task', 'weak_cost', 'budget']).ngroups} cells, "
                f"{len(sub)} advised runs; each unit held out as above, its prior fitted on every "
                "other task of all the stores)",
                "### Regret against the hindsight-best allocation (points)",
                summary(sub),
                "### Every policy's mean regret by budget and by task (points)",
                policy_tables(sub),
                "### Calibration of the predicted accuracy",
                calibration(sub),
            ]
    if args.sensitivity:
        sens = [
            "| pilot | mean regret (points) | worst cell | runs in their 90% interval |",
            "|---|---|---|---|",
        ]
        for k in (0, 8, 24, 64):
            r = evaluate(
                runs,
                grid,
                args.data_dir,
                0.5,
                fixed=k,
                priors=priors,
                pools=pools,
                known_q=False,
                tasks=args.tasks,
                realize=realize,
            )
            cells = cell_table(r, "advisor")
            inside = coverage(r).mean()
            sens.append(
                f"| fixed {k} items (at most half the budget) | {100 * cells['regret'].mean():.2f} | "
                f"{100 * cells['regret'].max():.2f} | {inside:.0%} |"
            )
        out += ["### Pilot size: fixed pilots instead of the stopping rule", "\n".join(sens)]
    text = "\n\n".join(out)
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    if args.csv:
        rows.to_csv(args.csv, index=False)
    log(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
