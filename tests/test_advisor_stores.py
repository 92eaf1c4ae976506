"""The advisor benchmark on several stores (benchmarks/advisor.py): a task with a weak labeler
is one held-out unit (`sst2` with the probe's weak labels in one store, `sst2 [finetune]` in
another); a unit's pilot, its advised runs and its grid are its own store's; the prior for a
held-out unit never holds its task under any weak labeler; the cells are the budgets the store
measured."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from advisor_helpers import hand_prior, load_bench, synthetic_pool, synthetic_runs

from labelmix.analysis.advisor import fit_prior, task_unit, with_units
from labelmix.config import RunConfig
from labelmix.labels.budget import Prices, allocate
from labelmix.tasks.splits import SplitSizes


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    yield load_bench()
    sys.modules.pop("advisor_bench", None)


def test_a_unit_is_a_task_and_its_weak_labeler() -> None:
    assert task_unit("sst2", "probe") == task_unit("sst2", None) == "sst2"
    assert task_unit("sst2", float("nan")) == "sst2"  # records from before the field
    assert task_unit("sst2", "finetune") == "sst2 [finetune]"
    runs = pd.DataFrame({"task": ["a", "a", "b"], "weak_labeler": ["finetune", None, "probe"]})
    assert with_units(runs)["unit"].tolist() == ["a [finetune]", "a", "b"]
    assert with_units(runs.drop(columns="weak_labeler"))["unit"].tolist() == ["a", "a", "b"]


def test_weak_labelers_trained_on_different_weak_train_sizes_are_different_units() -> None:
    def cfg(n: int) -> str:
        return json.dumps({"split_sizes": {"weak_train": n, "pool": 10, "select": 2, "test": 2}})

    runs = pd.DataFrame(
        {
            "task": ["a", "a", "a", "b", "b"],
            "weak_labeler": ["finetune", "finetune", "probe", "finetune", "finetune"],
            "config": [cfg(600), cfg(1000), cfg(600), cfg(600), cfg(600)],
        }
    )
    units = with_units(runs)["unit"].tolist()
    # the same task and labeler at two sizes: the size names each; one size only: the usual name
    assert units == ["a [finetune, weak_train 600]", "a [finetune, weak_train 1000]", "a",
                     "b [finetune]", "b [finetune]"]  # fmt: skip


def test_fit_prior_fits_a_curve_per_weak_labeler() -> None:
    """The same task under two weak labelers is two curves (their weak ceilings differ), not one
    curve through the average of the two stores' points."""
    runs = synthetic_runs({"t": (0.66, 150.0, 0.55), "t [finetune]": (0.85, 150.0, 0.8)})
    prior = fit_prior(runs)
    fits = {t.task: t for t in prior.tasks}
    assert set(fits) == {"t", "t [finetune]"}
    assert fits["t"].weak_ceiling == pytest.approx(0.55, abs=0.03)
    assert fits["t [finetune]"].weak_ceiling == pytest.approx(0.8, abs=0.03)


def test_the_prior_of_a_held_out_unit_holds_its_task_under_no_labeler(bench) -> None:  # type: ignore[no-untyped-def]
    runs = synthetic_runs(
        {"t": (0.66, 150.0, 0.55), "t [finetune]": (0.85, 150.0, 0.8), "o": (0.75, 80.0, 0.7)}
    )
    for unit in ("t", "t [finetune]"):
        prior = bench.held_out_prior(runs, unit)
        assert [t.task for t in prior.tasks] == ["o"]
        bench.check_held_out(prior, unit, runs)
    # a prior that knows the task under the other labeler (or under its own) is refused
    for known, unit in (("t", "t [finetune]"), ("t [finetune]", "t"), ("t", "t")):
        with pytest.raises(ValueError, match="own store"):
            bench.check_held_out(hand_prior((known, "o")), unit, runs)
    with pytest.raises(ValueError, match="own store"):  # a unit the runs do not name
        bench.check_held_out(hand_prior(("t [prompt]",)), "t", runs)
    # --tasks names a unit, or a task for all its units
    assert bench.held_out_units(runs, ["t"]) == ["t", "t [finetune]"]
    assert bench.held_out_units(runs, ["t [finetune]"]) == ["t [finetune]"]
    with pytest.raises(ValueError, match="no store holds"):
        bench.held_out_units(runs, ["nope"])


