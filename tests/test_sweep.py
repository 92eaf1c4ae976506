"""Sweep grid, store and backends. The run function is a cheap deterministic stand-in
(tests/sweep_helpers.py): what is under test is expansion, planning, recording, resuming,
locking and that the backends leave identical stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sweep_helpers
from sweep_helpers import SMALL_GRID, SMALL_GRID_RUNS, fake_run, flaky_run, small_sweep

from labelmix.config import RunConfig
from labelmix.errors import BudgetError, ConfigError, LabelmixError
from labelmix.sweep import (
    Store,
    SweepConfig,
    expand,
    plan_table,
    run_sweep,
)

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _env() -> dict[str, str]:
    """The environment for helper subprocesses: the tests folder importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return env


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


SMALL_TOML = """
tasks = ["cities"]
methods = ["weak_only", "gold_only", "seq_sft"]
budgets = [16, 64]
gold_fracs = [0.5, 0.2]
weak_costs = [0.1]
seeds = [0, 1]
"""


# -- grid --------------------------------------------------------------------------------------


def test_expand_collapses_fixed_fraction_and_prompt_only_methods() -> None:
    runs = expand(small_sweep())
    assert len(runs) == SMALL_GRID_RUNS
    assert len({r.key() for r in runs}) == len(runs)
    assert [r.key() for r in runs] == [r.key() for r in expand(small_sweep())]  # deterministic
    by_method: dict[str, list[RunConfig]] = {}
    for r in runs:
        by_method.setdefault(r.method, []).append(r)
    assert len(by_method["seq_sft"]) == 2 * 2 * 2
    assert {r.gold_frac for r in by_method["weak_only"]} == {0.0}
    assert {r.gold_frac for r in by_method["gold_only"]} == {1.0}
    assert len(by_method["weak_only"]) == len(by_method["gold_only"]) == 2 * 2

    few = SweepConfig.from_dict({**SMALL_GRID, "methods": ["few_shot", "seq_sft"]})
    few_runs = [r for r in expand(few) if r.method == "few_shot"]
    assert len(few_runs) == 2 * 2  # once per (task, budget, weak cost, seed)
    assert {(r.gold_frac, r.trainer) for r in few_runs} == {(1.0, "icl")}


