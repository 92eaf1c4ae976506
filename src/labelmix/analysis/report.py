"""A report from a table of runs: figures, the best-within-budget table, the regimes, and advice.

Each section is built once as plain blocks (headings, lists, tables, images) and rendered twice,
to Markdown and to one self-contained HTML page (figures as base64 data URIs), so the two never
disagree. `recommend` answers the user's question directly: how should I spend my budget?
"""

from __future__ import annotations

import base64
import html
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelmix.analysis.frontier import (
    _require,
    aggregate_points,
    best_within_budget,
    choice_column,
    chosen_on_text,
    frontier_table,
    successful_runs,
)
from labelmix.analysis.plots import method_order, plot_frontier, plot_regimes, write_readable
from labelmix.analysis.regimes import DECISION_RULE, UNDECIDED, decided_regimes
from labelmix.analysis.regimes import optional_float as _num
from labelmix.labels.budget import Prices, allocate

DASH = "—"
NA = "n/a"
GROUP = ("task", "weak_cost")

# Blocks: ("h", level, text) | ("p", text) | ("ul", [items]) | ("img", alt, file)
#         | ("table", header, rows) with cells str or (str, bold)
Block = tuple[Any, ...]
Cell = str | tuple[str, bool]


def write_report(
    df: pd.DataFrame,
    out_dir: str | Path,
    title: str = "labelmix report",
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write frontier.png, regimes.png, best_by_budget.md, regimes.md, report.md and report.html
    into `out_dir`; return the path of report.html (one self-contained page to open or share).

    Failed runs are left out of every number and counted in the report. `meta` adds or overrides
    setup lines (data, models, trainer, thresholds, ...). Every choice (gold fraction,
    frontier point, recipe, each regime's sides) is made on the selection split and scored on
    the test split; regimes are decided by `DECISION_RULE`.
    """
    _require(
        df, ["task", "method", "budget", "weak_cost", "gold_frac", "weak_share_spent", "accuracy"]
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    all_runs = _separate_settings(df)
    runs = successful_runs(all_runs)

    frontier_png = plot_frontier(runs, out / "frontier.png")
    regimes_png = plot_regimes(runs, out / "regimes.png")
    best = _best_blocks(runs)
    regimes = _regime_blocks(runs)

    _write_md(out / "best_by_budget.md", [("h", 1, "Best accuracy within each budget"), *best])
    _write_md(out / "regimes.md", [("h", 1, "Regimes"), *regimes])

    blocks: list[Block] = [
        ("h", 1, title),
        ("h", 2, "Setup"),
        ("ul", _setup_items(all_runs, meta)),
        ("h", 2, "Runs"),
        ("ul", _run_items(all_runs, runs)),
        ("h", 2, "Cost/accuracy frontier"),
        ("img", "cost/accuracy frontier", frontier_png.name),
        *_frontier_blocks(runs),
        ("h", 2, "Regimes"),
        ("img", "accuracy against the share of budget spent on weak labels", regimes_png.name),
        *_shift(regimes, 1),
        ("h", 2, "Best accuracy within each budget"),
        *_shift(best, 1),
        ("h", 2, "How to spend a budget"),
        *_spend_blocks(runs),
    ]
    _write_md(out / "report.md", blocks)
    html_path = out / "report.html"
    write_readable(html_path, _render_html(title, blocks, out).encode("utf-8"))
    return html_path


def recommend(
    df: pd.DataFrame, budget: float, weak_cost: float, task: str | None = None
) -> dict[str, Any]:
    """How to spend `budget` dollars when weak labels cost `weak_cost`: the best observed
    (method, gold_frac, n_weak, n_gold) at the largest budget run that is <= `budget`, chosen
    on the selection split (`choice_column`) and reported with its test accuracy, and that split scaled to the full `budget` (scaled_n_weak, scaled_n_gold; not
    measured when the budgets differ). Ties go to the cheaper run. Needs `task` when the table
    holds several tasks. ValueError when nothing observed fits.
    """
    runs = successful_runs(df)
    _require(runs, ["task", "method", "budget", "gold_frac", "weak_cost"])
    if task is not None:
        runs = runs[runs["task"] == task]
    tasks = sorted(map(str, runs["task"].unique()))
    if not tasks:
        raise ValueError(f"no successful runs{'' if task is None else f' for task {task!r}'}")
    if len(tasks) > 1:
        raise ValueError(f"the runs cover several tasks {tasks}: pass task=")
    wc = runs["weak_cost"].astype(float).to_numpy()
    at_cost = runs[np.isclose(wc, float(weak_cost), rtol=1e-9, atol=1e-12)]
    if at_cost.empty:
        seen = ", ".join(f"${c:g}" for c in sorted(set(wc)))
        raise ValueError(f"no runs at weak cost ${weak_cost:g}; observed weak costs: {seen}")
    fits = at_cost[at_cost["budget"].astype(float) <= float(budget) * (1 + 1e-9)]
    if fits.empty:
        low = at_cost["budget"].astype(float).min()
        raise ValueError(f"no run fits ${budget:g}: the smallest observed budget is ${low:g}")
    b = float(fits["budget"].astype(float).max())
    at_b = fits[fits["budget"].astype(float) == b]
    keys = ["task", "method", "budget", "gold_frac", "weak_cost"]
    keys += [k for k in ("model", "trainer", "weak_model", "weak_labeler") if k in at_b.columns]
    at_b = _default_labeler(at_b)
    points = aggregate_points(at_b, by=keys)
    points["_order"] = points["method"].map(
        {m: i for i, m in enumerate(method_order(points["method"]))}
    )
    metric = choice_column(points)
    sort_cols = [metric, "spent", "_order"] if "spent" in points.columns else [metric, "_order"]
    ascending = [False] + [True] * (len(sort_cols) - 1)
    best = points.sort_values(sort_cols, ascending=ascending, kind="mergesort").iloc[0]

    rec: dict[str, Any] = {
        "task": str(best["task"]),
        "requested_budget": float(budget),
        "budget": b,
        "weak_cost": float(best["weak_cost"]),
        "method": str(best["method"]),
        "gold_frac": _num(best["gold_frac"]),
        "n_weak": _count(best.get("n_weak")),
        "n_gold": _count(best.get("n_gold")),
        "accuracy": float(best["accuracy"]),
        "accuracy_sd": _num(best["accuracy_sd"]),
        "selection_accuracy": _num(best.get("selection_accuracy")),
        "chosen_on": chosen_on_text(metric),
        "n_seeds": int(best["n_seeds"]),
        "weak_share_spent": _num(best.get("weak_share_spent")),
        "spent": _num(best.get("spent")),
    }
    for k in ("model", "trainer", "weak_model", "weak_labeler"):
        if k in best.index:
            rec[k] = str(best[k])
    gold_cost = _single(at_b, "gold_cost")
    rec["gold_cost"] = gold_cost
    rec["scaled_n_weak"], rec["scaled_n_gold"] = rec["n_weak"], rec["n_gold"]
    if float(budget) > b and gold_cost is not None and rec["gold_frac"] is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alloc = allocate(float(budget), rec["gold_frac"], Prices(float(weak_cost), gold_cost))
        rec["scaled_n_weak"], rec["scaled_n_gold"] = alloc.n_weak, alloc.n_gold
    rec["advice"] = _advice(rec)
    return rec


# ---------------------------------------------------------------- sections


def _best_blocks(runs: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = [
        (
            "p",
            "Each cell: the test accuracy (mean ± sd over seeds, "
            f"{DASH} for one seed) of the method at the gold fraction "
            f"{chosen_on_text(choice_column(runs))}, and w = share of dollars spent on weak "
            "labels there. Bold: the method the selection split prefers at that budget. "
            "† the pool could not serve the allocation: the run spent less than its budget.",
        )
    ]
    best = best_within_budget(runs)
    if best.empty:
        return [*blocks, ("p", "No successful runs.")]
    metric = choice_column(best)
    for key, sub in best.groupby(list(GROUP), sort=True):
        budgets = sorted(sub["budget"].astype(float).unique())
        top = sub.groupby("budget")[metric].max()
        rows = []
        for m in method_order(sub["method"].unique()):
            cells: list[Cell] = [m]
            for b in budgets:
                hit = sub[(sub["method"] == m) & (sub["budget"].astype(float) == b)]
                if hit.empty:
                    cells.append(NA)
                    continue
                r = hit.iloc[0]
                text = f"{_acc(r['accuracy'], r['accuracy_sd'])} (w={_frac(r.get('weak_share_spent'))})"
                text += " †" if bool(r.get("pool_limited", False)) else ""
                cells.append((text, bool(np.isclose(r[metric], top[r["budget"]]))))
            rows.append(cells)
        blocks += [
            ("h", 2, _group_title(key)),
            ("table", ["method", *(_money(b) for b in budgets)], rows),
        ]
    return blocks


def _regime_blocks(runs: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = [
        ("p", f"Rule: {DECISION_RULE}"),
        (
            "p",
            "Columns W, G, M: each side's configuration chosen on the selection split, with its "
            "mean test accuracy; P(M best): the bootstrap probability that M beats both ends; "
            "P(W ≥ G): that the all-weak side beats the all-gold side. † the all-weak side was "
            "limited by the pool (it spent less than "
            "the budget), so a quality-dominant call there says as much about the pool as "
            "about the labels.",
        ),
    ]
    table = decided_regimes(runs, by=GROUP)
    if table.empty:
        return [*blocks, ("p", "No successful runs.")]
    for key, sub in table.groupby(list(GROUP), sort=True):
        rows = []
        for _, r in sub.sort_values("budget").iterrows():
            regime = str(r["regime"])
            rows.append(
                [
                    _money(r["budget"]),
                    (regime, regime != UNDECIDED),
                    _side(r["weak_test"], r["weak_method"])
                    + (" †" if bool(r["weak_pool_limited"]) else ""),
                    _side(r["gold_test"], r["gold_method"]),
                    _side(r["mixed_test"], r["mixed_method"], r["mixed_gold_frac"], "g"),
                    _prob(r["p_mixed"]),
                    _prob(r["p_quantity"]),
                    str(int(r["n_seeds"])),
                ]
            )
        header = ["budget", "regime", "W (all weak)", "G (all gold)", "M (best mixed)"]
        header += ["P(M best)", "P(W ≥ G)", "seeds"]
        blocks += [("h", 2, _group_title(key)), ("table", header, rows)]
    return blocks


def _prob(x: Any) -> str:
    v = _num(x)
    return DASH if v is None else f"{v:.2f}"


def _frontier_blocks(runs: pd.DataFrame) -> list[Block]:
    front = frontier_table(runs, cost="spent", group=GROUP)
    blocks: list[Block] = [
        (
            "p",
            "Points: every successful run, at the dollars it spent. Frontier: mean-over-seeds "
            "(method, budget, gold fraction) points that no point spending as little or less "
            f"matches in accuracy, {chosen_on_text(choice_column(runs))}.",
        )
    ]
    if front.empty:
        return blocks
    for key, sub in front.groupby(list(GROUP), sort=True):
        rows = [
            [
                _money(r["spent"]),
                _money(r["budget"]),
                str(r["method"]),
                _frac(r["gold_frac"]),
                _frac(r.get("weak_share_spent")),
                _acc(r["accuracy"], r["accuracy_sd"]),
            ]
            for _, r in sub.iterrows()
        ]
        header = ["spent", "budget", "method", "gold frac", "w (weak share)", "test accuracy"]
        blocks += [("h", 3, f"Frontier: {_group_title(key)}"), ("table", header, rows)]
    return blocks


def _spend_blocks(runs: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = [
        (
            "p",
            "The best observed recipe at each budget (what `labelmix.analysis.recommend(df, "
            "budget, weak_cost)` returns for that budget).",
        )
    ]
    if runs.empty:
        return blocks
    for key, sub in runs.groupby(list(GROUP), sort=True):
        task, weak_cost = key
        rows = []
        for b in sorted(sub["budget"].astype(float).unique()):
            r = recommend(sub, b, float(weak_cost), task=task)
            rows.append(
                [
                    _money(b),
                    r["method"],
                    _frac(r["gold_frac"]),
                    _int(r["n_weak"]),
                    _int(r["n_gold"]),
                    _acc(r["accuracy"], r["accuracy_sd"]),
                ]
            )
        header = ["budget", "method", "gold frac", "n weak", "n gold", "accuracy"]
        blocks += [("h", 3, _group_title(key)), ("table", header, rows)]
    return blocks


def _setup_items(df: pd.DataFrame, meta: Mapping[str, Any] | None) -> list[str]:
    items: dict[str, str] = {
        "tasks": _values(df, "task"),
        "models": _values(df, "model"),
        "trainers": _values(df, "trainer"),
        "methods": ", ".join(method_order(df["method"].dropna().unique())),
        "budgets": ", ".join(_money(b) for b in sorted(df["budget"].astype(float).unique())),
        "weak cost per label": _values(df, "weak_cost", money=True),
        "gold cost per label": _values(df, "gold_cost", money=True),
        "seeds": _values(df, "seed"),
        "accuracy thresholds": _values(df, "accuracy_threshold"),
    }
    for k, v in (meta or {}).items():
        items[str(k)] = _meta_value(v)
    return [f"{k}: {v}" for k, v in items.items()]


def _run_items(all_runs: pd.DataFrame, ok: pd.DataFrame) -> list[str]:
    failed = (
        all_runs[all_runs["status"].astype(str) != "ok"]
        if "status" in all_runs.columns
        else all_runs.iloc[:0]
    )
    items = [
        f"runs: {len(all_runs)}",
        f"used in the analysis: {len(ok)}",
        f"failed (excluded): {len(failed)}",
    ]
    if len(failed):
        by_method = failed["method"].value_counts().sort_index()
        items.append("failed by method: " + ", ".join(f"{m} {n}" for m, n in by_method.items()))
    no_acc = len(all_runs) - len(failed) - len(ok)
    if no_acc:
        items.append(f"finished without an accuracy (excluded): {no_acc}")
    return items


# ---------------------------------------------------------------- helpers


def _separate_settings(df: pd.DataFrame) -> pd.DataFrame:
    """With several (model, trainer, weak labeler) settings in one table, label each task with
    its setting so that no table, panel or regime ever pools runs of different models or of
    different weak labels."""
    cols = [c for c in ("model", "trainer", "weak_model", "weak_labeler") if c in df.columns]
    if not cols:
        return df
    # few_shot always scores with `icl`: it belongs with the trained runs of the same model.
    keyed = _default_labeler(df[cols].astype(object)).astype(str)
    if "weak_model" in keyed.columns:
        keyed["weak_model"] = "weak " + keyed["weak_model"]
    if "trainer" in keyed.columns:
        trained = keyed.loc[keyed["trainer"] != "icl", "trainer"].unique()
        if len(trained) == 1:
            keyed.loc[keyed["trainer"] == "icl", "trainer"] = trained[0]
    if len(keyed.drop_duplicates()) <= 1:
        return df
    out = df.copy()
    setting = keyed.agg(", ".join, axis=1)
    out["task"] = out["task"].astype(str) + " [" + setting + "]"
    return out


def _default_labeler(df: pd.DataFrame) -> pd.DataFrame:
    """Records from before `weak_labeler` existed say nothing: they used the default, probe."""
    if "weak_labeler" not in df.columns:
        return df
    return df.assign(weak_labeler=df["weak_labeler"].fillna("probe"))


def _advice(rec: dict[str, Any]) -> str:
    split = (
        f"{rec['gold_frac']:.0%} of the budget on gold labels"
        if rec["gold_frac"] is not None
        else "its own label use"
    )
    counts = ""
    if rec["n_gold"] is not None and rec["n_weak"] is not None:
        counts = f" ({rec['n_gold']} gold + {rec['n_weak']} weak labels)"
    text = (
        f"For ${rec['requested_budget']:g} on {rec['task']}: the best observed recipe "
        f"(at ${rec['budget']:g}) is {rec['method']} with {split}{counts}, accuracy "
        f"{_acc(rec['accuracy'], rec['accuracy_sd'])} on the test split over "
        f"{rec['n_seeds']} seed(s) ({rec['chosen_on']})."
    )
    if rec["requested_budget"] > rec["budget"] and rec["scaled_n_gold"] is not None:
        text += (
            f" The same split of ${rec['requested_budget']:g} buys {rec['scaled_n_gold']} gold "
            f"+ {rec['scaled_n_weak']} weak labels (not measured)."
        )
    return text


def _group_title(key: tuple) -> str:
    task, weak_cost = key
    return f"{task} · weak labels {_money(weak_cost)} each"


def _side(acc: Any, method: Any, frac: Any = None, name: str = "w") -> str:
    if acc is None or (isinstance(acc, float) and math.isnan(acc)):
        return DASH
    extra = f", {name}={_frac(frac)}" if frac is not None else ""
    return f"{float(acc):.3f} ({method}{extra})"


def _acc(acc: Any, sd: Any) -> str:
    sd_f = _num(sd)
    return f"{float(acc):.3f} ± {DASH if sd_f is None else f'{sd_f:.3f}'}"


def _signed(x: Any) -> str:
    v = _num(x)
    return DASH if v is None else f"{v:+.3f}"


def _frac(x: Any) -> str:
    v = _num(x)
    return NA if v is None else f"{v:.2f}"


def _int(x: Any) -> str:
    return NA if x is None else str(x)


def _money(v: Any) -> str:
    return f"${float(v):g}"


def _count(x: Any) -> int | None:
    v = _num(x)
    return None if v is None else int(round(v))


def _single(df: pd.DataFrame, col: str) -> float | None:
    if col not in df.columns:
        return None
    vals = pd.to_numeric(df[col], errors="coerce").dropna().unique()
    return float(vals[0]) if len(vals) == 1 else None


def _values(df: pd.DataFrame, col: str, money: bool = False) -> str:
    if col not in df.columns or df[col].dropna().empty:
        return "not recorded"
    if money:
        return ", ".join(_money(v) for v in sorted(df[col].dropna().astype(float).unique()))
    vals = df[col].dropna().unique()
    try:
        vals = sorted(vals)
    except TypeError:
        vals = sorted(map(str, vals))
    return ", ".join(map(str, vals))


def _meta_value(v: Any) -> str:
    if isinstance(v, Mapping):
        return "; ".join(f"{k}={x}" for k, x in v.items())
    if isinstance(v, (list, tuple, set)):
        return ", ".join(map(str, v))
    return str(v)


def _shift(blocks: Sequence[Block], by: int) -> list[Block]:
    return [("h", b[1] + by, b[2]) if b[0] == "h" else b for b in blocks]


# ---------------------------------------------------------------- rendering


def _cell_text(c: Cell) -> tuple[str, bool]:
    return (c[0], c[1]) if isinstance(c, tuple) else (c, False)


def _md(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            lines += ["#" * b[1] + " " + b[2], ""]
        elif kind == "p":
            lines += [b[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in b[1]] + [""]
        elif kind == "img":
            lines += [f"![{b[1]}]({b[2]})", ""]
        elif kind == "table":
            header, rows = b[1], b[2]
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join(" --- " for _ in header) + "|")
            for row in rows:
                cells = []
                for c in row:
                    text, bold = _cell_text(c)
                    text = text.replace("|", "\\|")
                    cells.append(f"**{text}**" if bold else text)
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _write_md(path: Path, blocks: Sequence[Block]) -> None:
    write_readable(path, _md(blocks).encode("utf-8"))


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; white-space: nowrap; }
th { background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #eee; }
h1, h2, h3, h4 { margin-top: 1.4em; }
"""


def _render_html(title: str, blocks: Sequence[Block], root: Path) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        kind = b[0]
        if kind == "h":
            level = min(int(b[1]), 6)
            parts.append(f"<h{level}>{esc(b[2])}</h{level}>")
        elif kind == "p":
            parts.append(f"<p>{esc(b[1])}</p>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "img":
            data = base64.b64encode((root / b[2]).read_bytes()).decode("ascii")
            parts.append(f'<p><img alt="{esc(b[1])}" src="data:image/png;base64,{data}"></p>')
        elif kind == "table":
            header, rows = b[1], b[2]
            out = ["<table><thead><tr>"]
            out += [f"<th>{esc(h)}</th>" for h in header]
            out.append("</tr></thead><tbody>")
            for row in rows:
                out.append("<tr>")
                for c in row:
                    text, bold = _cell_text(c)
                    out.append(
                        f"<td><strong>{esc(text)}</strong></td>"
                        if bold
                        else f"<td>{esc(text)}</td>"
                    )
                out.append("</tr>")
            out.append("</tbody></table>")
            parts.append("".join(out))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
