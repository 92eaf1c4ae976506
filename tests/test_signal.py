"""The signal check: the verdict rule, and the whole check on tiny models (weak side, strong
side up to the whole pool, verdict) through the library and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import lm

from labelmix.analysis.signal import (
    MIN_HEADROOM,
    MIN_WEAK_ACCURACY,
    decide,
    overall_verdict,
    signal_check,
)
from labelmix.tasks import get_task, load_splits
from labelmix.tasks.splits import SplitSizes

SIZES = SplitSizes(weak_train=40, pool=60, test=40, select=20)


@pytest.mark.parametrize(
    ("weak_ci", "headroom_ci", "verdict"),
    [
        ((0.70, 0.75), (0.06, 0.12), "yes"),
        ((MIN_WEAK_ACCURACY, 0.70), (MIN_HEADROOM, 0.10), "yes"),  # the bars are inclusive
        ((0.50, 0.60), (0.10, 0.20), "no"),  # weak labels carry too little
        ((0.80, 0.85), (-0.02, 0.04), "no"),  # gold does not beat weak by enough
        ((0.58, 0.66), (0.08, 0.12), "undecided"),  # weak interval straddles 0.62
        ((0.70, 0.75), (0.02, 0.08), "undecided"),  # headroom interval straddles 0.05
    ],
)
def test_the_verdict_rule(
    weak_ci: tuple[float, float], headroom_ci: tuple[float, float], verdict: str
) -> None:
    assert decide(weak_ci, headroom_ci) == verdict


def test_the_task_verdict_combines_the_labelers() -> None:
    assert overall_verdict(["no", "yes"]) == "yes"
    assert overall_verdict(["no", "no"]) == "no"
    assert overall_verdict(["no", "undecided"]) == "undecided"


def _gold_as_weak(path: Path) -> Path:
    """A file of weak labels equal to the gold labels: a perfect weak side, so "no" headroom."""
    splits = load_splits(get_task("cities"), None, SIZES, 0)
    rows = [{"text": e.text, "weak_label": e.label} for e in splits.pool + splits.test]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_signal_check_on_tiny_models(tmp_path: Path, tiny_bert: Path, tiny_llama: Path) -> None:
    perfect = _gold_as_weak(tmp_path / "gold.jsonl")
    report = signal_check(
        "cities",
        labelers=["probe", f"column:{perfect}"],
        weak_models={"probe": str(tiny_bert)},
        strong_model=str(tiny_llama),
        gold_counts=(4, 16, 1000),
        sizes=SIZES,
    )
    assert [g.n_gold for g in report.gold] == [4, 16, 60]  # 1000 > pool: the pool is the last
    assert report.ceiling.n_gold == 60
    probe, column = report.weak
    assert probe.model == str(tiny_bert) and column.model is None
    assert column.pool_accuracy == 1.0 and column.verdict == "no"
    assert column.headroom == pytest.approx(report.ceiling.test_accuracy - 1.0)
    lo, hi = probe.pool_ci
    assert lo <= probe.pool_accuracy <= hi
    assert report.verdict == overall_verdict([probe.verdict, column.verdict])
    text = report.to_text()
    assert "<- ceiling (whole pool)" in text and "verdict:" in text
    assert json.loads(json.dumps(report.to_dict()))["task"] == "cities"


def test_signal_command(tmp_path: Path, tiny_bert: Path, tiny_llama: Path) -> None:
    perfect = _gold_as_weak(tmp_path / "gold.jsonl")
    args = ["signal", "cities", "--labelers", f"column:{perfect}", "--model", str(tiny_llama),
            "--gold-counts", "8", "--weak-train", "40", "--pool", "60", "--test", "40",
            "--select", "20", "--json", str(tmp_path / "s.json")]  # fmt: skip
    code, out, err = lm(*args)
    assert code == 0, err
    assert "verdict: no" in out and "your weak labels" in out
    assert json.loads((tmp_path / "s.json").read_text())["verdict"] == "no"
    code, _, err = lm("signal", "cities", "--gold-counts", "8,x")
    assert code == 2 and err.startswith("error: --gold-counts")
    code, _, err = lm("signal", "cities", "--labelers", "bogus")
    assert code == 2 and "unknown weak labeler 'bogus'" in err
