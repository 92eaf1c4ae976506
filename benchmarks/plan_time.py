"""Seconds from launch to the first run of a large sweep: import, load and validate the grid (every
run's config), expand it once, key every run, check the store. Bound: 3 s for the 3,852-run grid
of configs/paper_regimes.toml.

    .venv/bin/python benchmarks/plan_time.py [--config configs/paper_regimes.toml] [--repeat 3]
        [--store results/paper_regimes]   # resume into a copy of a populated store

A fresh Python process per repeat (so imports count); the runs themselves are replaced by a stub
that reports the moment the first one starts and exits."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOUND_S = 3.0
ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import os, sys
from labelmix.sweep import SweepConfig, expand, run_sweep

def first_run(cfg):
    print(f"FIRST {len(runs)}", flush=True)
    os._exit(0)

sweep = SweepConfig.load(sys.argv[1], {})
runs = expand(sweep)
run_sweep(runs, sys.argv[2], run_fn=first_run, progress=False, sweep=sweep)
"""


def once(config: Path, populated: Path | None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as store:
        if populated is not None:  # every finished run is read and validated before the first
            shutil.copytree(populated / "runs", Path(store) / "runs")
            index = populated / "runs.index.json"  # what a store this version wrote keeps
            if index.exists():
                shutil.copy2(index, Path(store) / index.name)
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(config), store],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - t0
    marker = [line for line in out.stdout.splitlines() if line.startswith("FIRST")]
    if not marker:
        raise SystemExit(f"the sweep never started a run:\n{out.stderr[-2000:]}")
    return elapsed, int(marker[0].split()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "paper_regimes.toml")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--store", type=Path, default=None, help="copy this store's finished runs")
    args = ap.parse_args()
    times = []
    for _ in range(args.repeat):
        t, n = once(args.config, args.store)
        times.append(t)
    med = statistics.median(times)
    where = f", resuming {args.store}" if args.store else ", empty store"
    print(
        f"{args.config.name}{where}: {n} runs, first run after {med:.2f} s (median of {args.repeat}: "
        f"{', '.join(f'{t:.2f}' for t in times)}), bound {BOUND_S:.0f} s: "
        f"{'OK' if med <= BOUND_S else 'FAILED'}"
    )
    return 0 if med <= BOUND_S else 1


if __name__ == "__main__":
    sys.exit(main())
