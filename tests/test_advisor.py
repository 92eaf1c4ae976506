"""The budget advisor (`labelmix advise`): the model on synthetic stores with a known best
allocation, the pilot's accounting (charged once, its labels kept in the plan and in the run
that follows it), refusals, and the command on `cities` and on a `file:` task with tiny models.
The runs that reuse a pilot are tested in test_pilot_reuse.py."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from advisor_helpers import hand_prior, load_bench, synthetic_pool, synthetic_runs

from labelmix.analysis.advisor import (
    CONFIDENCE_BIAS,
    DEFAULT_PRIOR_DICT,
    MIN_PILOT,
    MIN_WEAK_PILOT,
    TOLERANCE,
    Advice,
    AdvisorPrior,
    CurveCheck,
    PoolPilot,
    check_request,
    default_prior,
    expected,
    fit_prior,
    gold_curve,
    labels_phrase,
    load_stores,
    make_plans,
    plan_advice,
    plan_means,
    posterior,
    predict_accuracy,
    ridge_cv,
    trained_runs,
    trained_weak,
    weak_equivalent,
)
from labelmix.config import RunConfig
from labelmix.errors import BudgetError, ConfigError, DataError
from labelmix.labels.budget import Ledger, Prices, allocate

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("weak_only", "gold_only", "seq_sft", "seq_sft_logconf")
FRACS = (0.05, 0.2, 0.4, 0.6, 0.8)


# ---------------------------------------------------------------- synthetic stores and pilots


STORE_TASKS = {
    "easy_weak": (0.85, 100.0, 0.78),
    "chance_weak": (0.64, 300.0, 0.52),
    "middle": (0.72, 150.0, 0.62),
}


@pytest.fixture(scope="module")
def prior() -> AdvisorPrior:
    return fit_prior(synthetic_runs(STORE_TASKS), source="synthetic")


class SyntheticPilot:
    """Pilot items of a task whose weak labels are right with probability q; every purchase is
    charged to `ledger` at the given prices."""

    def __init__(self, q: float, ledger: Ledger, weak_cost: float, gold_cost: float = 1.0):
        self.q, self.ledger = q, ledger
        self.prices = (weak_cost, gold_cost)
        self.rng = np.random.default_rng(1)
        self.n = 0

    def buy(self, n: int) -> tuple[np.ndarray, np.ndarray, None]:
        ids = [f"item{self.n + i}" for i in range(n)]
        self.ledger.charge("gold", ids, self.prices[1], "pilot")
        self.ledger.charge("weak", ids, self.prices[0], "pilot")
        self.n += n
        gold = self.rng.integers(0, 2, n).astype(float)
        right = self.rng.random(n) < self.q
        return gold, np.where(right, gold, 1.0 - gold), None

    def buy_weak(self, n: int) -> np.ndarray:
        """Weak labels alone: hard ones (p 0 or 1, no stated confidence), unless `confidence`
        is set: then p is that far from 0.5 (every label equally sure)."""
        ids = [f"item{self.n + i}" for i in range(n)]
        self.ledger.charge("weak", ids, self.prices[0], "pilot")
        self.n += n
        self.bought_weak = [*getattr(self, "bought_weak", []), *ids]
        sure = getattr(self, "confidence", 1.0)
        side = self.rng.integers(0, 2, n).astype(float)
        return np.where(side == 1.0, sure, 1.0 - sure)


def true_best(a: float, s: float, q: float, budget: float, c: float, n_pilot: int) -> float:
    plans = make_plans(budget, c, 1.0, n_pilot, METHODS, FRACS)
    return max(predict_accuracy(p.n_weak_trained, p.n_gold, q, a, s, 0.0) for p in plans)


# ---------------------------------------------------------------- the model


def test_a_weak_label_is_worth_less_as_the_weak_stage_nears_its_ceiling() -> None:
    a, s, q = 0.85, 100.0, 0.75
    small, large = weak_equivalent(1.0, q, a, s), weak_equivalent(10_000.0, q, a, s) / 10_000
    assert small == pytest.approx((q - 0.5) / (a - 0.5), rel=0.05)  # lambda far from the ceiling
    assert large < 0.2 * small
    # the weak stage reaches the gold curve at the weak labels' own accuracy, never beyond
    assert gold_curve(weak_equivalent(1e9, q, a, s), a, s) == pytest.approx(q, abs=1e-3)
    assert weak_equivalent(500.0, 0.5, a, s) == 0.0  # chance-level weak labels teach nothing


def test_fit_prior_recovers_the_curves_of_synthetic_stores(prior: AdvisorPrior) -> None:
    fits = {t.task: t for t in prior.tasks}
    for task, (a, s, q) in STORE_TASKS.items():
        assert fits[task].ceiling == pytest.approx(a, abs=0.02), task
        assert fits[task].weak_ceiling == pytest.approx(q, abs=0.03), task
        assert 0.6 < fits[task].speed / s < 1.6, task
    assert prior.gamma == 0.0
    assert prior.sigma < 0.02
    assert set(prior.methods) == set(METHODS)
    assert prior.gold_fracs == FRACS
    assert AdvisorPrior.from_dict(json.loads(json.dumps(prior.to_dict()))) == prior


@pytest.mark.parametrize(
    "task, budget, weak_cost",
    [
        ((0.85, 100.0, 0.80), 64.0, 0.1),  # good weak labels, small budget: quantity
        ((0.85, 100.0, 0.80), 4096.0, 0.1),  # good weak labels, large budget: quality
        ((0.62, 300.0, 0.51), 1024.0, 0.01),  # chance weak labels: gold, however cheap weak
        ((0.72, 150.0, 0.62), 256.0, 0.5),
    ],
)
def test_the_advice_is_the_known_best_allocation(
    prior: AdvisorPrior, task: tuple[float, float, float], budget: float, weak_cost: float
) -> None:
    a, s, q = task
    ledger = Ledger(budget)
    advice = plan_advice(
        prior, SyntheticPilot(q, ledger, weak_cost), budget=budget, weak_cost=weak_cost,
        pool_size=10_000, pilot_frac=0.1,
    )  # fmt: skip
    trained = trained_weak(advice.method, min(advice.n_weak, 10_000 - advice.n_gold))
    got = predict_accuracy(trained, advice.n_gold, q, a, s, 0.0)
    best = true_best(a, s, q, budget, weak_cost, advice.pilot.n_items)
    assert got >= best - 0.01, advice.reason
    # and it is not the best only by luck: the worst plan is far below
    plans = make_plans(budget, weak_cost, 1.0, advice.pilot.n_items, METHODS, FRACS)
    worst = min(predict_accuracy(p.n_weak_trained, p.n_gold, q, a, s, 0.0) for p in plans)
    assert best - worst > 0.03
    lo, hi = advice.interval
    assert lo <= advice.predicted_accuracy <= hi
    assert lo - 0.02 <= got <= hi + 0.02


def test_the_pilot_moves_q_toward_the_truth(prior: AdvisorPrior) -> None:
    flat = posterior(prior, 0, 0).q_summary()
    assert flat[0] == pytest.approx(0.75, abs=0.01)  # uniform on [0.5, 1)
    good = posterior(prior, 40, 34).q_summary()
    bad = posterior(prior, 40, 21).q_summary()
    assert good[1] > 0.7 and bad[2] < 0.67
    # a learning-curve check far above what the curves expect shifts the gold curve up
    plain = posterior(prior, 40, 30)
    fast = posterior(prior, 40, 30, CurveCheck(n_train=32, n_correct=36, n_scored=40))
    at_32 = [float((p.weights * gold_curve(32, p.ceiling, p.speed)).sum()) for p in (plain, fast)]
    assert at_32[1] > at_32[0] + 0.02


def test_ridge_cv_learns_a_separable_task_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60).astype(float)
    x = rng.normal(size=(60, 20))
    x[:, 0] += 3.0 * (2 * y - 1)
    assert ridge_cv(x, y).accuracy > 0.8
    assert ridge_cv(rng.normal(size=(60, 20)), y).accuracy < 0.75
    assert ridge_cv(x, y).n_train == pytest.approx(48.0)


# ---------------------------------------------------------------- the pilot's accounting


_pool = synthetic_pool


@pytest.mark.parametrize("budget, weak_cost", [(256.0, 0.1), (1024.0, 0.5), (128.0, 0.01)])
def test_the_pilot_is_charged_once_and_its_labels_are_kept(
    prior: AdvisorPrior, budget: float, weak_cost: float
) -> None:
    ids, oracle, weak = _pool(3000, 0.6)
    ledger = Ledger(budget)
    source = PoolPilot(ids, oracle, weak.priced(weak_cost), ledger)
    advice = plan_advice(
        prior, source, budget=budget, weak_cost=weak_cost, pool_size=len(ids), pilot_frac=0.1,
        task="cities",
    )  # fmt: skip
    k = advice.pilot.n_items
    assert k > 0
    # charged once: the ledger holds exactly the pilot, at most pilot_frac of the budget
    assert ledger.spent == pytest.approx(k * (1.0 + weak_cost))
    assert advice.pilot_cost == pytest.approx(ledger.spent)
    assert advice.pilot_cost <= 0.1 * budget + 1e-9
    assert len(source.bought) == len(set(source.bought)) == k
    summary = ledger.summary()
    assert summary["n_gold"] == summary["n_weak"] == k
    # the advice names the pilot's items, so that their labels can be reused
    assert list(advice.pilot_ids) == source.bought
    for kind in ("gold", "weak"):
        charged = [p.example_id for p in ledger.purchases if p.source == kind]
        assert charged == source.bought
    assert all(p.purpose == "pilot" for p in ledger.purchases)
    # kept: the plan's labels include the pilot's, and the whole plan (pilot counted once)
    # fits the budget
    assert advice.n_gold >= k and advice.n_weak >= k
    assert advice.n_gold * 1.0 + advice.n_weak * weak_cost <= budget + 1e-9
    # reused: the run that follows the advice trains on the pilot's items and buys the plan's
    # labels (the pool of 3,000 items caps both alike); all gold trains on the pilot's gold
    # labels only, its weak ones bought to measure q
    cfg = advice.run_config()
    assert cfg.pilot == tuple(source.bought) and cfg.method == advice.method
    labels = cfg.allocation_with_pilot()
    assert labels.n_gold == advice.n_gold
    if advice.method == "gold_only":
        assert advice.n_weak == k == labels.n_weak and f"the pilot's {k} included" in advice.reason
        assert f"not the {k} weak labels the pilot bought" in advice.reason
    else:
        assert min(labels.n_weak, len(ids) - labels.n_gold + k) == advice.n_weak
        assert f"the pilot's {k} of each included" in advice.reason


def test_the_learning_curve_check_uses_the_pilots_features(prior: AdvisorPrior) -> None:
    ids, oracle, weak = _pool(600, 0.7)
    y = np.array([oracle._labels[i] for i in ids], dtype=float)
    x = np.random.default_rng(0).normal(size=(600, 16))
    x[:, 0] += 2.5 * (2 * y - 1)  # a task the strong model learns fast
    row = {i: k for k, i in enumerate(ids)}
    ledger = Ledger(1024.0)
    source = PoolPilot(
        ids, oracle, weak.priced(0.1), ledger, features=lambda b: x[[row[i] for i in b]]
    )
    advice = plan_advice(prior, source, budget=1024.0, weak_cost=0.1, pool_size=600, fixed_pilot=40)
    assert advice.pilot.n_items == 40 and ledger.spent == pytest.approx(44.0)
    assert advice.pilot.cv_accuracy > 0.85 > advice.pilot.cv_expected
    assert advice.pilot.cv_train == pytest.approx(32.0)
    assert "faster than the stores' average task" in advice.reason


def test_plans_keep_the_pilot_and_fit_the_budget() -> None:
    free = make_plans(256.0, 0.1, 1.0, 0, METHODS, FRACS)
    assert {p.method for p in free if p.gold_frac in (0.0, 1.0)} == {"weak_only", "gold_only"}
    plans = make_plans(256.0, 0.1, 1.0, 20, METHODS, FRACS)
    assert plans
    for p in plans:
        assert p.method != "weak_only"  # it has no gold stage for the pilot's gold labels
        assert p.n_gold >= 20 and p.n_weak >= 20
        assert p.cost(0.1, 1.0) <= 256.0 + 1e-9
    # a plan whose grid gold share is below the pilot's gets the pilot's gold labels
    assert min(p.n_gold for p in plans) == 20
    # all gold is gold_only on what the pilot's weak labels leave ($2), trained on no weak label
    (top,) = [p for p in plans if p.gold_frac == 1.0]
    assert (top.method, top.n_gold, top.n_weak, top.n_weak_trained) == ("gold_only", 254, 20, 0)
    # where gold_only is not offered, the mixed methods keep the pilot's weak labels as a stage
    mixed = make_plans(256.0, 0.1, 1.0, 20, ("seq_sft",), FRACS)
    (top,) = [p for p in mixed if p.gold_frac == 1.0]
    assert (top.method, top.n_gold, top.n_weak_trained) == ("seq_sft", 254, 20)


def test_no_pilot_when_the_budget_cannot_pay_for_one_round(prior: AdvisorPrior) -> None:
    ledger = Ledger(16.0)
    advice = plan_advice(
        prior, SyntheticPilot(0.8, ledger, 0.1), budget=16.0, weak_cost=0.1, pilot_frac=0.05
    )
    assert advice.pilot.n_items == 0 and ledger.spent == 0 and advice.pilot_ids == ()
    assert "No pilot was bought: 5% of $16 does not buy one pilot item" in advice.reason
    assert advice.pilot.stopped.startswith("no pilot: 5% of $16")
    assert advice.n_weak * 0.1 + advice.n_gold <= 16.0


def test_no_pilot_smaller_than_one_round() -> None:
    """At $64 and weak $0.50 a 5% cap buys 2 items: too few to measure q, so none; a 20% cap
    buys a pilot of at least a round."""
    ledger = Ledger(64.0)
    small = plan_advice(
        hand_prior(), SyntheticPilot(0.8, ledger, 0.5), budget=64.0, weak_cost=0.5,
        pilot_frac=0.05,
    )  # fmt: skip
    assert small.pilot.n_items == 0 and small.pilot.cap_items == 0
    assert "buys 2 pilot items" in small.pilot.stopped
    assert f"fewer than the {MIN_PILOT} a pilot needs" in small.reason
    assert small.n_weak * 0.5 + small.n_gold <= 64.0
    # ... but 5% buys 6 weak labels alone (the weak pilot): hard ones here, whose confidence
    # says nothing, so they are only kept
    assert small.pilot.n_weak_items == 6 and ledger.spent == 3.0 == small.pilot.cost
    assert math.isnan(small.pilot.weak_confidence) and "hard labels" in small.reason
    assert small.n_weak >= 6 and len(small.weak_pilot_ids) == 6
    ledger = Ledger(64.0)
    larger = plan_advice(
        hand_prior(), SyntheticPilot(0.8, ledger, 0.5), budget=64.0, weak_cost=0.5,
        pilot_frac=0.2,
    )  # fmt: skip
    assert larger.pilot.n_items >= MIN_PILOT
    assert ledger.spent == pytest.approx(1.5 * larger.pilot.n_items)


@pytest.mark.parametrize("confidence, weak_heavy", [(0.93, True), (0.56, False)])
def test_the_weak_pilot_reads_the_labelers_confidence(confidence: float, weak_heavy: bool) -> None:
    """Where no pilot of gold labels is bought ($64, weak $0.50: 5% buys 2 items), 6 weak labels
    alone are: a labeler that says 0.93 (about 0.9 right, after the stores' overstatement) makes
    weak labels the plan, one that says 0.56 (near chance) gold labels, with the 6 weak ones kept
    as a weak stage. Charged once, kept in the plan, named for the run."""
    ledger = Ledger(64.0)
    source = SyntheticPilot(0.8, ledger, 0.5)
    source.confidence = confidence  # type: ignore[attr-defined]
    a = plan_advice(hand_prior(), source, budget=64.0, weak_cost=0.5, task="cities")
    assert a.pilot.n_items == 0 and a.pilot.n_weak_items == 6
    assert ledger.spent == pytest.approx(3.0) == pytest.approx(a.pilot.cost)
    assert a.pilot.weak_confidence == pytest.approx(confidence)
    q = a.weak_accuracy[0]
    assert q == pytest.approx(confidence - CONFIDENCE_BIAS, abs=0.06)
    assert a.n_weak >= 6 and a.n_weak * 0.5 + a.n_gold <= 64.0 + 1e-9
    if weak_heavy:
        assert a.method == "weak_only" and a.n_weak == 128
    else:
        # all gold: the 6 weak labels are kept (charged) but not trained on
        assert (a.method, a.n_gold, a.n_weak) == ("gold_only", 61, 6)
        assert "not the 6 weak labels the weak pilot bought" in a.reason
    assert f"mean confidence, {confidence:.2f}, read" in a.reason
    cfg = a.run_config()
    assert cfg.weak_pilot == a.weak_pilot_ids == tuple(source.bought_weak) and not cfg.pilot
    labels = cfg.allocation_with_pilot()
    assert (labels.n_weak, labels.n_gold) == (a.n_weak, a.n_gold)


def test_an_all_gold_plan_buys_what_its_run_buys() -> None:
    """$256 at weak $0.10 after a pilot of 23: gold_only buys 253 gold labels and the pilot's 23
    weak ones, and no more weak labels with the $0.70 left (it has no weak stage), as its run."""
    plans = make_plans(256.0, 0.1, 1.0, 23, METHODS, FRACS)
    (top,) = [p for p in plans if p.method == "gold_only"]
    assert (top.n_weak, top.n_gold, top.n_weak_trained) == (23, 253, 0)
    cfg = RunConfig(method="gold_only", gold_frac=None, budget=256.0, weak_cost=0.1,
                    pilot=[f"i{k}" for k in range(23)])  # fmt: skip
    labels = cfg.allocation_with_pilot()
    assert (labels.n_weak, labels.n_gold) == (top.n_weak, top.n_gold) == (23, 253)
    assert cfg.labels_used() == (0, 253)
    # a budget that leaves no gold label after the weak pilot offers no gold_only plan
    tiny = make_plans(1.05, 0.1, 1.0, 0, METHODS, FRACS, n_weak_pilot=5)
    assert tiny and all(p.n_gold > 0 for p in tiny if p.method == "gold_only")
    assert not [p for p in tiny if p.method == "gold_only"]
    # a plan's labels in words say which are not trained on
    assert (
        labels_phrase("gold_only", 23, 253)
        == "253 gold labels (23 weak labels bought, not trained on)"
    )
    assert labels_phrase("seq_sft", 23, 253) == "23 weak + 253 gold labels"
    assert labels_phrase("gold_only", 0, 64) == "0 weak + 64 gold labels"


def test_the_prior_counts_no_weak_label_for_gold_only() -> None:
    """A stored gold_only run that followed an advice bought its pilot's weak labels but trained
    on none: the prior is fitted with n_weak 0 for it."""
    df = pd.DataFrame([
        dict(status="ok", task="t", method=m, weak_cost=0.1, budget=64.0, gold_frac=g, seed=0,
             n_weak=nw, n_gold=ng, accuracy=0.7)
        for m, g, nw, ng in (("gold_only", 1.0, 8, 63), ("seq_sft", 0.5, 320, 32))
    ])  # fmt: skip
    runs = trained_runs(df)
    assert dict(zip(runs["method"], runs["n_weak"], strict=True)) == {
        "gold_only": 0,
        "seq_sft": 320,
    }


def test_plans_keep_the_weak_pilot_when_the_pool_caps_them() -> None:
    """A pool of 20 items after a weak pilot of 6: gold labels for the other 14 at most, and
    every plan keeps the 6 weak labels (all gold buys them and trains on none)."""
    plans = make_plans(64.0, 0.5, 1.0, 0, METHODS, FRACS, pool_size=20, n_weak_pilot=6)
    assert plans and all(p.n_weak >= 6 for p in plans)
    assert max(p.n_gold for p in plans) == 14
    (top,) = [p for p in plans if p.method == "gold_only"]
    assert (top.n_gold, top.n_weak, top.n_weak_trained) == (14, 6, 0)


def test_no_weak_pilot_of_fewer_than_its_minimum() -> None:
    """$16 at weak $0.50: 5% buys one weak label, below MIN_WEAK_PILOT: nothing is bought."""
    ledger = Ledger(16.0)
    a = plan_advice(hand_prior(), SyntheticPilot(0.8, ledger, 0.5), budget=16.0, weak_cost=0.5)
    assert a.pilot.n_items == 0 and a.pilot.n_weak_items == 0 and ledger.spent == 0
    assert MIN_WEAK_PILOT > 1


def test_no_pilot_where_no_result_could_change_the_advice(prior: AdvisorPrior) -> None:
    """$512 buys gold labels for the whole pool of 400: every q gives the same best plan, so a
    pilot would only add a weak stage of a few labels; none is bought."""
    post = posterior(prior, 0, 0)
    plans = make_plans(512.0, 0.1, 1.0, 0, prior.methods, prior.gold_fracs, 400)
    assert expected(post, plan_means(prior, post, plans))[1] < TOLERANCE
    ledger = Ledger(512.0)
    advice = plan_advice(
        prior, SyntheticPilot(0.8, ledger, 0.1), budget=512.0, weak_cost=0.1, pool_size=400
    )
    assert advice.pilot.n_items == 0 and ledger.spent == 0
    assert advice.pilot.cap_items > 0 and advice.pilot.stopped.startswith("expected loss")
    assert "no pilot result could change the advice" in advice.reason
    assert advice.n_gold == 400


@pytest.mark.parametrize(
    "kwargs, why",
    [
        (dict(pilot_frac=0.0), "--pilot-frac is 0"),
        (dict(methods=("weak_only", "gold_only")), "neither trains on both its labels"),
    ],
)
def test_no_pilot_where_none_is_allowed_or_could_be_kept(
    prior: AdvisorPrior, kwargs: dict, why: str
) -> None:
    ledger = Ledger(1024.0)
    advice = plan_advice(
        prior, SyntheticPilot(0.8, ledger, 0.1), budget=1024.0, weak_cost=0.1, **kwargs
    )
    assert advice.pilot.n_items == 0 and ledger.spent == 0
    assert why in advice.pilot.stopped and why in advice.reason
    assert advice.n_weak * 0.1 + advice.n_gold <= 1024.0


def test_a_mixed_plan_without_gold_labels_is_called_weak_only() -> None:
    # $2 at 5-20% gold buys no gold label: that run is weak_only, not a "sequential" run
    plans = make_plans(2.0, 0.1, 1.0, 0, METHODS, FRACS)
    assert {p.method for p in plans if p.n_gold == 0} == {"weak_only"}
    assert {p.method for p in plans if p.n_weak == 0} == {"gold_only"}
    # where weak_only is not offered, the mixed plan stays
    plans = make_plans(2.0, 0.1, 1.0, 0, ("seq_sft",), FRACS)
    assert plans and all(p.method == "seq_sft" for p in plans)


def test_a_plan_capped_by_the_pool_states_its_real_gold_share() -> None:
    plans = make_plans(4096.0, 0.1, 1.0, 0, METHODS, FRACS, pool_size=1000)
    for p in plans:
        assert p.n_gold <= 1000
        assert p.gold_share == pytest.approx(p.n_gold / 4096.0)


# ---------------------------------------------------------------- refusals and the default


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(budget=-1.0), ConfigError),
        (dict(budget=float("nan")), ConfigError),
        (dict(weak_cost=0.0), ConfigError),
        (dict(pilot_frac=0.9), ConfigError),
        (dict(pilot_frac=-0.1), ConfigError),
        (dict(pilot_frac=float("nan")), ConfigError),
        (dict(weak_cost=1.0), ConfigError),  # weak at the gold price never pays
        (dict(weak_cost=2.0), ConfigError),
        (dict(budget=0.05, weak_cost=0.1), BudgetError),
    ],
)
def test_requests_that_cannot_be_advised_are_refused(kwargs: dict, error: type) -> None:
    args = dict(budget=64.0, weak_cost=0.1, gold_cost=1.0, pilot_frac=0.1) | kwargs
    with pytest.raises(error) as e:
        check_request(**args)
    assert "\n" not in str(e.value)  # the CLI prints it as one line


def test_a_store_without_usable_runs_is_refused() -> None:
    runs = synthetic_runs({"t": (0.8, 100.0, 0.7)})
    with pytest.raises(DataError, match="no store task has 6 or more"):
        fit_prior(runs.assign(status="failed"))
    with pytest.raises(DataError, match="lacks column"):
        fit_prior(runs.drop(columns=["n_weak"]))


def test_a_folder_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a sweep store"):
        load_stores([tmp_path])
    assert not (tmp_path / "runs").exists()  # nothing created


def test_the_built_in_prior_is_the_study_stores() -> None:
    p = default_prior()
    names = {t.task for t in p.tasks}
    assert len(names) == 18 and {"cola", "hellaswag", "social_i_qa", "sst2"} <= names
    assert "cities [finetune, weak_train 600]" in names
    assert (
        "file:sarcasm_headlines.jsonl [finetune]" in names
    )  # by its file, not this machine's path
    assert p.model == DEFAULT_PRIOR_DICT["model"] == "smollm2"
    assert 0.0 < p.sigma < 0.05


def test_the_built_in_prior_matches_the_committed_store() -> None:
    names = ("paper_regimes", "signal_study", "signal_study_600")
    names += ("signal_study_seeds5to9", "signal_study_600_seeds5to9")  # seeds 5-9 of the two
    stores = [ROOT / "results" / s for s in names]
    missing = [str(s) for s in stores if not (s / "runs").is_dir()]
    if missing:
        pytest.skip(f"the study store(s) {missing} are not in this checkout")
    fitted = fit_prior(load_stores(stores))
    built_in = default_prior()
    for a, b in zip(fitted.tasks, built_in.tasks, strict=True):
        file_task = a.task.startswith("file:")
        assert (a.task.split("/")[-1] if file_task else a.task) == b.task.removeprefix("file:")
        assert a.ceiling == pytest.approx(b.ceiling, abs=1e-3)
        assert a.weak_ceiling == pytest.approx(b.weak_ceiling, abs=1e-3)
        assert a.speed == pytest.approx(b.speed, rel=1e-3)
    assert fitted.gamma == built_in.gamma
    assert fitted.sigma == pytest.approx(built_in.sigma, abs=1e-3)
    assert fitted.log_delta == pytest.approx(built_in.log_delta, abs=1e-3)
    assert fitted.log_speed == pytest.approx(built_in.log_speed, abs=1e-3)
    assert fitted.methods == built_in.methods and fitted.gold_fracs == built_in.gold_fracs
    assert dict(fitted.method_offset) == pytest.approx(dict(built_in.method_offset), abs=1e-3)


def test_labelmix_exports_advise() -> None:
    import labelmix
    from labelmix.analysis.advisor import advise

    assert labelmix.advise is advise


# ---------------------------------------------------------------- end to end, tiny models


def lm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABELMIX_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "labelmix", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip


def _prior_for(model: Path) -> AdvisorPrior:
    """The synthetic prior, measured (as it says) with the tiny strong model."""
    d = fit_prior(synthetic_runs(STORE_TASKS)).to_dict() | {"model": str(model)}
    return AdvisorPrior.from_dict(d)


SMALL = ("--weak-train", "120", "--pool", "400", "--test", "60", "--select", "20")


def test_advise_on_cities_with_tiny_models(tiny_bert: Path, tiny_llama: Path) -> None:
    from labelmix.analysis.advisor import advise
    from labelmix.tasks.splits import SplitSizes

    a = advise(
        "cities", budget=256.0, weak_cost=0.1, prior=_prior_for(tiny_llama),
        weak_model=str(tiny_bert), split_sizes=SplitSizes(120, 400, 60, 20),
    )  # fmt: skip
    assert a.task == "cities" and a.method
    assert a.pilot.n_items >= 8 and a.pilot.cost == pytest.approx(a.pilot.n_items * 1.1)
    if a.pilot.n_items >= 16:
        assert math.isfinite(a.pilot.cv_accuracy)  # the learning-curve check ran
    assert a.n_gold >= a.pilot.n_items and a.n_gold + 0.1 * a.n_weak <= 256.0 + 1e-9
    # the pool caps the plan's items (a pilot item carries both labels)
    assert a.n_gold <= 400 and a.n_weak + a.n_gold - a.pilot.n_items <= 400
    out = json.loads(a.to_json())
    assert out["pilot_cost"] == pytest.approx(a.pilot.cost)
    assert out["pilot_ids"] == list(a.pilot_ids) and len(set(a.pilot_ids)) == a.pilot.n_items
    # what `labelmix run --advice` needs to train on the pilot's pool
    assert (out["model"], out["weak_model"], out["seed"]) == (str(tiny_llama), str(tiny_bert), 0)
    assert out["split_sizes"] == {"weak_train": 120, "pool": 400, "test": 60, "select": 20}
    assert Advice.from_dict(out).run_config().key() == a.run_config().key()


def test_advise_refuses_an_unknown_task_before_reading_the_stores(tmp_path: Path) -> None:
    from labelmix.analysis.advisor import advise
    from labelmix.errors import LabelmixError

    with pytest.raises(LabelmixError, match="unknown task"):
        advise("no_such_task", budget=64.0, stores=[tmp_path / "not_read"])


def test_advise_cli_refusals_and_a_file_task(tiny_bert: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = ["great", "awful", "fine", "poor", "nice", "bad", "good", "cruel", "kind", "sad"]
    rows = [
        {"text": f"{' '.join(rng.choice(words, 5))} number {i}", "label": int(i % 2)}
        for i in range(400)
    ]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = lm("advise", "--task", f"file:{data}", "--budget", "64", "--from", str(tmp_path))
    assert out.returncode == 2 and "not a sweep store" in out.stderr
    assert "Traceback" not in out.stderr
    out = lm("advise", "--budget", "-5")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    out = lm("advise", "--budget", "64", "--pilot-frac", "0.9")
    assert out.returncode == 2 and "pilot fraction" in out.stderr
    out = lm("advise", "--budget", "64", "--weak-cost", "1.5")
    assert out.returncode == 2 and "not below the gold cost" in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    # the same advice through the library, with a prior measured with the tiny strong model
    from labelmix.analysis.advisor import advise
    from labelmix.tasks.splits import SplitSizes

    a = advise(
        f"file:{data}", budget=64.0, weak_cost=0.1, prior=_prior_for(tiny_bert),
        weak_model=str(tiny_bert),
        split_sizes=SplitSizes(120, 200, 40, 20),
    )  # fmt: skip
    assert a.task == f"file:{data}"
    assert a.n_gold + 0.1 * a.n_weak <= 64.0 + 1e-9
    assert "weak labels" in a.reason and "predicted" in a.reason


# ---------------------------------------------------------------- the benchmark's bookkeeping


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    yield load_bench()
    sys.modules.pop("advisor_bench", None)


def _bench_runs() -> pd.DataFrame:
    """A held-out task's store: weak $0.1, $16 and $256, 3 seeds, seq_sft at 20/50/80% gold;
    accuracy rises with the gold share and differs by seed."""
    grid = [("weak_only", 0.0), ("gold_only", 1.0)] + [("seq_sft", g) for g in (0.2, 0.5, 0.8)]
    rows = []
    for b in (16.0, 256.0):
        for m, g in grid:
            for sd in range(3):
                acc = 0.6 + 0.1 * g + 0.01 * sd + (0.03 if m == "seq_sft" else 0.0)
                rows.append(
                    dict(
                        status="ok", task="held", method=m, weak_cost=0.1, budget=b,
                        gold_frac=g, seed=sd, accuracy=acc, selection_accuracy=acc - 0.01,
                        gold_cost=1.0, n_gold=allocate(b, g, Prices(0.1, 1.0)).n_gold,
                        n_weak=allocate(b, g, Prices(0.1, 1.0)).n_weak,
                    )
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_the_benchmark_refuses_a_prior_that_knows_the_held_out_task(bench) -> None:  # type: ignore[no-untyped-def]
    runs = _bench_runs()
    with pytest.raises(ValueError, match="own store"):
        bench.evaluate(runs, None, None, 0.1, priors={"held": hand_prior(("held", "other"))})


def test_the_benchmark_regret_and_pilot_runs(bench) -> None:  # type: ignore[no-untyped-def]
    runs = _bench_runs()
    grid = bench.Grid.of(runs, runs.iloc[0:0])
    ids, oracle, weak = _pool(2000, 0.7)
    pools = {
        ("held", s): bench.PoolData(ids, oracle, weak, 0.7, None) for s in range(3)
    }  # fmt: skip
    ran: list = []

    def realize(items: list) -> list[float]:
        """Stands in for running each plan with its pilot: 0.5 + seed / 100."""
        ran.extend(items)
        return [0.5 + item[3] / 100 for item in items]

    for pilot_frac in (0.0, 0.1):
        ran.clear()
        rows = bench.evaluate(
            runs, grid, None, pilot_frac, priors={"held": hand_prior()}, pools=pools,
            known_q=False, realize=realize,
        )  # fmt: skip
        assert len(rows) == 6 and set(rows["budget"]) == {16.0, 256.0}
        # hindsight best: the grid configuration with the best mean test accuracy (seq_sft at 80%)
        assert set(rows["best_config"]) == {"seq_sft@0.8"}
        assert rows["best"].tolist() == pytest.approx([0.71 + 0.01 * s for s in (0, 1, 2)] * 2)
        # a plan that reuses a pilot is run (once, with its advice); the others are the grid's
        # ($16: 10% buys one pilot item, fewer than a pilot needs, so none is bought; it buys
        # 16 weak labels alone instead, the weak pilot, whose plan is run with them too)
        assert rows["pilot_run"].sum() == len(ran) == (6 if pilot_frac else 0)
        for r in rows.itertuples():
            m, g = r.pick.split("@")
            if r.pilot_run:
                assert r.advisor == pytest.approx(0.5 + r.seed / 100)
            else:
                assert r.pilot_items == 0 == r.weak_pilot_items
                assert r.advisor == grid.at("held", 0.1, r.budget, m, float(g), r.seed)
        for task, c, b, _, advice in ran:
            assert (task, c) == ("held", 0.1)
            assert len(advice.pilot_ids) == advice.pilot.n_items == (0 if b == 16 else 23)
            assert len(advice.weak_pilot_ids) == advice.pilot.n_weak_items == (16 if b == 16 else 0)
    cells = bench.cell_table(rows, "advisor")
    assert cells["regret"].tolist() == pytest.approx(
        [(rows["best"] - rows["advisor"])[rows["budget"] == b].mean() for b in (16.0, 256.0)]
    )
    # all-weak's regret is exactly 0.11 per seed: its t-interval is 0 wide
    weak_cells = bench.cell_table(rows, "all-weak")
    assert weak_cells["regret"].tolist() == pytest.approx([0.11, 0.11])
    assert weak_cells["ci"].tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    text = bench.calibration(rows)
    assert f"({int(bench.coverage(rows).sum())} of 6;" in text


def test_the_benchmark_runs_a_plan_on_the_stores_settings(bench, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from labelmix.config import RunConfig
    from labelmix.tasks.splits import SplitSizes

    sizes = SplitSizes(weak_train=60, pool=120, test=60, select=20)
    stored = RunConfig(task="cities", method="weak_only", gold_frac=None, budget=16.0,
                       split_sizes=sizes, seed=2, data_seed=5, data_dir="/elsewhere")  # fmt: skip
    row = dict(
        task="cities", weak_cost=0.1, budget=16.0, seed=2, config=json.dumps(stored.to_dict())
    )
    runs = pd.DataFrame([row])
    ledger = Ledger(16.0)
    ids, oracle, weak = _pool(100, 0.7)
    advice = plan_advice(
        hand_prior(), PoolPilot(ids, oracle, weak.priced(0.1), ledger), budget=16.0,
        weak_cost=0.1, task="cities", fixed_pilot=3, pilot_frac=0.3,
    )  # fmt: skip
    cfg = bench.PilotRuns(runs, tmp_path, "/data").config("cities", 0.1, 16.0, 2, advice)
    assert cfg.pilot == advice.pilot_ids and len(cfg.pilot) == 3
    assert (cfg.method, cfg.gold_frac, cfg.budget) == (advice.method, advice.gold_frac, 16.0)
    # the store's run's pool (sizes, seeds) and schedule; the data where this machine has it
    assert (cfg.split_sizes, cfg.seed, cfg.data_seed) == (sizes, 2, 5)
    assert cfg.effective_schedule() == stored.effective_schedule() and cfg.data_dir == "/data"


@pytest.mark.parametrize("data_seed, split", [(5, 5), (None, 2)])
def test_the_best_rerun_keeps_the_splits_and_draws_another_run(
    bench, tmp_path: Path, data_seed: int | None, split: int
) -> None:  # type: ignore[no-untyped-def]
    """The reference 'hindsight best, rerun': the cell's best configuration on the stored run's
    splits and weak labels (its split seed kept), with another run seed."""
    from labelmix.config import RunConfig
    from labelmix.tasks.splits import SplitSizes

    sizes = SplitSizes(weak_train=60, pool=120, test=60, select=20)
    stored = RunConfig(task="cities", method="weak_only", gold_frac=None, budget=16.0,
                       split_sizes=sizes, seed=2, data_seed=data_seed)  # fmt: skip
    row = dict(
        task="cities", weak_cost=0.1, budget=16.0, seed=2, config=json.dumps(stored.to_dict())
    )
    rerun = bench.BestReruns(pd.DataFrame([row]), tmp_path, "/data")
    cfg = rerun.config("cities", 0.1, 16.0, 2, "seq_sft", 0.8)
    assert (cfg.method, cfg.gold_frac, cfg.budget, cfg.split_sizes) == ("seq_sft", 0.8, 16.0, sizes)
    assert cfg.split_seed == stored.split_seed == split
    assert cfg.seed == 2 + bench.RERUN_SEED_OFFSET and cfg.key() != stored.key()
    ends = rerun.config("cities", 0.1, 16.0, 2, "gold_only", 1.0)
    assert (ends.method, ends.gold_frac, ends.split_seed) == ("gold_only", 1.0, split)


def test_the_cli_pilot_cap_default_is_the_advisors() -> None:
    import inspect

    from labelmix.analysis.advisor import DEFAULT_PILOT_FRAC
    from labelmix.cli import advise_cmd

    default = inspect.signature(advise_cmd).parameters["pilot_frac"].default
    assert default == DEFAULT_PILOT_FRAC


def test_the_hindsight_best_without_this_seed(bench) -> None:  # type: ignore[no-untyped-def]
    """The reference oracle that does not share a seed's luck picks on the other seeds."""
    acc = {
        ("seq_sft", 0.2): {0: 0.70, 1: 0.60, 2: 0.65},
        ("gold_only", 1.0): {0: 0.60, 1: 0.80, 2: 0.55},
    }
    assert bench._best_without(acc, 0) == ("gold_only", 1.0)  # 0.675 against 0.625
    assert bench._best_without(acc, 1) == ("seq_sft", 0.2)  # 0.675 against 0.575
    assert bench._best_without(acc, 2) == ("gold_only", 1.0)  # 0.70 against 0.65
    # one seed only: nothing else to choose on, so the seed's own best (the usual oracle)
    assert bench._best_without({k: {0: v[0]} for k, v in acc.items()}, 0) == ("seq_sft", 0.2)
