"""The signal check (labelmix.analysis.signal) on many tasks, resumable, and its tables.

Each (task, labelers) measurement is saved as JSON under --out with the command, the date and
the machine; a finished one is not measured again. The tables in --md are built from every JSON
there, so labelers measured later (e.g. finetune on a few tasks) join the same rows.

    export LABELMIX_DATA_DIR=path/to/data
    .venv/bin/python benchmarks/signal_check.py --labelers probe,prompt,finetune \\
        --tasks cities,elements,regions,sst2,cola,social_i_qa,hellaswag,\\
file:$LABELMIX_DATA_DIR/user/sarcasm_headlines.jsonl --md docs/signal.md
    .venv/bin/python benchmarks/signal_check.py --tasks cities --labelers finetune --md ...
    .venv/bin/python benchmarks/signal_check.py --tables-only --md docs/signal.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from labelmix.analysis.signal import (
    GOLD_COUNTS,
    MIN_HEADROOM,
    MIN_WEAK_ACCURACY,
    SIGNAL_SIZES,
    overall_verdict,
    signal_check,
    verdict_over_seeds,
)
from labelmix.tasks.splits import SplitSizes

OUT = Path("results/signal")


def _safe(task: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", task.rsplit("/", 1)[-1])


def measure(
    task: str, labelers: list[str], sizes: SplitSizes, seed: int, out: Path, model: str
) -> Path:
    path = out / f"{_safe(task)}__{'+'.join(_safe(s) for s in labelers)}__s{seed}.json"
    if path.exists():
        print(f"{task} {labelers}: done before ({path})", flush=True)
        return path
    t0 = time.perf_counter()
    report = signal_check(task, labelers=labelers, sizes=sizes, seed=seed, strong_model=model)
    record = {
        **report.to_dict(),
        "wall_s": time.perf_counter() - t0,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "command": "LABELMIX_DATA_DIR=$LABELMIX_DATA_DIR .venv/bin/python "
        + shlex.join(["benchmarks/signal_check.py", *sys.argv[1:]]),
        "data_dir": os.environ.get("LABELMIX_DATA_DIR"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), no GPU",
    }
    print(report.to_text(), f"\n({record['wall_s']:.0f} s)\n", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def _name(task: str) -> str:
    """A `file:` task by its file's name: the tables stay narrow."""
    return f"file:…/{task.rsplit('/', 1)[-1]}" if task.startswith("file:") else task


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:.3f}, {hi:.3f}]"


