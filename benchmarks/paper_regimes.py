"""Issue 5: the paper's study on the real datasets in ../shared/data with the offline defaults.

    .venv/bin/python benchmarks/paper_regimes.py --weak-costs 0.1            # one slice
    .venv/bin/python benchmarks/paper_regimes.py --weak-costs 0.5,0.01       # the rest, later
    .venv/bin/python benchmarks/paper_regimes.py --tables-only               # tables from the store

Runs configs/paper_regimes.toml into a resumable store (default runs/paper_regimes), writes the
report there, and prints (and with --md writes) the tables of docs/results.md: best accuracy
reachable within each budget (max over gold fractions and smaller budgets, mean over seeds) per
dataset and averaged over datasets, the regime at each budget, and the weak labels' accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from labelmix.analysis.frontier import aggregate_points
from labelmix.analysis.regimes import regimes_by_budget
from labelmix.analysis.report import write_report
from labelmix.sweep import Store, SweepConfig, expand, run_sweep

ROOT = Path(__file__).resolve().parents[1]
ORDER = [
    "seq_sft",
    "seq_sft_2shot",
    "seq_sft_active",
    "seq_sft_logconf",
    "few_shot",
    "weak_only",
    "gold_only",
]


def reachable(df: pd.DataFrame) -> pd.DataFrame:
    """Best mean-over-seeds accuracy reachable with at most each budget (any gold fraction)."""
    pts = aggregate_points(df, by=("task", "method", "budget", "gold_frac", "weak_cost"))
    best = pts.groupby(["task", "method", "weak_cost", "budget"])["accuracy"].max().reset_index()
    best = best.sort_values("budget")
    best["reachable"] = best.groupby(["task", "method", "weak_cost"])["accuracy"].cummax()
    return best


def md_table(
    frame: pd.DataFrame, index: str, columns: str, values: str, fmt: str = "{:.3f}"
) -> str:
    piv = frame.pivot_table(index=index, columns=columns, values=values, aggfunc="mean")
    rows = [m for m in ORDER if m in piv.index] + [m for m in piv.index if m not in ORDER]
    piv = piv.loc[rows]
    head = f"| {index} | " + " | ".join(f"${c:g}" for c in piv.columns) + " |"
    sep = "|---" * (len(piv.columns) + 1) + "|"
    body = [
        f"| {i} | " + " | ".join("—" if np.isnan(v) else fmt.format(v) for v in piv.loc[i]) + " |"
        for i in piv.index
    ]
    return "\n".join([head, sep, *body])


def tables(df: pd.DataFrame) -> str:
    ok = df[df["status"] == "ok"]
    out: list[str] = []
    best = reachable(ok)
    for wc in sorted(ok["weak_cost"].unique(), reverse=True):
        b = best[best["weak_cost"] == wc]
        out.append(
            f"### Weak labels at ${wc:g}: best accuracy reachable within a budget, "
            "averaged over datasets"
        )
        avg = b.groupby(["method", "budget"])["reachable"].mean().reset_index()
        out.append(md_table(avg, "method", "budget", "reachable"))
        for task in sorted(b["task"].unique()):
            out.append(f"#### {task} (weak ${wc:g})")
            out.append(md_table(b[b["task"] == task], "method", "budget", "reachable"))
        reg = regimes_by_budget(ok[ok["weak_cost"] == wc], tol="se")
        out.append(f"#### Regimes at weak ${wc:g} (rule: labelmix.analysis.regimes.RULE, tol = se)")
        piv = reg.pivot_table(index="task", columns="budget", values="regime", aggfunc="first")
        lines = ["| task | " + " | ".join(f"${c:g}" for c in piv.columns) + " |"]
        lines.append("|---" * (len(piv.columns) + 1) + "|")
        lines += [f"| {t} | " + " | ".join(str(v) for v in piv.loc[t]) + " |" for t in piv.index]
        out.append("\n".join(lines))
    weak = ok.groupby("task")["weak_label_test_accuracy"].mean()
    out.append("### Weak labels' accuracy on the test split (MiniLM probe, threshold 0.5)")
    out.append(
        "\n".join(
            ["| task | accuracy |", "|---|---|"] + [f"| {t} | {v:.3f} |" for t, v in weak.items()]
        )
    )
    return "\n\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=str(ROOT / "configs" / "paper_regimes.toml"))
    ap.add_argument("--out", default=str(ROOT / "results" / "paper_regimes"))
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--weak-costs", default=None, help="comma-separated slice, e.g. 0.1")
    ap.add_argument("--methods", default=None)
    ap.add_argument("--tasks", default=None)
    ap.add_argument("--seeds", default=None)
    ap.add_argument("--backend", default="local")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--tables-only", action="store_true")
    ap.add_argument("--md", default=None, help="write the tables to this Markdown file")
    args = ap.parse_args()
    store = Store(args.out)
    if not args.tables_only:
        overrides = {
            "weak_costs": args.weak_costs,
            "methods": args.methods,
            "tasks": args.tasks,
            "seeds": args.seeds,
            "data_dir": args.data_dir,
        }
        sweep = SweepConfig.load(args.config, overrides)
        run_sweep(expand(sweep), store, backend=args.backend, workers=args.workers, sweep=sweep)
    df = store.rebuild_table()
    write_report(df, Path(args.out) / "report", title="labelmix: real datasets, offline defaults")
    md = tables(df)
    print(md)
    if args.md:
        Path(args.md).write_text(md + "\n")


if __name__ == "__main__":
    main()
