"""Wall-clock time of `labelmix demo` (the bound: under 10 minutes on 2 cores from a warm
setup, i.e. with .venv installed).

    .venv/bin/python benchmarks/demo_time.py            # caches as they are
    .venv/bin/python benchmarks/demo_time.py --cold     # fresh cache dir: GGUF conversion,
                                                        # features and weak labels from scratch
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOUND_S = 600.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cold", action="store_true", help="start from an empty cache directory")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="labelmix-demo-bench-"))
    env = {**os.environ, "LABELMIX_PROGRESS": "0"}
    if args.cold:
        env["LABELMIX_CACHE_DIR"] = str(work / "cache")
    labelmix = Path(sys.executable).with_name("labelmix")
    t0 = time.perf_counter()
    proc = subprocess.run([str(labelmix), "demo", "--out", str(work / "demo")], env=env)
    elapsed = time.perf_counter() - t0
    ok = proc.returncode == 0 and (work / "demo" / "report" / "report.html").exists()
    cache = "cold cache" if args.cold else "warm cache"
    print(
        f"labelmix demo ({cache}): {elapsed:.0f} s, bound {BOUND_S:.0f} s, "
        f"{'OK' if ok and elapsed < BOUND_S else 'FAILED'}"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok and elapsed < BOUND_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
