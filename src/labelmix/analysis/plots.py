"""Figures: the cost/accuracy frontier and the paper's regime figure (accuracy vs weak share).

Figures are drawn on an Agg canvas without pyplot: no display, no global backend switch, nothing
left open (reports run on headless clusters and inside other programs).
One panel per (task, weak cost), so that prices and tasks are never mixed on one axis.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from labelmix.analysis.frontier import (
    aggregate_points,
    choice_column,
    pareto_frontier,
    successful_runs,
)
from labelmix.atomic import atomic_write_bytes
from labelmix.methods import METHODS

PANEL_KEYS: tuple[str, ...] = ("task", "weak_cost")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h")
_DPI = 110


def method_order(methods: Iterable[str]) -> list[str]:
    """The paper's methods in their canonical order, then user-defined ones alphabetically."""
    present = set(map(str, methods))
    known = [m for m in METHODS if m in present]
    return known + sorted(present - set(known))


def method_styles(methods: Iterable[str]) -> dict[str, tuple[tuple[float, ...], str]]:
    """A fixed (colour, marker) per method, so a method looks the same in every panel."""
    cmap = matplotlib.colormaps["tab10"]
    return {
        m: (tuple(cmap(i % 10)), _MARKERS[i % len(_MARKERS)])
        for i, m in enumerate(method_order(methods))
    }


def regime_method(runs: pd.DataFrame) -> str | None:
    """The method whose curve the regime figure draws: seq_sft if present, else the first trained
    method with mixed points (0 < weak_share_spent < 1), else the first trained method."""
    methods = method_order(runs["method"].unique()) if not runs.empty else []
    if "seq_sft" in methods:
        return "seq_sft"
    trained = [m for m in methods if not (m in METHODS and METHODS[m].prompt_only)]
    for m in trained:
        w = runs.loc[runs["method"] == m, "weak_share_spent"].astype(float)
        if ((w > 1e-9) & (w < 1 - 1e-9)).any():
            return m
    return trained[0] if trained else None


def plot_frontier(df: pd.DataFrame, path: str | Path) -> Path:
    """All successful runs as points (colour and marker by method) over budget, log-x in dollars,
    with the Pareto frontier of the mean-over-seeds points drawn as a step line."""
    runs = successful_runs(df)
    panels = _panels(runs)
    styles = method_styles(runs["method"].unique()) if not runs.empty else {}
    fig, axes = _grid(len(panels))
    for ax, (key, sub) in zip(axes, panels, strict=False):
        _frontier_panel(ax, key, sub, styles)
    handles = [
        Line2D([], [], ls="", marker=mk, color=col, label=_plain(m))
        for m, (col, mk) in styles.items()
    ]
    if handles:
        handles.append(
            Line2D([], [], color="black", lw=1.6, marker="o", mfc="none", label="Pareto frontier")
        )
        fig.legend(handles=handles, loc="outside right center", fontsize=8, title="method")
    fig.suptitle("Test accuracy vs dollars spent (frontier chosen on the selection split)")
    return _save(fig, path)


def plot_regimes(df: pd.DataFrame, path: str | Path) -> Path:
    """Accuracy against the share of the spent budget that bought weak labels, one line per
    budget (mean over seeds, error bars one sd): the paper's regime figure, for seq_sft (or the
    first trained method). weak_only / gold_only fill the ends where the method has none."""
    runs = successful_runs(df)
    panels = _panels(runs)
    fig, axes = _grid(len(panels), width=6.4)
    for ax, (key, sub) in zip(axes, panels, strict=False):
        _regime_panel(ax, key, sub)
    return _save(fig, path)


def _frontier_panel(
    ax: Axes,
    key: tuple,
    sub: pd.DataFrame,
    styles: dict[str, tuple[tuple[float, ...], str]],
) -> None:
    methods = [m for m in styles if m in set(sub["method"])]
    # Runs sit at the dollars they spent (a run the pool could not serve spends less).
    xcol = "spent" if "spent" in sub.columns and sub["spent"].notna().all() else "budget"
    # Spread methods a little along log-x so points at one budget do not hide each other.
    step = min(0.08, 0.5 / max(len(methods), 1))
    for i, m in enumerate(methods):
        r = sub[sub["method"] == m]
        shift = 2.0 ** ((i - (len(methods) - 1) / 2) * step)
        col, mk = styles[m]
        ax.scatter(
            r[xcol].astype(float) * shift,
            r["accuracy"].astype(float),
            s=18,
            marker=mk,
            color=col,
            alpha=0.6,
            linewidths=0,
        )
    points = aggregate_points(sub, by=("method", "budget", "gold_frac"))
    # The frontier is chosen on the selection split and drawn at its test accuracy.
    front = points.iloc[pareto_frontier(points[xcol], points[choice_column(points)])]
    xs = front[xcol].astype(float).to_numpy()
    ys = front["accuracy"].astype(float).to_numpy()
    budgets = np.sort(sub["budget"].astype(float).dropna().unique())
    if budgets.size == 0 or xs.size == 0:
        _empty(ax, "no runs with a budget")
        return
    x_end = budgets[-1] * 1.25
    ax.step(np.append(xs, x_end), np.append(ys, ys[-1]), where="post", color="black", lw=1.6)
    ax.plot(xs, ys, ls="", marker="o", ms=8, mfc="none", mec="black", mew=1.3)
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(budgets[0], float(np.min(xs))) / 1.4, x_end)
    _dollar_ticks(ax, budgets)
    ax.set_xlabel(
        ("dollars spent" if xcol == "spent" else "budget")
        + " ($, log scale; methods offset slightly)"
    )
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.set_title(_panel_title(key, sub), fontsize=9)


