"""Does a few-shot prefix help sequential SFT? Paired test accuracy of a prefixed method against
its plain twin (default seq_sft_2shot against seq_sft) at the same task, budget, gold fraction,
weak cost and seed, read from one store (configs/signal_study_2shot.toml makes such a store).

A pair shares the splits, the weak labels and the labels bought; only the prefix differs, so the
per-seed difference is the prefix's effect. Each cell gets the mean difference over its seeds
with a 95% t-interval; "all" pools every pair (with a t-interval over pairs, which treats pairs
as independent: they are not quite, since a seed's pairs share its test split).

    .venv/bin/python benchmarks/fewshot_prefix.py results/signal_study_2shot --md out.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from labelmix.analysis.stats import mean_interval

CELL = ["task", "budget", "gold_frac", "weak_cost"]


def pairs(table: pd.DataFrame, prefixed: str, plain: str) -> pd.DataFrame:
    """One row per (cell, seed) where both methods ran: their accuracies and the difference."""
    ok = table[table["status"] == "ok"]
    keys = [*CELL, "seed"]
    a = ok[ok["method"] == prefixed].set_index(keys)["accuracy"].rename("prefixed")
    b = ok[ok["method"] == plain].set_index(keys)["accuracy"].rename("plain")
    both = pd.concat([a, b], axis=1, join="inner").reset_index()
    return both.assign(diff=both["prefixed"] - both["plain"])


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    mean, half = mean_interval([float(v) for v in x])
    return mean, mean - half, mean + half


def summary(p: pd.DataFrame, prefixed: str, plain: str) -> str:
    rows = [
        f"| task | budget | gold frac | weak $ | seeds | {plain} | {prefixed} | "
        "difference [95% t-interval] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cell, g in p.groupby(CELL, sort=True):
        task, budget, frac, cost = cell  # type: ignore[misc]
        m, lo, hi = t_interval(g["diff"].to_numpy())
        ci = "(one seed)" if len(g) < 2 else f"[{lo:+.3f}, {hi:+.3f}]"
        rows.append(
            f"| {task} | ${budget:g} | {frac:g} | {cost:g} | {len(g)} | {g['plain'].mean():.3f} | "
            f"{g['prefixed'].mean():.3f} | {m:+.3f} {ci} |"
        )
    m, lo, hi = t_interval(p["diff"].to_numpy())
    worse = float((p["diff"] < 0).mean())
    rows.append(
        f"| **all** | | | | {len(p)} pairs | {p['plain'].mean():.3f} | {p['prefixed'].mean():.3f} "
        f"| **{m:+.3f} [{lo:+.3f}, {hi:+.3f}]** ({worse:.0%} of pairs worse) |"
    )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--prefixed", default="seq_sft_2shot")
    ap.add_argument("--plain", default="seq_sft")
    ap.add_argument("--md", type=Path, default=None)
    args = ap.parse_args()
    from labelmix.sweep.store import Store

    table = Store(args.store).current_table()
    p = pairs(table, args.prefixed, args.plain)
    if p.empty:
        raise SystemExit(f"no pairs of {args.prefixed} and {args.plain} in {args.store}")
    text = summary(p, args.prefixed, args.plain)
    print(text)
    if args.md is not None:
        args.md.write_text(text + "\n")


if __name__ == "__main__":
    main()
