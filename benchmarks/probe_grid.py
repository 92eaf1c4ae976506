"""Throughput of a study grid of probe runs on one dataset, once its features are cached.

    .venv/bin/python benchmarks/probe_grid.py --data-dir DIR                 # sst2, ~918 runs
    .venv/bin/python benchmarks/probe_grid.py --data-dir DIR --task cola --workers 1
    .venv/bin/python benchmarks/probe_grid.py --data-dir DIR --sample 40 --against c65bdfc
    .venv/bin/python benchmarks/probe_grid.py --task demo --sample 24 --against c65bdfc

The grid is the study's (configs/paper_regimes.toml) for one task: weak_only, gold_only, seq_sft,
seq_sft_logconf and seq_sft_active at weak $0.50, $0.10 and $0.01, budgets $4-$4096, gold
fractions 0.05-0.8, seeds 0-2, pool 10,000, select and test 500. It runs into a fresh store
(features and weak labels come from the cache; run it once to fill the cache) and prints runs per
second and the total; the target is the whole grid in at most 5 minutes on 2 cores, and a peak
memory of at most 4 GB for the sweep and its workers.

With --sample N --against REV, N runs drawn from the grid (seeded) run one after another in one
process with that revision's code and then with this tree's, and the ratio of their times is
printed: the per-run speed-up, measured in one sitting."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from demo_time import tree_rss_bytes  # benchmarks/demo_time.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
BOUND_S = 300.0
RSS_BOUND_GB = 4.0
METHODS = "weak_only,gold_only,seq_sft,seq_sft_logconf,seq_sft_active"

SAMPLE_SCRIPT = """
import json, sys, time
from labelmix.config import RunConfig
from labelmix.run import execute_run
cfgs = [RunConfig.from_dict(d) for d in json.load(open(sys.argv[1]))]
execute_run(cfgs[0])  # loads splits, weak labeler and features, as a sweep's first run does
t0 = time.perf_counter()
for c in cfgs:
    execute_run(c)
print(json.dumps({"seconds": time.perf_counter() - t0, "runs": len(cfgs)}))
"""


def grid(task: str, data_dir: str | None, seeds: str) -> list:  # list[RunConfig]
    from labelmix.sweep import SweepConfig, expand

    if task == "demo":  # the demo's own grid (cities, five seeds), as `labelmix demo` runs it
        return expand(SweepConfig.load(ROOT / "src" / "labelmix" / "data" / "demo.toml", {}))
    sweep = SweepConfig.load(
        ROOT / "configs" / "paper_regimes.toml",
        {
            "tasks": [task],
            "methods": METHODS.split(","),
            "seeds": [int(s) for s in seeds.split(",")],
        },
    )
    return [c.with_(data_dir=data_dir) for c in expand(sweep)] if data_dir else expand(sweep)


def sample_ratio(runs: list, n: int, against: str) -> None:
    picked = random.Random(0).sample(runs, min(n, len(runs)))
    work = Path(tempfile.mkdtemp(prefix="labelmix-grid-sample-"))
    cfg_file = work / "runs.json"
    cfg_file.write_text(json.dumps([c.to_dict() for c in picked]))
    script = work / "sample.py"
    script.write_text(SAMPLE_SCRIPT)
    tree = work / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "-f", "--detach", str(tree), against],
        check=True,
        capture_output=True,
    )
    times = {}
    try:
        for name, src in (("before", tree / "src"), ("after", ROOT / "src")):
            env = {**os.environ, "PYTHONPATH": str(src), "LABELMIX_PROGRESS": "0"}
            out = subprocess.run(
                [sys.executable, str(script), str(cfg_file)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            times[name] = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    k = len(picked)
    print(
        f"{k} sampled runs in one process: {against} {times['before']:.1f} s "
        f"({k / times['before']:.2f} runs/s), this tree {times['after']:.1f} s "
        f"({k / times['after']:.2f} runs/s): speed-up {times['before'] / times['after']:.2f}x"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", help="the local dataset mirror (not needed for --task demo)")
    ap.add_argument("--task", default="sst2", help="a study task, or `demo` for the demo's grid")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--workers", type=int, default=None, help="default: one per core")
    ap.add_argument("--sample", type=int, default=0, help="runs to time against --against")
    ap.add_argument("--against", help="git revision for the per-run comparison")
    args = ap.parse_args()
    os.environ.setdefault("LABELMIX_PROGRESS", "0")
    from labelmix.sweep import Store, run_sweep

    runs = grid(args.task, args.data_dir, args.seeds)
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    if args.sample and args.against:
        sample_ratio(runs, args.sample, args.against)
        return 0
    work = Path(tempfile.mkdtemp(prefix="labelmix-grid-"))
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(os.getpid()))
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    summary = run_sweep(runs, Store(work / "store"), workers=args.workers, progress=False)
    elapsed = time.perf_counter() - t0
    done.set()
    shutil.rmtree(work, ignore_errors=True)
    print(
        f"{args.task}: {summary.done} runs done, {summary.failed} failed, in {elapsed:.0f} s "
        f"({summary.done / elapsed:.2f} runs/s); peak RSS {peak / 2**30:.2f} GB"
    )
    ok = elapsed <= BOUND_S and peak <= RSS_BOUND_GB * 2**30 and summary.failed == 0
    print(f"bound {BOUND_S:.0f} s and {RSS_BOUND_GB:g} GB: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