def _config(task: str, labeler: str, sizes: SplitSizes, seed: int, c: float, b: float) -> str:
    rc = RunConfig(
        task=task, method="weak_only", gold_frac=None, budget=b, weak_cost=c, seed=seed,
        split_sizes=sizes, weak_labeler=labeler, data_dir=None,
    )  # fmt: skip
    return json.dumps(rc.to_dict())


PROBE_SIZES = SplitSizes(weak_train=60, pool=400, test=60, select=20)
FINETUNE_SIZES = SplitSizes(weak_train=80, pool=300, test=50, select=20)


def _two_stores() -> pd.DataFrame:
    """sst2 in two stores: weak labels from the probe (one store: $4-$256) and from a finetuned
    model (another: $4-$64, other split sizes), weak $0.1, 3 seeds, the same grid; the finetuned
    labels' runs are 0.1 more accurate, and their best configuration is all-weak (the probe's:
    seq_sft at 80%)."""
    grid = [("weak_only", 0.0), ("gold_only", 1.0)] + [("seq_sft", g) for g in (0.2, 0.5, 0.8)]
    rows = []
    for labeler, sizes, budgets, store in (
        ("probe", PROBE_SIZES, (4.0, 16.0, 256.0), "results/a"),
        ("finetune", FINETUNE_SIZES, (4.0, 16.0, 64.0), "results/b"),
    ):
        for b in budgets:
            for m, g in grid:
                for sd in range(3):
                    acc = 0.6 + 0.1 * g + 0.01 * sd + (0.03 if m == "seq_sft" else 0.0)
                    if labeler == "finetune":
                        acc = 0.8 - 0.1 * g + 0.01 * sd
                    alloc = allocate(b, g, Prices(0.1, 1.0))
                    rows.append(
                        dict(
                            status="ok", task="sst2", method=m, weak_cost=0.1, budget=b,
                            gold_frac=g, seed=sd, accuracy=acc, selection_accuracy=acc - 0.01,
                            gold_cost=1.0, n_gold=alloc.n_gold, n_weak=alloc.n_weak,
                            weak_labeler=None if labeler == "probe" else labeler, store=store,
                            config=_config("sst2", labeler, sizes, sd, 0.1, b),
                        )
                    )  # fmt: skip
    return pd.DataFrame(rows)


def test_the_grid_keeps_a_tasks_two_labelers_apart(bench) -> None:  # type: ignore[no-untyped-def]
    runs = _two_stores()
    grid = bench.Grid.of(runs, runs.iloc[0:0])
    assert grid.at("sst2", 0.1, 16.0, "weak_only", 0.0, 1) == pytest.approx(0.61)
    assert grid.at("sst2 [finetune]", 0.1, 16.0, "weak_only", 0.0, 1) == pytest.approx(0.81)
    assert grid.configs("sst2 [finetune]", 0.1, 256.0) == []  # that store stops at $64
    with pytest.raises(ValueError, match="two stored runs"):
        bench.Grid.of(pd.concat([runs, runs.iloc[:1]]), runs.iloc[0:0])


def test_a_unit_in_two_stores_or_with_two_settings_is_refused(bench) -> None:  # type: ignore[no-untyped-def]
    runs = _two_stores()
    bench.check_units(runs)
    moved = runs.copy()
    moved.loc[moved.index[0], "store"] = "results/b"  # a probe run of sst2 in the other store
    with pytest.raises(ValueError, match="several stores"):
        bench.check_units(moved)
    other = runs.copy()
    # another pool (the same weak_train: another weak_train size would be another unit)
    other_pool = SplitSizes(weak_train=PROBE_SIZES.weak_train, pool=300, test=60, select=20)
    other.loc[other.index[0], "config"] = _config("sst2", "probe", other_pool, 0, 0.1, 4.0)
    with pytest.raises(ValueError, match="differ in their settings"):
        bench.check_units(other)


