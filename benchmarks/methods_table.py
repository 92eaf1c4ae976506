"""Accuracy of every method on `cities` (probe trainer), mean ± sd over seeds, and time per run.

    .venv/bin/python benchmarks/methods_table.py [--config configs/methods_cities.toml]
        [--out runs/methods_cities] [--md docs/methods_table.md]

Resumable: finished runs are skipped, so it can be run in pieces."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from labelmix.methods import METHODS
from labelmix.sweep import Store, SweepConfig, expand, run_sweep


def table(df: pd.DataFrame) -> str:
    df = df[df["status"] == "ok"]
    rows = []
    for (method, budget), g in df.groupby(["method", "budget"], sort=True):
        acc = g["accuracy"]
        sd = f"{acc.std(ddof=1):.3f}" if len(acc) > 1 else "—"
        raw = ""
        if "raw_accuracy" in g and g["raw_accuracy"].notna().any():
            raw = f" (raw log-odds>0: {g['raw_accuracy'].mean():.3f})"
        rows.append(
            {
                "method": method,
                "budget": f"${budget:g}",
                "accuracy": f"{acc.mean():.3f} ± {sd}{raw}",
                "auroc": f"{g['auroc'].mean():.3f}",
                "n_weak": int(g["n_weak"].mean()),
                "n_gold": int(g["n_gold"].mean()),
                "spent": f"${g['spent'].mean():.1f}",
                "s/run": f"{g['time_s'].mean():.1f}",
                "seeds": len(g),
            }
        )
    out = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(METHODS)}  # the paper's order, as defined
    out = out.sort_values(
        ["budget", "method"],
        key=lambda s: s.map(order) if s.name == "method" else s.str[1:].astype(float),
    )
    header = "| " + " | ".join(out.columns) + " |\n|" + "---|" * len(out.columns) + "\n"
    return header + "\n".join("| " + " | ".join(str(v) for v in r) + " |" for r in out.values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="configs/methods_cities.toml")
    ap.add_argument("--out", default="runs/methods_cities")
    ap.add_argument("--md", default=None, help="also write the table to this Markdown file")
    args = ap.parse_args()
    sweep = SweepConfig.load(args.config, {})
    store = Store(args.out)
    run_sweep(expand(sweep), store, sweep=sweep)
    md = table(store.rebuild_table())
    print(md)
    if args.md:
        Path(args.md).write_text(md + "\n")


if __name__ == "__main__":
    main()
