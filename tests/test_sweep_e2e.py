"""Sweeps with the real run function on a tiny Llama: the CLI from config to report, and the Ray
backend (a real local instance) giving the same table as the local backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from labelmix.sweep import Store, SweepConfig, expand, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def _toml(tiny_llama: Path) -> str:
    return f"""
tasks = ["cities"]
methods = ["weak_only", "gold_only", "seq_sft"]
budgets = [8, 32]
gold_fracs = [0.5]
weak_costs = [0.1]
seeds = [0, 1]
trainer = "probe"
model = "{tiny_llama}"
weak_model = "{tiny_llama}"

[split_sizes]
weak_train = 60
pool = 200
test = 80

[schedule]
example_passes = 200
batch_size = 16
warmup_steps = 2
max_steps = 30
"""


COLS = [
    "key",
    "method",
    "budget",
    "gold_frac",
    "seed",
    "n_weak",
    "n_gold",
    "spent",
    "accuracy",
    "auroc",
]


def test_cli_sweep_then_report_then_recommend(tiny_llama: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(_toml(tiny_llama))
    env = {**os.environ, "LABELMIX_PROGRESS": "0"}
    out = tmp_path / "store"
    run = subprocess.run(
        [sys.executable, "-m", "labelmix", "sweep", str(cfg), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "12 done" in run.stdout + run.stderr
    for name in ("report.html", "report.md", "frontier.png", "regimes.png", "best_by_budget.md"):
        assert (out / "report" / name).exists(), name
    table = pd.read_parquet(out / "table.parquet")
    assert len(table) == 12 and (table["status"] == "ok").all()
    assert (table["spent"] <= table["budget"] + 1e-9).all()
    # resumes: a second sweep runs nothing
    again = subprocess.run(
        [sys.executable, "-m", "labelmix", "sweep", str(cfg), "--out", str(out), "--no-report"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert again.returncode == 0 and "12 already done" in again.stdout + again.stderr
    rec = subprocess.run(
        [sys.executable, "-m", "labelmix", "recommend", str(out), "--budget", "40"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert rec.returncode == 0, rec.stderr
    assert "$32" in rec.stdout


def test_ray_backend_gives_the_local_table(tiny_llama: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(_toml(tiny_llama))
    sweep = SweepConfig.load(cfg)
    runs = expand(sweep)
    local = Store(tmp_path / "local")
    s1 = run_sweep(runs, local, backend="local", progress=False)
    ray_store = Store(tmp_path / "ray")
    s2 = run_sweep(runs, ray_store, backend="ray", workers=2, progress=False)
    assert s1.done == s2.done == len(runs) and s1.failed == s2.failed == 0
    a = local.rebuild_table()[COLS].sort_values("key").reset_index(drop=True)
    b = ray_store.rebuild_table()[COLS].sort_values("key").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
