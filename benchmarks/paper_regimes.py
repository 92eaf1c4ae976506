"""The paper's study on real datasets (a local mirror) with the offline default models.

    .venv/bin/python benchmarks/paper_regimes.py --weak-costs 0.1            # one slice
    .venv/bin/python benchmarks/paper_regimes.py --weak-costs 0.5,0.01       # the rest, later
    .venv/bin/python benchmarks/paper_regimes.py --tables-only               # tables from the store
    .venv/bin/python benchmarks/paper_regimes.py --methods seq_sft_2shot --weak-costs 0.1 \
        --seeds 0 --budgets 16,64,256 --gold-fracs 0.2                        # the reduced grid

Runs configs/paper_regimes.toml into a resumable store (default runs/paper_regimes), writes the
report there, and prints (and with --md writes) the tables of docs/results.md: the accuracy
reachable within each budget (gold fraction and budget <= B chosen on the selection split, test
accuracy reported, mean ± 95% CI over seeds) per dataset and averaged over datasets, the regime
at each budget with its bootstrap probabilities, the tiny-gold-stage table, and the weak labels'
accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import stage_guard  # benchmarks/stage_guard.py, beside this script

from labelmix.analysis.frontier import aggregate_points, choice_column
from labelmix.analysis.plots import plot_frontier, plot_regimes
from labelmix.analysis.regimes import decided_regimes
from labelmix.analysis.report import write_report
from labelmix.analysis.stats import t975
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
    """The accuracy reachable with at most each budget: among the (budget <= B, gold fraction)
    points of a method, the one with the best mean selection-split accuracy is chosen and its
    mean test accuracy reported (`reachable`), with a 95% t-interval over seeds (`ci`)."""
    keys = ["task", "method", "weak_cost"]
    pts = aggregate_points(df, by=(*keys, "budget", "gold_frac"))
    metric = choice_column(pts)
    rows = []
    for key, sub in pts.groupby(keys, sort=True):
        for b in sorted(sub["budget"].unique()):
            cand = sub[sub["budget"] <= b]
            best = cand.loc[cand[metric].idxmax()]
            sd, n = float(best["accuracy_sd"]), int(best["n_seeds"])
            ci = t975(n) * sd / np.sqrt(n) if n > 1 else float("nan")
            rows.append(
                dict(zip(keys, key, strict=True))
                | {
                    "budget": b,
                    "reachable": float(best["accuracy"]),
                    "ci": ci,
                    "chosen_budget": float(best["budget"]),
                    "chosen_gold_frac": best["gold_frac"],
                }
            )
    return pd.DataFrame(rows)


def md_table(
    frame: pd.DataFrame,
    index: str,
    columns: str,
    values: str,
    ci: str | None = None,
    fmt: str = "{:.3f}",
) -> str:
    """A pivot as Markdown; with `ci`, each cell reads "mean ± half-width"."""
    piv = frame.pivot_table(index=index, columns=columns, values=values, aggfunc="mean")
    half = None
    if ci is not None:
        half = frame.pivot_table(index=index, columns=columns, values=ci, aggfunc="mean")
    rows = [m for m in ORDER if m in piv.index] + [m for m in piv.index if m not in ORDER]
    piv = piv.loc[rows]

    def cell(i: str, c: float) -> str:
        v = piv.loc[i, c]
        if np.isnan(v):
            return "—"
        text = fmt.format(v)
        if half is not None and i in half.index and c in half.columns:
            h = half.loc[i, c]
            text += "" if np.isnan(h) else f" ± {h:.3f}"
        return text

    head = f"| {index} | " + " | ".join(f"${c:g}" for c in piv.columns) + " |"
    sep = "|---" * (len(piv.columns) + 1) + "|"
    body = [f"| {i} | " + " | ".join(cell(i, c) for c in piv.columns) + " |" for i in piv.index]
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
        avg = (
            b.groupby(["method", "budget"])
            .agg(
                reachable=("reachable", "mean"),
                ci=("ci", lambda x: float(np.sqrt((x**2).sum())) / len(x)),
            )
            .reset_index()
        )
        out.append(md_table(avg, "method", "budget", "reachable", ci="ci"))
        for task in sorted(b["task"].unique()):
            out.append(f"#### {task} (weak ${wc:g})")
            out.append(md_table(b[b["task"] == task], "method", "budget", "reachable", ci="ci"))
        reg = decided_regimes(ok[ok["weak_cost"] == wc])  # prompting is no side of a regime
        reg["cell"] = [regime_cell(r) for r in reg.itertuples()]
        out.append(
            f"#### Regimes at weak ${wc:g} (rule: labelmix.analysis.regimes.DECISION_RULE; "
            "P(M best): bootstrap probability that the best mix beats both ends; P(W≥G): that "
            "all-weak beats all-gold; † weak side pool-limited)"
        )
        piv = reg.pivot_table(index="task", columns="budget", values="cell", aggfunc="first")
        lines = ["| task | " + " | ".join(f"${c:g}" for c in piv.columns) + " |"]
        lines.append("|---" * (len(piv.columns) + 1) + "|")
        lines += [f"| {t} | " + " | ".join(str(v) for v in piv.loc[t]) + " |" for t in piv.index]
        out.append("\n".join(lines))
    for method in REDUCED:
        if (ok_all["method"] == method).any():
            out.append(f"### {method} beside seq_sft at the same allocation and seed")
            out.append(matched(ok_all, method))
    d = stage_guard.deltas(ok)
    if not d.empty:
        out.append(
            "### Sequential runs beside weak_only at the same task, weak cost, budget and seed, "
            "by gold labels bought (mean Δ ± se; share of runs worse than weak_only)"
        )
        out.append(stage_guard.table(d, sorted(d["task"].unique())))
    weak = ok.groupby("task")["weak_label_test_accuracy"].mean()
    labeler = ok["weak_labeler"].fillna("probe") if "weak_labeler" in ok else pd.Series(["probe"])
    which = ", ".join(
        sorted({f"{m} {lab}" for m, lab in zip(ok["weak_model"], labeler, strict=False)})
    )
    out.append(f"### Weak labels' accuracy on the test split ({which}, threshold 0.5)")
    out.append(
        "\n".join(
            ["| task | accuracy |", "|---|---|"] + [f"| {t} | {v:.3f} |" for t, v in weak.items()]
        )
    )
    return "\n\n".join(out)


def regime_cell(r: object) -> str:
    short = {"quantity-dominant": "quantity", "quality-dominant": "quality"}
    name = short.get(r.regime, r.regime)  # type: ignore[attr-defined]
    p = f"P(M best) {r.p_mixed:.2f}, P(W≥G) {r.p_quantity:.2f}"  # type: ignore[attr-defined]
    dagger = " †" if r.weak_pool_limited else ""  # type: ignore[attr-defined]
    return f"**{name}**{dagger} ({p})" if name != "undecided" else f"undecided{dagger} ({p})"


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
    if args.tables_only:
        # Tabulate a finished part of the grid only (a store may hold runs of slices in progress).
        filters = (("method", args.methods), ("weak_cost", args.weak_costs), ("task", args.tasks))
        for col, value in filters:
            if value:
                wanted = value.split(",")
                keep = df[col].astype(str).isin(wanted)
                if col == "weak_cost":
                    keep = df[col].astype(float).isin([float(v) for v in wanted])
                df = df[keep]
    if args.figures:
        figures(df, Path(args.figures))
    md = tables(df)
    print(md)
    if args.md:
        Path(args.md).write_text(md + "\n")


if __name__ == "__main__":
    main()