def tables(out: Path) -> str:
    """Markdown tables from every saved measurement, one block of rows per task and seed, and
    the verdict over seeds for a task checked on several."""
    by_task: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for path in sorted(out.glob("*.json")):
        rec = json.loads(path.read_text())
        if not isinstance(rec, dict) or "weak" not in rec:
            continue  # not a signal check's record (e.g. a sweep store's files)
        by_task.setdefault(rec["task"], {}).setdefault(int(rec["seed"]), []).append(rec)
    weak_rows, gold_rows, verdict_rows, seeds_rows, runs = [], [], [], [], []
    first: dict[str, Any] = {}
    for full_name, by_seed in by_task.items():
        task = _name(full_name)
        firsts = []
        for seed, recs in sorted(by_seed.items()):
            first = recs[0]
            # one row per labeler: the first measurement of it (a later one on the same splits
            # and seed gives the same labels, from the cache)
            sides = list({w["labeler"]: w for rec in reversed(recs) for w in rec["weak"]}.values())
            firsts.append({**first, "weak": sides})
            s = first["split_sizes"]
            for rec in recs:
                labelers = ", ".join(w["labeler"] for w in rec["weak"])
                command = rec["command"]
                if rec.get("data_dir"):  # where the data lives here is no part of the method
                    command = command.replace(rec["data_dir"], "$LABELMIX_DATA_DIR")
                runs.append(f"| {task} | {seed} | {labelers} | {rec['date']} | `{command}` |")
            for w in sides:
                weak_rows.append(
                    f"| {task} | {seed} | {w['labeler']} ({w['model'] or 'given'}) | "
                    f"{w['pool_accuracy']:.3f} {_ci(*w['pool_ci'])} | {w['pool_auroc']:.3f} | "
                    f"{w['pool_brier']:.3f} | {w['pool_ece']:.3f} | {w['test_accuracy']:.3f} "
                    f"{_ci(*w['test_ci'])} | {w['time_s'] / 60:.1f} min |"
                )
            gold = {g["n_gold"]: g for g in first["gold"]}
            cells = [f"{gold[n]['test_accuracy']:.3f}" if n in gold else "–" for n in GOLD_COUNTS]
            ceiling = first["gold"][-1]
            gold_rows.append(
                f"| {task} | {seed} | {s['weak_train']} / {s['pool']} / {s['test']} | "
                f"{' | '.join(cells)} | {ceiling['n_gold']}: {ceiling['test_accuracy']:.3f} "
                f"{_ci(*ceiling['test_ci'])} |"
            )
            verdicts = ", ".join(
                f"{w['labeler']} {w['headroom']:+.3f} {_ci(*w['headroom_ci'])} **{w['verdict']}**"
                for w in sides
            )
            verdict_rows.append(
                f"| {task} | {seed} | {verdicts} | "
                f"**{overall_verdict([w['verdict'] for w in sides])}** |"
            )
        if len(firsts) > 1:
            for v in verdict_over_seeds(firsts):
                seeds_rows.append(
                    f"| {task} | {', '.join(map(str, v.seeds))} | {v.labeler} | "
                    f"{v.weak_accuracy:.3f} {_ci(*v.weak_ci)} | {v.headroom:+.3f} "
                    f"{_ci(*v.headroom_ci)} | {', '.join(v.seed_verdicts)} | **{v.verdict}** |"
                )
    over_seeds = []
    if seeds_rows:
        over_seeds = [
            "### Verdict over seeds (what a study averaging these seeds can expect)",
            "",
            "Means over the seeds' checks; each interval is the wider of a 95% t-interval over "
            "the seeds and the seeds' bootstrap intervals combined (`verdict_over_seeds`).",
            "",
            "| task | seeds | labeler | weak test accuracy [95% CI] | ceiling − weak [95% CI] "
            "| per seed | verdict |",
            "|---|---|---|---|---|---|---|",
            *seeds_rows,
            "",
        ]
    return "\n".join(
        [
            "### Weak labels (accuracy at P > 0.5, 95% bootstrap interval)",
            "",
            "| task | seed | labeler (model) | pool accuracy | pool AUROC | pool Brier | pool ECE "
            "| test accuracy | time to make (first run) |",
            "|---|---|---|---|---|---|---|---|---|",
            *weak_rows,
            "",
            f"### Strong model: {first['strong_model']} probe, gold labels only (test accuracy)",
            "",
            "| task | seed | weak_train / pool / test | "
            + " | ".join(f"{n} gold" for n in GOLD_COUNTS)
            + " | ceiling: whole pool [95% CI] |",
            "|---|---|---|" + "---|" * len(GOLD_COUNTS) + "---|",
            *gold_rows,
            "",
            f"### Verdict (weak ≥ {MIN_WEAK_ACCURACY} and ceiling − weak ≥ {MIN_HEADROOM}, "
            "by their intervals)",
            "",
            "| task | seed | ceiling − weak per labeler [95% CI] → verdict | task's verdict |",
            "|---|---|---|---|",
            *verdict_rows,
            "",
            *over_seeds,
            "### Measurements",
            "",
            "| task | seed | labelers | date | command |",
            "|---|---|---|---|---|",
            *runs,
        ]
    )


def write_tables(md: Path, out: Path) -> None:
    """Replace the text between the markers in `md` (or append it) with the tables. Each
    measurement folder (one per strong model) has its own markers."""
    tag = "" if out == OUT else f":{out.name}"
    start, end = f"<!-- signal-tables{tag} -->", f"<!-- /signal-tables{tag} -->"
    block = f"{start}\n{tables(out)}\n{end}"
    text = md.read_text() if md.exists() else ""
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    md.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="cities")
    ap.add_argument("--labelers", default="probe,prompt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weak-train", type=int, default=SIGNAL_SIZES.weak_train)
    ap.add_argument("--pool", type=int, default=SIGNAL_SIZES.pool)
    ap.add_argument("--select", type=int, default=SIGNAL_SIZES.select)
    ap.add_argument("--test", type=int, default=SIGNAL_SIZES.test)
    ap.add_argument("--model", default="smollm2", help="the strong model (probe trainer)")
    ap.add_argument(
        "--out", type=Path, default=OUT, help="one folder per strong model (its own tables)"
    )
    ap.add_argument("--md", type=Path, default=None, help="write the tables into this file")
    ap.add_argument("--tables-only", action="store_true")
    args = ap.parse_args()
    if not args.tables_only:
        sizes = SplitSizes(args.weak_train, args.pool, args.test, args.select)
        labelers = [s.strip() for s in args.labelers.split(",") if s.strip()]
        for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
            measure(task, labelers, sizes, args.seed, args.out, args.model)
    if args.md is not None:
        write_tables(args.md, args.out)
    print(tables(args.out))


if __name__ == "__main__":
    main()
