"""Wall-clock time and peak memory of `labelmix demo`, optionally against an earlier commit run in
the same sitting (so the ratio compares like with like on a shared machine).

    .venv/bin/python benchmarks/demo_time.py                    # caches as they are
    .venv/bin/python benchmarks/demo_time.py --cold             # fresh cache dir: GGUF conversion,
                                                                # features and weak labels from scratch
    .venv/bin/python benchmarks/demo_time.py --cold --against c65bdfc   # that commit first, then
                                                                # this tree; prints the speed-up

Peak memory is the largest sum of resident set sizes over the demo's process tree (the sweep and
its workers), sampled every 0.2 s. Targets: a cold demo in at most 3 minutes on 2 cores, at least
2x faster than the code it replaces, peak memory at most 3 GB. With --tables, the accuracy of
every run of both stores is compared pair by pair (same configuration, same seed)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOUND_S = 180.0
RSS_BOUND_GB = 3.0


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            status = (entry / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry.name)
        children.setdefault(ppid, []).append(pid)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = int(line.split()[1]) * 1024
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run_demo(src: Path, work: Path, cold: bool) -> tuple[float, int, bool]:
    """Seconds, peak tree RSS in bytes, and success of one demo run with the code under `src`."""
    env = {**os.environ, "LABELMIX_PROGRESS": "0", "PYTHONPATH": str(src)}
    if cold:
        env["LABELMIX_CACHE_DIR"] = str(work / "cache")
    out = work / "demo"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelmix", "demo", "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "demo.log", "w"),  # noqa: SIM115 (closed with the process)
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc.wait()
    elapsed = time.perf_counter() - t0
    done.set()
    sampler.join()
    ok = proc.returncode == 0 and (out / "report" / "report.html").exists()
    if not ok:
        print((work / "demo.log").read_text()[-3000:], file=sys.stderr)
    return elapsed, peak, ok


def accuracies(store: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for path in (store / "runs").glob("*.json"):
        r = json.loads(path.read_text())
        out[r["key"]] = r["accuracy"]
    return out


def compare(before: Path, after: Path) -> str:
    import numpy as np

    a, b = accuracies(before), accuracies(after)
    keys = sorted(set(a) & set(b))
    d = np.array([b[k] - a[k] for k in keys])
    if not len(d):
        return "no runs in common"
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    same = int((d == 0).sum())
    return (
        f"{len(keys)} runs in common: accuracy after - before = {d.mean():+.4f} +- {1.96 * se:.4f} "
        f"(95% CI), identical in {same}, largest |difference| {np.abs(d).max():.3f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cold", action="store_true", help="start from an empty cache directory")
    ap.add_argument("--against", help="a git revision to time first, in the same sitting")
    ap.add_argument("--keep", action="store_true", help="keep the work folders (stores, logs)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="labelmix-demo-bench-"))
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}; work in {work}")
    results: dict[str, tuple[float, int, bool]] = {}
    worktree = work / "baseline-src"
    try:
        if args.against:
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "worktree",
                    "add",
                    "-f",
                    "--detach",
                    str(worktree),
                    args.against,
                ],
                check=True,
                capture_output=True,
            )
            (work / "before").mkdir()
            results["before"] = run_demo(worktree / "src", work / "before", args.cold)
        (work / "after").mkdir()
        results["after"] = run_demo(ROOT / "src", work / "after", args.cold)
    finally:
        if args.against:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                capture_output=True,
            )
    cache = "cold cache" if args.cold else "warm cache"
    ok = True
    for name, (seconds, peak, good) in results.items():
        label = f"{args.against} (before)" if name == "before" else "this tree"
        print(
            f"labelmix demo, {cache}, {label}: {seconds:.0f} s, peak RSS {peak / 2**30:.2f} GB, {'ran' if good else 'FAILED'}"
        )
        ok &= good
    s_after, peak_after, _ = results["after"]
    met = s_after <= BOUND_S and peak_after <= RSS_BOUND_GB * 2**30
    print(f"bound {BOUND_S:.0f} s and {RSS_BOUND_GB:g} GB: {'met' if met else 'NOT met'}")
    if "before" in results:
        ratio = results["before"][0] / s_after
        print(f"speed-up: {ratio:.2f}x (target >= 2x): {'met' if ratio >= 2 else 'NOT met'}")
        print("accuracy: " + compare(work / "before" / "demo", work / "after" / "demo"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
