"""Can a small gold stage wreck a good weak stage? The stage guard, measured.

    # the table from a store: seq_sft-family runs against weak_only at the same task, weak
    # cost, budget and seed, binned by the gold labels the run bought
    .venv/bin/python benchmarks/stage_guard.py --store results/paper_regimes

    # the design comparison: the same runs under each guard setting (probe trainer)
    .venv/bin/python benchmarks/stage_guard.py --compare --tasks sst2,cities \\
        --data-dir path/to/mirror --out runs/stage_guard

A later stage's guard is three Schedule settings (labelmix.train.loop): `guard` ("own": its
checkpoints are scored on its own validation labels only, so a stage of fewer than 10 labels
keeps none and is never checked; "union": on its own and every earlier stage's validation
labels), `guard_weight` (how many of the stage's own labels the earlier ones count as; None:
pooled label for label) and `anchor` (an L2 pull of anchor/n toward the stage's start)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from labelmix.methods import METHODS
from labelmix.sweep import Store, SweepConfig, expand, run_sweep
from labelmix.tasks.splits import SplitSizes
from labelmix.train.schedule import PROBE_SCHEDULE

BINS = [(1, 9, "1-9"), (10, 14, "10-14"), (15, 100, "15-100"), (101, 10**9, "> 100")]
SEQUENTIAL = [m for m, spec in METHODS.items() if spec.sources == ("weak", "gold")]
VARIANTS = {
    "own, no anchor (before)": dict(guard="own", anchor=0.0),
    "union pooled, no anchor": dict(guard="union", guard_weight=None, anchor=0.0),
    "union weighted 10, no anchor": dict(guard="union", guard_weight=10.0, anchor=0.0),
    "own, anchor 1": dict(guard="own", anchor=1.0),
    "union weighted 10, anchor 1": dict(guard="union", guard_weight=10.0, anchor=1.0),
}


def deltas(df: pd.DataFrame) -> pd.DataFrame:
    """Each sequential run beside weak_only at the same task, weak cost, budget and seed."""
    ok = df[df["status"] == "ok"]
    keys = ["task", "weak_cost", "budget", "seed"]
    weak = ok[ok["method"] == "weak_only"][[*keys, "accuracy"]].rename(
        columns={"accuracy": "weak_only"}
    )
    seq = ok[ok["method"].isin(SEQUENTIAL)]
    out = seq.merge(weak, on=keys, how="inner")
    out["delta"] = out["accuracy"] - out["weak_only"]
    out["gold_stage"] = [_gold_stage_effect(s) for s in out["stages"]]
    return out


def _gold_stage_effect(stages: object) -> float:
    """Test accuracy after the gold stage minus after the weak stage (a diagnostic the probe
    trainer records; never used to choose anything). NaN where the gold stage did not run."""
    items = json.loads(stages) if isinstance(stages, str) else stages
    if not isinstance(items, list) or len(items) < 2:
        return float("nan")
    before, after = items[0].get("test_accuracy_after"), items[1].get("test_accuracy_after")
    if before is None or after is None:
        return float("nan")
    return float(after) - float(before)


def table(d: pd.DataFrame, tasks: list[str]) -> str:
    head = "| gold labels bought | runs | mean Δ vs weak_only | share worse |"
    head += " gold stage's own effect (share worse) | weak stage vs weak_only |"
    head += "".join(f" {t} Δ |" for t in tasks)
    lines = [head, "|---" * (6 + len(tasks)) + "|"]
    for lo, hi, name in BINS:
        b = d[(d["n_gold"] >= lo) & (d["n_gold"] <= hi)]
        if b.empty:
            continue
        per_task = []
        for t in tasks:
            bt = b[b["task"] == t]["delta"]
            per_task.append(f" {bt.mean():+.3f} ({len(bt)}) |" if len(bt) else " — |")
        se = b["delta"].std(ddof=1) / np.sqrt(len(b)) if len(b) > 1 else float("nan")
        g = b["gold_stage"].dropna()
        effect = f"{g.mean():+.3f} ({(g < 0).mean():.0%})" if len(g) else "—"
        # What the smaller weak stage (the allocation) costs before the gold stage runs.
        weak_part = (b["delta"] - b["gold_stage"]).dropna()
        alloc = f"{weak_part.mean():+.3f}" if len(weak_part) else "—"
        lines.append(
            f"| {name} | {len(b)} | {b['delta'].mean():+.3f} ± {se:.3f} | "
            f"{(b['delta'] < 0).mean():.0%} | {effect} | {alloc} |" + "".join(per_task)
        )
    return "\n".join(lines)


def compare(args: argparse.Namespace) -> str:
    out = []
    tasks = args.tasks.split(",")
    names = args.variants.split(";") if args.variants else list(VARIANTS)
    for name in names:
        settings = VARIANTS[name]
        schedule = replace(PROBE_SCHEDULE, **settings)
        sweep = SweepConfig.grid(
            tasks=tuple(tasks),
            methods=("weak_only", "seq_sft"),
            budgets=tuple(float(b) for b in args.budgets.split(",")),
            gold_fracs=(0.8, 0.6, 0.4, 0.2, 0.05),
            weak_costs=tuple(float(c) for c in args.weak_costs.split(",")),
            seeds=tuple(range(args.seeds)),
            data_dir=args.data_dir,
            split_sizes=SplitSizes(weak_train=1000, pool=10000, test=500, select=500),
            schedule=schedule,
        )
        store = Store(Path(args.out))
        run_sweep(expand(sweep), store, backend="local", workers=1)
        df = store.table()
        keys = {c.key() for c in expand(sweep)}
        d = deltas(df[df["key"].isin(keys)])
        out += [f"### {name}", "", table(d, tasks), ""]
    return "\n".join(out)


def tabulate_variants(args: argparse.Namespace) -> str:
    """The comparison from a store the --compare runs already wrote (no training)."""
    df = Store(Path(args.out)).table()
    schedules = df["config"].map(lambda c: json.loads(c)["schedule"])
    out = []
    for name, settings in VARIANTS.items():
        mine = schedules.map(
            lambda s, settings=settings: all(s.get(k) == v for k, v in settings.items())
        )
        d = deltas(df[mine])
        if d.empty:
            continue
        out += [f"### {name}", "", table(d, sorted(d["task"].unique())), ""]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--store", help="a sweep store to tabulate")
    p.add_argument("--compare", action="store_true", help="run every guard variant")
    p.add_argument(
        "--variants-table", action="store_true", help="tabulate the variants found in --out"
    )
    p.add_argument("--tasks", default="sst2,cities")
    p.add_argument("--budgets", default="4,16,64,1024")
    p.add_argument("--weak-costs", default="0.1")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/stage_guard")
    p.add_argument("--variants", default=None, help="semicolon-separated names of VARIANTS")
    args = p.parse_args()
    if args.compare:
        print(compare(args))
    if args.variants_table:
        print(tabulate_variants(args))
    if args.store:
        df = Store(Path(args.store)).table()
        d = deltas(df)
        print(table(d, sorted(d["task"].unique())))


if __name__ == "__main__":
    main()