def test_a_units_pilot_and_runs_are_on_its_own_stores_settings(bench, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The advice names the task (not the unit), and the run that follows it has the unit's
    weak labeler, split sizes and seed; the data folder is this machine's."""
    runs = _two_stores()
    ids, oracle, weak = synthetic_pool(300, 0.8)
    configs = [("weak_only", 0.0), ("gold_only", 1.0), ("seq_sft", 0.2), ("seq_sft", 0.8)]
    for unit, labeler, sizes in (
        ("sst2 [finetune]", "finetune", FINETUNE_SIZES),
        ("sst2", "probe", PROBE_SIZES),
    ):
        cfg = bench.unit_config(runs, unit, 2, 0.1, 16.0)
        assert cfg.get("weak_labeler", "probe") == labeler
        pool = bench.PoolData(ids, oracle, weak, 0.8, None, "sst2")
        advice = bench.advise_cell(
            hand_prior(), pool, unit, 0.1, 16.0, 2, 1.0, configs, 0.3, fixed_pilot=3
        )
        assert advice.task == "sst2" and advice.pilot.n_items == 3
        rc = bench.PilotRuns(runs, tmp_path, "/data").config(unit, 0.1, 16.0, 2, advice)
        assert (rc.task, rc.weak_labeler, rc.split_sizes, rc.seed) == ("sst2", labeler, sizes, 2)
        assert rc.pilot == advice.pilot_ids and rc.data_dir == "/data"


def test_data_where_is_this_machines_folder(bench, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LABELMIX_DATA_DIR", "/env")
    assert bench.data_where({"data_dir": None}, "/data") == "/data"
    assert bench.data_where({"data_dir": "/there"}, None) == "/env"
    monkeypatch.delenv("LABELMIX_DATA_DIR")
    assert bench.data_where({"data_dir": "/there"}, None) == "/there"
    assert bench.data_where({"data_dir": None}, None) is None


def test_the_benchmark_holds_out_each_unit_on_its_own_cells(bench) -> None:  # type: ignore[no-untyped-def]
    """Each unit's cells are its own store's budgets from $16 (no $4, no budget it lacks), its
    hindsight best and policies are its own runs, and its advice its own pilot's."""
    runs = _two_stores()
    grid = bench.Grid.of(runs, runs.iloc[0:0])
    ids, oracle, weak = synthetic_pool(2000, 0.7)
    pools = {
        (u, s): bench.PoolData(ids, oracle, weak, 0.7, None, "sst2")
        for u in ("sst2", "sst2 [finetune]")
        for s in range(3)
    }
    ran: list = []

    def realize(items: list) -> list[float]:
        ran.extend(items)
        return [0.5 + item[3] / 100 for item in items]

    priors = {"sst2": hand_prior(), "sst2 [finetune]": hand_prior()}
    rows = bench.evaluate(  # a 20% cap: $64 buys a pilot of 8 items or more
        runs, grid, None, 0.2, priors=priors, pools=pools, known_q=False, realize=realize
    )
    cells = rows.groupby("task")["budget"].apply(lambda b: sorted(set(b))).to_dict()
    assert cells == {"sst2": [16.0, 256.0], "sst2 [finetune]": [16.0, 64.0]}
    assert set(rows["base_task"]) == {"sst2"}
    by = rows.set_index(["task", "budget", "seed"])
    assert by.loc[("sst2", 16.0, 1), "best_config"] == "seq_sft@0.8"
    assert by.loc[("sst2 [finetune]", 16.0, 1), "best_config"] == "weak_only@0"
    assert by.loc[("sst2 [finetune]", 16.0, 1), "all-weak"] == pytest.approx(0.81)
    assert by.loc[("sst2", 16.0, 1), "all-weak"] == pytest.approx(0.61)
    assert set(rows.loc[rows["task"] == "sst2 [finetune]", "weak_labeler"]) == {"finetune"}
    assert {item[0] for item in ran} == {"sst2", "sst2 [finetune]"}
    assert all(item[4].task == "sst2" for item in ran)
    # a prior that knows sst2 under the probe is refused for sst2 [finetune]
    with pytest.raises(ValueError, match="own store"):
        bench.evaluate(
            runs, grid, None, 0.1, priors={"sst2 [finetune]": hand_prior(("sst2",))},
            pools=pools, known_q=False, tasks=["sst2 [finetune]"], realize=realize,
        )  # fmt: skip


def test_short_unit_names_a_file_task_by_its_file(bench) -> None:  # type: ignore[no-untyped-def]
    assert bench.short_unit("file:/a/b/sarcasm.jsonl [finetune]") == "file:sarcasm.jsonl [finetune]"
    assert bench.short_unit("file:/a/b/x.csv") == "file:x.csv"
    assert bench.short_unit("sst2 [finetune]") == "sst2 [finetune]"
