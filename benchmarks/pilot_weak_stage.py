"""Should an all-gold plan train on the pilot's weak labels? Paired runs (docs/advisor.md).

    .venv/bin/python benchmarks/pilot_weak_stage.py --from results/paper_regimes \
        results/signal_study+results/signal_study_seeds5to9 \
        results/signal_study_600+results/signal_study_600_seeds5to9 --data-dir DATA_DIR \
        --kind pilot --items 8 --weak-costs 0.1 --budgets 64 256 1024

A pilot buys the gold and weak labels of a few pool items (a weak pilot their weak labels
alone) to measure the weak labels' accuracy. Where the advice is all gold, the run can either
train a small weak stage on those weak labels before the gold stage (seq_sft at gold fraction 1,
what the advisor did before; its weak stage also has the few weak labels that the dollars the
gold labels leave buy, 0-8 here) or leave them untrained (gold_only with the pilot: its gold
labels in the gold stage). Both buy as many gold labels, the pilot's among them; the others are
drawn in the same run order, so they are the same items but for the few that the seq_sft run's
leftover weak labels take first. For every stored gold_only run of the stores at
the budgets and weak costs asked (a unit's settings: splits, weak labeler, model, schedule, seed),
this draws a pilot of --items pool items (seeded by the cell and seed, never by a test result),
runs both ways on it and reports the paired difference of test accuracy, seq_sft@1 minus
gold_only, by budget: mean and 95% t-interval over pairs. Runs go into --out (resumable; with the
feature cache a probe run takes about a second)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from advisor import data_where, read_stores  # noqa: E402

from labelmix.analysis.stats import mean_interval  # noqa: E402
from labelmix.config import RunConfig  # noqa: E402
from labelmix.run import cached_splits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def pick_items(cfg: RunConfig, k: int, data_dir: str | None) -> tuple[str, ...]:
    """k pool items of the run's pool, in an order seeded by the cell and seed only."""
    pool = cached_splits(cfg.task, data_dir, cfg.split_sizes, cfg.split_seed).pool
    name = f"{cfg.task}|{cfg.weak_labeler}|{cfg.weak_cost}|{cfg.budget}|{cfg.seed}"
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    order = np.random.default_rng(seed).permutation(len(pool))[:k]
    return tuple(pool[int(i)].id for i in order)


def pairs(
    runs: pd.DataFrame, budgets: list[float], costs: list[float], k: int, kind: str,
    data_dir: str | None,
) -> list[tuple[dict, RunConfig, RunConfig]]:  # fmt: skip
    """(cell, seq_sft@1 with the pilot, gold_only with the pilot) for every stored gold_only run
    of the budgets and weak costs asked."""
    base = runs[
        (runs["method"] == "gold_only")
        & runs["budget"].isin(budgets)
        & runs["weak_cost"].isin(costs)
    ]
    out = []
    for r in base.itertuples():
        cfg = json.loads(r.config)
        cfg["data_dir"] = data_where(cfg, data_dir)
        stored = RunConfig.from_dict(cfg)
        ids = pick_items(stored, k, cfg["data_dir"])
        bought = {kind: ids}
        seq = stored.with_(method="seq_sft", gold_frac=1.0, **bought)
        gold = stored.with_(method="gold_only", gold_frac=None, **bought)
        cell = {"unit": r.unit, "store": r.store, "weak_cost": r.weak_cost, "budget": r.budget,
                "seed": r.seed}  # fmt: skip
        out.append((cell, seq, gold))
    return out


def table(rows: pd.DataFrame) -> str:
    lines = [
        "| budget | pairs | seq_sft@1 minus gold_only (points) [95% CI] | gold labels (mean) |",
        "|---|---|---|---|",
    ]
    groups = [(f"${b:g}", g) for b, g in rows.groupby("budget")] + [("all", rows)]
    for name, g in groups:
        m, half = mean_interval(list(100 * g["diff"].to_numpy(float)))
        lines.append(
            f"| {name} | {len(g)} | {m:+.2f} [{m - half:+.2f}, {m + half:+.2f}] | "
            f"{g['n_gold'].mean():.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--from", dest="stores", nargs="+", required=True)
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--budgets", type=float, nargs="+", default=[64.0, 256.0, 1024.0])
    ap.add_argument("--weak-costs", type=float, nargs="+", default=[0.1])
    ap.add_argument("--items", type=int, default=8, help="pilot items (the advisor's round)")
    ap.add_argument(
        "--kind", choices=("pilot", "weak_pilot"), default="pilot",
        help="a pilot (gold and weak labels) or a weak pilot (weak labels alone)",
    )  # fmt: skip
    ap.add_argument("--out", default=str(ROOT / "runs" / "pilot_weak_stage"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--md", default=None, help="also write the table to this Markdown file")
    args = ap.parse_args()
    from labelmix.sweep import Store, run_sweep

    t0 = time.perf_counter()
    runs = read_stores(args.stores)
    todo = pairs(runs, args.budgets, args.weak_costs, args.items, args.kind, args.data_dir)
    if not todo:
        sys.exit("no stored gold_only run at those budgets and weak costs")
    store = Store(args.out)
    run_sweep([c for _, a, b in todo for c in (a, b)], store, workers=args.workers)
    done = {r["key"]: r for r in store.results()}
    rows = pd.DataFrame(
        [
            cell
            | {
                "diff": done[a.key()]["accuracy"] - done[b.key()]["accuracy"],
                "n_gold": done[b.key()]["n_gold"],
            }  # fmt: skip
            for cell, a, b in todo
            if a.key() in done and b.key() in done
        ]
    )
    missing = len(todo) - len(rows)
    head = (
        f"`python benchmarks/pilot_weak_stage.py --from {' '.join(args.stores)} --kind "
        f"{args.kind} --items {args.items} --weak-costs "
        f"{' '.join(f'{c:g}' for c in args.weak_costs)}`: {len(rows)} pairs"
        + (f" ({missing} failed, see {args.out}/failed)" if missing else "")
        + f"; {time.perf_counter() - t0:.0f} s."
    )
    out = head + "\n\n" + table(rows)
    print(out)
    if args.md:
        Path(args.md).write_text(out + "\n")


if __name__ == "__main__":
    main()