def test_shipped_configs_expand() -> None:
    paper = SweepConfig.load(REPO / "configs" / "paper.toml")
    runs = expand(paper)
    # 5 mixing methods x 9 budgets x 5 fractions x 3 seeds + 3 collapsing methods x 9 x 3
    assert len(runs) == 5 * 9 * 5 * 3 + 3 * 9 * 3
    assert paper.budgets == tuple(float(2**k) for k in range(4, 13))
    demo = SweepConfig.load(REPO / "configs" / "demo.toml")
    # 4 budgets x 5 seeds x (3 seq_sft-family methods x 3 gold fractions + weak_only + gold_only)
    assert len(expand(demo)) == 4 * 5 * (3 * 3 + 2)
    assert demo.split_sizes.pool == 3000 and demo.split_sizes.select == 600


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (SMALL_TOML + "colour = 'red'\n", "colour"),
        (SMALL_TOML.replace("[0.5, 0.2]", "[0.5, 1.5]"), "gold_fracs"),
        (SMALL_TOML.replace("[16, 64]", "[]"), "budgets"),
        (SMALL_TOML.replace("[16, 64]", "[16, -4]"), "budgets"),
        (SMALL_TOML.replace("[0.1]", "[0]"), "weak_costs"),
        (SMALL_TOML.replace("[0, 1]", "[0, -1]"), "seeds"),
        (SMALL_TOML.replace("seq_sft", "seq_sfft"), "methods"),
        (SMALL_TOML.replace('["cities"]', '["atlantis"]'), "tasks"),
        (SMALL_TOML.replace("seeds = [0, 1]", ""), "seeds"),
        (SMALL_TOML + "trainer = 'svm'\n", "trainer"),
        (SMALL_TOML + "[split_sizes]\npool = 100\nvalid = 5\n", "split_sizes"),
        (SMALL_TOML + "[schedule]\nlr = -1.0\n", "schedule"),
        ("tasks = [", "not valid TOML"),
    ],
)
def test_toml_errors_name_the_key_and_file(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        SweepConfig.load(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_overrides_apply_like_cli_flags(tmp_path: Path) -> None:
    path = _write(tmp_path, SMALL_TOML + "[schedule]\nbatch_size = 8\n")
    sweep = SweepConfig.load(
        path, {"seeds": "0,1,2", "budgets": [32], "schedule.max_steps": "5", "model": None}
    )
    assert sweep.seeds == (0, 1, 2)
    assert sweep.budgets == (32.0,)
    assert sweep.schedule is not None
    assert (sweep.schedule.batch_size, sweep.schedule.max_steps) == (8, 5)
    assert sweep.schedule.lr == 3e-3  # the probe trainer's default, not lora's
    assert SweepConfig.from_dict(sweep.to_dict()) == sweep
    with pytest.raises(ConfigError, match="budget_max"):
        SweepConfig.load(path, {"budget_max": 3})
    with pytest.raises(ConfigError, match="gold_fracs"):
        SweepConfig.load(path, {"gold_fracs": "0.5,2"})


# -- plan --------------------------------------------------------------------------------------


def test_plan_rows_and_total() -> None:
    runs = expand(small_sweep())
    rows = plan_table(runs)
    body, total = rows[:-1], rows[-1]
    assert len(body) == len(runs) and total["key"] == "total"
    assert total["n_weak"] == sum(r["n_weak"] for r in body)
    assert total["n_gold"] == sum(r["n_gold"] for r in body)
    assert total["dollars"] == pytest.approx(sum(r["dollars"] for r in body))
    for r in body:
        assert r["dollars"] <= r["budget"] + 1e-9
    seq = next(
        r for r in body if (r["method"], r["budget"], r["gold_frac"]) == ("seq_sft", 64, 0.2)
    )
    assert (seq["n_gold"], seq["n_weak"], seq["dollars"]) == (12, 520, 64.0)
    gold = next(r for r in body if (r["method"], r["budget"]) == ("gold_only", 16))
    assert (gold["n_weak"], gold["n_gold"]) == (0, 16)


def test_plan_refuses_runs_that_buy_nothing(tmp_path: Path) -> None:
    cheap = RunConfig(method="gold_only", budget=0.5, gold_frac=None)
    with pytest.raises(BudgetError, match="gold_only"):
        plan_table([cheap, *expand(small_sweep())])
    path = _write(tmp_path, SMALL_TOML.replace("[16, 64]", "[0.5, 16]"))
    with pytest.raises(BudgetError, match=r"cannot buy any label"):
        SweepConfig.load(path)


# -- store -------------------------------------------------------------------------------------


def test_store_writes_atomically_and_cleans_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "s")
    a, b = expand(small_sweep())[:2]
    path = store.write_result(a, fake_run(a))
    assert json.loads(path.read_text())["accuracy"] == fake_run(a)["accuracy"]
    assert store.done_keys() == {a.key()} and store.is_done(a.key())

    # A writer killed mid-write leaves only a temp file: not done, and removed on open.
    stray = store.runs_dir / f".{b.key()}.json.abc123.tmp"
    stray.write_text('{"key": "half')
    assert store.done_keys() == {a.key()}
    Store(store.root)
    assert not stray.exists()

    # A write that fails before the rename leaves neither the run nor a temp file.
    def boom(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.write_result(b, fake_run(b))
    monkeypatch.undo()
    assert store.done_keys() == {a.key()}
    assert list(store.runs_dir.glob("*.tmp")) == []

    df = store.rebuild_table()
    assert list(df["key"]) == [a.key()] and (store.root / "table.parquet").exists()
    assert json.loads(df["config"][0])["method"] == a.method  # nested values as JSON text
    assert json.loads(df["accuracy_ci"][0]) == fake_run(a)["accuracy_ci"]


def test_store_refuses_a_result_for_another_config(tmp_path: Path) -> None:
    a, b = expand(small_sweep())[:2]
    with pytest.raises(LabelmixError, match="key"):
        Store(tmp_path).write_result(a, fake_run(b))


def test_sweep_records_union_of_grids(tmp_path: Path) -> None:
    store = Store(tmp_path)
    one = small_sweep()
    two = SweepConfig.from_dict({**SMALL_GRID, "seeds": [2]})
    for sweep in (one, two, one):
        run_sweep(expand(sweep), store, run_fn=fake_run, progress=False, sweep=sweep)
    assert store.sweeps() == [one.to_dict(), two.to_dict()]
    assert len(store.done_keys()) == SMALL_GRID_RUNS + SMALL_GRID_RUNS // 2


def test_merge_of_split_stores_equals_one_sweep(tmp_path: Path) -> None:
    """A grid split across two stores (two machines) merges into the store one sweep writes."""
    sweep = small_sweep()
    runs = expand(sweep)
    whole = Store(tmp_path / "whole")
    run_sweep(runs, whole, run_fn=fake_run, progress=False, sweep=sweep)
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    run_sweep(runs[:10], a, run_fn=fake_run, progress=False, sweep=sweep)
    run_sweep(runs[6:], b, run_fn=fake_run, progress=False, sweep=sweep)  # 4 runs in both
    before = {p.name: p.read_bytes() for p in a.runs_dir.glob("*.json")}
    assert a.merge(b) == len(runs) - 10
    assert a.merge(b) == 0  # idempotent
    assert {p.name: p.read_bytes() for p in a.runs_dir.glob("*.json")}.items() >= before.items()
    cols = ["key", "accuracy", "n_weak", "n_gold", "spent"]
    got = a.table()[cols].sort_values("key").reset_index(drop=True)
    want = whole.table()[cols].sort_values("key").reset_index(drop=True)
    assert got.equals(want)
    assert a.sweeps() == [sweep.to_dict()]


def test_merge_refuses_itself_and_a_non_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    with pytest.raises(LabelmixError, match="into itself"):
        store.merge(Store(tmp_path / "s"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(LabelmixError, match="not a sweep store"):
        store.merge(_not_a_store(tmp_path / "plain"))


def _not_a_store(path: Path) -> Store:
    """A Store object over a folder whose runs/ vanished after it was opened."""
    s = Store(path)
    s.runs_dir.rmdir()
    return s


# -- backends: local ---------------------------------------------------------------------------


def test_resume_skips_finished_runs(tmp_path: Path) -> None:
    runs = expand(small_sweep())
    calls: list[str] = []

    def counting(cfg: RunConfig) -> dict[str, Any]:
        calls.append(cfg.key())
        return fake_run(cfg)

    first = run_sweep(runs[:6], tmp_path, run_fn=counting, progress=False)
    assert (first.done, first.skipped, first.failed, first.total) == (6, 0, 0, 6)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")}
    second = run_sweep(runs, tmp_path, run_fn=counting, progress=True)
    assert (second.done, second.skipped, second.failed, second.total) == (10, 6, 0, 16)
    assert len(calls) == len(set(calls)) == 16
    for name, mtime in mtimes.items():
        assert (tmp_path / "runs" / name).stat().st_mtime_ns == mtime  # not rewritten
    assert len(Store(tmp_path).table()) == 16


def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    runs = expand(small_sweep())
    bad = {r.key() for r in runs if r.seed == 1 and r.budget == 64}
    summary = run_sweep(runs, tmp_path, run_fn=flaky_run, progress=False)
    assert (summary.done, summary.failed) == (16 - len(bad), len(bad))
    store = Store(tmp_path)
    assert store.failed_keys() == bad
    rec = json.loads((store.failed_dir / f"{sorted(bad)[0]}.json").read_text())
    assert rec["status"] == "failed" and rec["error"].startswith("RuntimeError: synthetic failure")
    assert "Traceback" in rec["traceback"] and "flaky_run" in rec["traceback"]
    assert RunConfig.from_dict(rec["config"]).key() == rec["key"]
    assert set(store.table()["key"]) == {r.key() for r in runs} - bad

    retry = run_sweep(runs, tmp_path, run_fn=fake_run, progress=False)
    assert (retry.done, retry.skipped, retry.failed) == (len(bad), 16 - len(bad), 0)
    assert store.failed_keys() == set()


def test_process_pool_matches_sequential(tmp_path: Path) -> None:
    runs = expand(small_sweep())
    run_sweep(runs, tmp_path / "seq", run_fn=flaky_run, progress=False)
    summary = run_sweep(runs, tmp_path / "pool", workers=2, run_fn=flaky_run, progress=False)
    assert (summary.done, summary.failed) == (12, 4)
    assert Store(tmp_path / "pool").table().equals(Store(tmp_path / "seq").table())
    assert Store(tmp_path / "pool").failed_keys() == Store(tmp_path / "seq").failed_keys()


def test_a_second_sweep_into_a_busy_store_refuses(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sweep_helpers; sweep_helpers.hold_lock_main({str(tmp_path)!r})",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LabelmixError) as info:
            run_sweep(expand(small_sweep()), tmp_path, run_fn=fake_run, progress=False)
        msg = str(info.value)
        assert f"store {tmp_path} is in use by another sweep (pid {holder.pid})" in msg
        assert "--out" in msg
        assert Store(tmp_path).done_keys() == set()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    summary = run_sweep(expand(small_sweep()), tmp_path, run_fn=fake_run, progress=False)
    assert summary.done == SMALL_GRID_RUNS


def test_sigkill_halfway_then_resume(tmp_path: Path) -> None:
    root = tmp_path / "store"
    env = {**_env(), "SWEEP_HELPER_DELAY": "0.15", "LABELMIX_PROGRESS": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-c", f"import sweep_helpers; sweep_helpers.sweep_main({str(root)!r})"],
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list((root / "runs").glob("*.json"))) < 4:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = {p.stem for p in (root / "runs").glob("*.json")}
    assert 4 <= len(finished) < SMALL_GRID_RUNS

    store = Store(root)  # the dead sweep's lock is gone with its process
    assert list(root.rglob("*.tmp")) == []
    summary = run_sweep(expand(small_sweep()), store, run_fn=fake_run, progress=False)
    assert summary.skipped == len(finished)
    assert summary.done == SMALL_GRID_RUNS - len(finished) and summary.failed == 0
    files = sorted((root / "runs").iterdir())
    assert [p.stem for p in files] == sorted(r.key() for r in expand(small_sweep()))
    for p in files:
        assert json.loads(p.read_text())["key"] == p.stem
    table = store.table()
    assert len(table) == SMALL_GRID_RUNS and table["key"].is_unique
    assert store.sweeps() == [small_sweep().to_dict()]


# -- backends: ray -----------------------------------------------------------------------------


def test_ray_backend_matches_local(tmp_path: Path) -> None:
    """A real local Ray instance (2 CPUs): same table and failures as the local backend."""
    import ray

    runs = expand(small_sweep())
    local = run_sweep(runs, tmp_path / "local", run_fn=flaky_run, progress=False)
    remote = run_sweep(
        runs, tmp_path / "ray", backend="ray", workers=2, run_fn=flaky_run, progress=False
    )
    assert not ray.is_initialized()  # we started it, so we shut it down
    assert (remote.done, remote.failed, remote.total) == (local.done, local.failed, local.total)
    ray_store, local_store = Store(tmp_path / "ray"), Store(tmp_path / "local")
    assert ray_store.table().equals(local_store.table())
    assert ray_store.failed_keys() == local_store.failed_keys()
    failure = ray_store.failures()[0]
    assert failure["error"].startswith("RuntimeError: synthetic failure")
    assert "flaky_run" in failure["traceback"]
    for p in (tmp_path / "ray" / "runs").glob("*.json"):
        assert p.read_text() == (tmp_path / "local" / "runs" / p.name).read_text()


def test_helpers_module_is_importable_by_name() -> None:
    """Workers import run functions by module name; the helpers must not be __main__-only."""
    assert sweep_helpers.fake_run.__module__ == "sweep_helpers"


def test_sweep_config_in_code_pickles_and_its_settings_are_read_only() -> None:
    import pickle

    sweep = SweepConfig.grid(
        tasks="cities",
        methods=["seq_sft"],
        budgets=16,
        gold_fracs=[0.5],
        weak_costs=0.1,
        seeds=[0, 1],
        gold_cost=1,
    )
    assert sweep.tasks == ("cities",) and len(sweep.runs()) == 2
    again = pickle.loads(pickle.dumps(sweep))
    assert again == sweep and [c.key() for c in again.runs()] == [c.key() for c in sweep.runs()]
    with pytest.raises(TypeError):
        sweep.settings["trainer"] = "lora"  # type: ignore[index]
    with pytest.raises(ConfigError, match="missing grid axis"):
        SweepConfig.grid(tasks=["cities"])
    with pytest.raises(ConfigError, match="unknown setting"):
        SweepConfig.grid(
            tasks="cities",
            methods="seq_sft",
            budgets=16,
            gold_fracs=0.5,
            weak_costs=0.1,
            seeds=0,
            lora_rnak=4,
        )


def test_reading_a_store_never_writes_its_table(tmp_path: Path) -> None:
    """A store read for a report may be tracked by git: table() builds what it needs in
    memory; only a sweep (rebuild_table) writes table.parquet."""
    from labelmix.sweep import Store

    store = Store(tmp_path / "s")
    store.root.mkdir(parents=True, exist_ok=True)
    assert store.table().empty
    assert not store.table_path.exists()
    store.rebuild_table()
    assert store.table_path.exists()


def test_report_and_recommend_leave_the_store_as_it_was(tmp_path: Path) -> None:
    """`labelmix recommend` and `labelmix report --out` change no file of the store they read
    (a store tracked by git stays clean)."""
    import shutil

    from cli_helpers import lm

    src = Path(__file__).resolve().parents[1] / "results" / "lora_crosscheck"
    if not (src / "runs").is_dir():
        pytest.skip(f"{src} is not in this checkout")
    store = tmp_path / "store"
    shutil.copytree(src, store)
    (store / "table.parquet").unlink(missing_ok=True)

    def files() -> dict[Path, bytes]:  # what git would track: files, not the lock
        return {
            p.relative_to(store): p.read_bytes()
            for p in store.rglob("*")
            if p.is_file() and p.name != ".lock"
        }

    before = files()
    task = json.loads(next((store / "runs").glob("*.json")).read_text())
    code, out, err = lm(
        "recommend",
        str(store),
        "--budget",
        "64",
        "--weak-cost",
        str(task["weak_cost"]),
        "--task",
        task["task"],
    )
    assert code == 0, err
    code, out, err = lm("report", str(store), "--out", str(tmp_path / "rep"))
    assert code == 0, err
    assert files() == before
