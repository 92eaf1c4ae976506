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
    verdict_over_seeds,
)
from labelmix.errors import ConfigError
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


def _gold_as_weak(path: Path, seeds: tuple[int, ...] = (0,)) -> Path:
    """A file of weak labels equal to the gold labels: a perfect weak side, so "no" headroom."""
    rows = {}
    for seed in seeds:
        splits = load_splits(get_task("cities"), None, SIZES, seed)
        rows |= {e.text: {"text": e.text, "weak_label": e.label} for e in splits.pool + splits.test}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows.values()))
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


def _check(seed: int, weak: float, weak_ci: float, head: float, head_ci: float) -> dict:
    """One seed's check as `SignalReport.to_dict()` has it (only what the pooling reads)."""
    side = {
        "labeler": "finetune",
        "test_accuracy": weak,
        "test_ci": [weak - weak_ci, weak + weak_ci],
        "headroom": head,
        "headroom_ci": [head - head_ci, head + head_ci],
        "verdict": decide((weak - weak_ci, weak + weak_ci), (head - head_ci, head + head_ci)),
    }
    sizes = {"weak_train": 600, "pool": 2500, "select": 500, "test": 500}
    return {"task": "t", "strong_model": "m", "split_sizes": sizes, "seed": seed, "weak": [side]}


def test_the_verdict_over_seeds_uses_a_t_interval_over_seeds() -> None:
    checks = [_check(0, 0.70, 0.01, 0.10, 0.01), _check(1, 0.72, 0.01, 0.13, 0.01),
              _check(2, 0.74, 0.01, 0.16, 0.01)]  # fmt: skip
    (v,) = verdict_over_seeds(checks)
    # sd over seeds 0.02 (weak) and 0.03 (headroom); t(0.975, 2) = 4.303; n = 3
    assert v.weak_accuracy == pytest.approx(0.72)
    assert v.weak_ci == pytest.approx((0.72 - 4.303 * 0.02 / 3**0.5, 0.72 + 4.303 * 0.02 / 3**0.5))
    assert v.headroom_ci[0] == pytest.approx(0.13 - 4.303 * 0.03 / 3**0.5)  # 0.0555: above 0.05
    assert v.verdict == "yes" and v.seeds == (0, 1, 2)
    assert v.seed_verdicts == ("yes", "yes", "yes")


def test_seeds_that_agree_cannot_narrow_it_below_the_test_examples() -> None:
    # Equal values on every seed (sd 0): the per-seed bootstrap intervals, combined, still count.
    (v,) = verdict_over_seeds([_check(s, 0.70, 0.04, 0.06, 0.04) for s in range(4)])
    half = 1.95996 * ((4 * (0.04 / 1.95996) ** 2) ** 0.5) / 4  # = 0.02
    assert v.headroom_ci == pytest.approx((0.06 - half, 0.06 + half))
    assert v.verdict == "undecided"  # 0.04 < 0.05 <= 0.08; each seed alone also undecided


def test_the_verdict_over_seeds_refuses_checks_that_do_not_pool() -> None:
    with pytest.raises(ConfigError, match="at least two seeds"):
        verdict_over_seeds([_check(0, 0.7, 0.01, 0.1, 0.01)])
    with pytest.raises(ConfigError, match="repeat"):
        verdict_over_seeds([_check(0, 0.7, 0.01, 0.1, 0.01)] * 2)
    other = _check(1, 0.7, 0.01, 0.1, 0.01) | {"task": "u"}
    with pytest.raises(ConfigError, match="differ in task"):
        verdict_over_seeds([_check(0, 0.7, 0.01, 0.1, 0.01), other])


def test_signal_command_over_seeds_and_from_a_sweep_config(
    tmp_path: Path, tiny_bert: Path, tiny_llama: Path
) -> None:
    perfect = _gold_as_weak(tmp_path / "gold.jsonl", seeds=(0, 1))
    config = tmp_path / "study.toml"
    config.write_text(
        f'tasks = ["cities"]\nmethods = ["gold_only"]\nbudgets = [8]\ngold_fracs = [1.0]\n'
        f'weak_costs = [0.1]\nseeds = [0, 1]\nmodel = "{tiny_llama}"\n'
        f'weak_labeler = "column:{perfect}"\n'
        "[split_sizes]\nweak_train = 40\npool = 60\ntest = 40\nselect = 20\n"
    )
    out = tmp_path / "s.json"
    code, text, err = lm("signal", "cities", "--config", str(config), "--gold-counts", "8",
                         "--json", str(out))  # fmt: skip
    assert code == 0, err
    assert "seed 0;" in text and "seed 1;" in text  # the config's seeds, one check each
    assert "pool 60, select 20 (unused), test 40" in text  # the config's sizes
    assert "over seeds 0, 1" in text and "verdict over seeds: no" in text
    saved = json.loads(out.read_text())
    assert [c["seed"] for c in saved["checks"]] == [0, 1]
    assert saved["over_seeds"][0]["verdict"] == "no"  # perfect weak labels: no headroom
    code, _, err = lm("signal", "cities", "--config", str(config), "--pool", "60")
    assert code == 2 and "--pool and --config both set split sizes" in err
    code, _, err = lm("signal", "cities", "--seed", "0", "--seeds", "0,1")
    assert code == 2 and "give --seed or --seeds" in err
    code, _, err = lm("signal", "cities", "--seeds", "0,x")
    assert code == 2 and "--seeds '0,x'" in err
