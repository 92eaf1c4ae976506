"""Issue 5: the paper's study on the real datasets in ../shared/data with the offline defaults.

    .venv/bin/python benchmarks/paper_regimes.py --weak-costs 0.1            # one slice
    .venv/bin/python benchmarks/paper_regimes.py --weak-costs 0.5,0.01       # the rest, later
    .venv/bin/python benchmarks/paper_regimes.py --tables-only               # tables from the store
    .venv/bin/python benchmarks/paper_regimes.py --methods seq_sft_2shot --weak-costs 0.1 \
        --seeds 0 --budgets 16,64,256 --gold-fracs 0.2                        # the reduced grid

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
from labelmix.analysis.plots import plot_frontier, plot_regimes
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


# Methods run on a reduced grid (one seed, a few budgets, one gold fraction: prefixed features
# cost a full extraction per run on a CPU). They are compared with seq_sft point by point, not
# mixed into the reachable-accuracy tables, whose cells are means over three seeds.
REDUCED = ("seq_sft_2shot",)


def three_seed_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The successful runs of the full-grid methods (what the reachable tables and figures use)."""
    return df[(df["status"] == "ok") & ~df["method"].isin(REDUCED)]


def matched(df: pd.DataFrame, method: str, against: str = "seq_sft") -> str:
    """`method` beside `against` at the same task, budget, gold fraction, weak cost and seed."""
    keys = ["task", "weak_cost", "budget", "gold_frac", "seed"]
    a = df[df["method"] == method][[*keys, "accuracy", "auroc"]]
    b = df[df["method"] == against][[*keys, "accuracy", "auroc"]]
    m = a.merge(b, on=keys, suffixes=("", "_ref")).sort_values(keys)
    lines = [
        f"| task | weak $ | budget | gold frac | seed | {method} acc (AUROC) "
        f"| {against} acc (AUROC) | difference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in m.itertuples():
        lines.append(
            f"| {r.task} | {r.weak_cost:g} | ${r.budget:g} | {r.gold_frac:g} | {r.seed} "
            f"| {r.accuracy:.3f} ({r.auroc:.3f}) | {r.accuracy_ref:.3f} ({r.auroc_ref:.3f}) "
            f"| {r.accuracy - r.accuracy_ref:+.3f} |"
        )
    if not m.empty:
        d = m["accuracy"] - m["accuracy_ref"]
        lines.append(
            f"| **mean** | | | | | {m['accuracy'].mean():.3f} | {m['accuracy_ref'].mean():.3f} "
            f"| {d.mean():+.3f} ({int((d > 0).sum())} of {len(d)} better) |"
        )
    return "\n".join(lines)


def tables(df: pd.DataFrame) -> str:
    ok_all = df[df["status"] == "ok"]
    ok = three_seed_runs(df)
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
    for method in REDUCED:
        if (ok_all["method"] == method).any():
            out.append(f"### {method} beside seq_sft at the same allocation and seed")
            out.append(matched(ok_all, method))
    weak = ok.groupby("task")["weak_label_test_accuracy"].mean()
    out.append("### Weak labels' accuracy on the test split (MiniLM probe, threshold 0.5)")
    out.append(
        "\n".join(
            ["| task | accuracy |", "|---|---|"] + [f"| {t} | {v:.3f} |" for t, v in weak.items()]
        )
    )
    return "\n\n".join(out)


def figures(df: pd.DataFrame, folder: Path) -> None:
    """One frontier and one regime figure per weak cost (the three-seed methods only)."""
    ok = three_seed_runs(df)
    folder.mkdir(parents=True, exist_ok=True)
    for wc in sorted(ok["weak_cost"].unique()):
        part = ok[ok["weak_cost"] == wc]
        plot_frontier(part, folder / f"frontier_weak{wc:g}.png")
        plot_regimes(part, folder / f"regimes_weak{wc:g}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=str(ROOT / "configs" / "paper_regimes.toml"))
    ap.add_argument("--out", default=str(ROOT / "results" / "paper_regimes"))
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--weak-costs", default=None, help="comma-separated slice, e.g. 0.1")
    ap.add_argument("--methods", default=None)
    ap.add_argument("--tasks", default=None)
    ap.add_argument("--seeds", default=None)
    ap.add_argument("--budgets", default=None)
    ap.add_argument("--gold-fracs", default=None)
    ap.add_argument("--backend", default="local")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--tables-only", action="store_true")
    ap.add_argument("--md", default=None, help="write the tables to this Markdown file")
    ap.add_argument(
        "--figures", default=None, help="write frontier/regime figures per weak cost to this folder"
    )
    args = ap.parse_args()
    store = Store(args.out)
    if not args.tables_only:
        overrides = {
            "weak_costs": args.weak_costs,
            "methods": args.methods,
            "tasks": args.tasks,
            "seeds": args.seeds,
            "budgets": args.budgets,
            "gold_fracs": args.gold_fracs,
            "data_dir": args.data_dir,
        }
        sweep = SweepConfig.load(args.config, overrides)
        run_sweep(expand(sweep), store, backend=args.backend, workers=args.workers, sweep=sweep)
    df = store.rebuild_table()
    write_report(df, Path(args.out) / "report", title="labelmix: real datasets, offline defaults")
    if args.figures:
        figures(df, Path(args.figures))
    md = tables(df)
    print(md)
    if args.md:
        Path(args.md).write_text(md + "\n")


if __name__ == "__main__":
    main()