def _regime_panel(ax: Axes, key: tuple, sub: pd.DataFrame) -> None:
    method = regime_method(sub)
    if method is None:
        _empty(ax, "no trained method to draw")
        return
    points = aggregate_points(sub, by=("method", "budget", "gold_frac"))
    budgets = np.sort(points["budget"].astype(float).unique())
    cmap = matplotlib.colormaps["viridis"]
    borrowed = False
    for j, b in enumerate(budgets):
        at_b = points[points["budget"].astype(float) == b]
        line = at_b[at_b["method"] == method]
        ends = []
        for end_method, end_w in (("gold_only", 0.0), ("weak_only", 1.0)):
            have = np.isclose(line["weak_share_spent"].astype(float), end_w, atol=1e-9).any()
            extra = at_b[at_b["method"] == end_method]
            if not have and not extra.empty and method != end_method:
                ends.append(extra)
        borrowed |= bool(ends)
        line = pd.concat([line, *ends]).dropna(subset=["weak_share_spent"])
        if line.empty:
            continue
        line = line.sort_values("weak_share_spent")
        colour = cmap(j / max(len(budgets) - 1, 1) * 0.9)
        ax.errorbar(
            line["weak_share_spent"].astype(float),
            line["accuracy"].astype(float),
            yerr=line["accuracy_sd"].astype(float).fillna(0.0),
            color=colour,
            marker="o",
            ms=4,
            lw=1.4,
            capsize=2.5,
            label=_money(b),
        )
    ax.set_xlim(-0.04, 1.04)
    ax.set_xlabel("share of spent budget on weak labels (0 = all gold, 1 = all weak)")
    ax.set_ylabel("accuracy (mean over seeds, ± 1 sd)")
    ax.grid(alpha=0.3)
    ax.legend(
        title="budget",
        fontsize=7,
        title_fontsize=8,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        ncol=1 + len(budgets) // 13,
    )
    note = " · ends from weak_only/gold_only" if borrowed else ""
    ax.set_title(f"{_panel_title(key, sub)}\nmethod: {_plain(method)}{note}", fontsize=9)


def _panel_title(key: tuple, sub: pd.DataFrame) -> str:
    task, weak_cost = key
    gold = _describe(sub, "gold_cost", money=True)
    return (
        f"{_plain(task)} · weak {_money(weak_cost)}/label, gold {gold}/label\n"
        f"model: {_describe(sub, 'model')} · trainer: {_describe(sub, 'trainer')} · "
        f"threshold: {_describe(sub, 'accuracy_threshold')}"
    )


def _panels(runs: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    if runs.empty:
        return []
    keys = [k for k in PANEL_KEYS if k in runs.columns]
    out = []
    for key, sub in runs.groupby(keys, dropna=False, sort=True):
        key = tuple(key) if isinstance(key, tuple) else (key,)
        key = key + ("?",) * (len(PANEL_KEYS) - len(key))
        out.append((key, sub))
    return out


def _grid(n: int, width: float = 6.0, height: float = 4.4) -> tuple[Figure, list[Axes]]:
    ncols = 1 if n <= 1 else 2
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(width * ncols + 1.4, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axs = fig.subplots(nrows, ncols, squeeze=False)
    axes = list(axs.ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    if n == 0:
        axes[0].set_visible(True)
        _empty(axes[0], "no successful runs to plot")
    return fig, axes[:n] if n else []


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _dollar_ticks(ax: Axes, budgets: Sequence[float]) -> None:
    ticks = list(budgets)
    if len(ticks) > 9:
        ticks = ticks[:: math.ceil(len(ticks) / 9)]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _money(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _money(v: float | str) -> str:
    """Dollars for figure text; the sign is escaped so that two of them do not start mathtext."""
    try:
        return rf"\${float(v):g}"
    except (TypeError, ValueError):
        return _plain(v)


def _plain(v: object) -> str:
    return str(v).replace("$", r"\$")


def _describe(df: pd.DataFrame, col: str, money: bool = False) -> str:
    """The distinct values of a column, joined, for titles ('not recorded' when absent)."""
    if col not in df.columns or df[col].dropna().empty:
        return "not recorded"
    if money:
        vals = [_money(v) for v in sorted(df[col].dropna().astype(float).unique())]
    else:
        # long descriptions (a threshold's full rule) keep their head: "prior-matched: ..."
        vals = sorted({_plain(v).split(":")[0].split(" (")[0] for v in df[col].dropna().unique()})
    return ", ".join(vals) if len(vals) <= 3 else f"{', '.join(vals[:3])} (+{len(vals) - 3})"


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    write_readable(out, buf.getvalue())
    return out


def write_readable(path: Path, data: bytes) -> None:
    """Atomic write, then the usual 0644 mode: the temp file behind an atomic write is private
    (0600), and reports are meant to be shared."""
    atomic_write_bytes(path, data)
    path.chmod(0o644)
