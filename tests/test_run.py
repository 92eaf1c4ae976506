"""Runs end to end: on a tiny Llama built from a config (every method, both trainers), and one
known-answer check on the bundled default models."""

import json

import numpy as np
import pytest

from labelmix.config import RunConfig
from labelmix.result import RunResult
from labelmix.run import execute_run
from labelmix.tasks.splits import SplitSizes
from labelmix.train.schedule import Schedule

SMALL = SplitSizes(weak_train=60, pool=240, test=100, select=60)
FAST = Schedule(example_passes=300, batch_size=16, warmup_steps=2, lr=1e-2, max_steps=40)


def cfg(tiny_llama, **kw) -> RunConfig:
    base = dict(
        task="cities",
        model=str(tiny_llama),
        weak_model=str(tiny_llama),
        split_sizes=SMALL,
        schedule=FAST,
        budget=16.0,
        gold_frac=0.5,
    )
    base.update(kw)
    return RunConfig(**base)


@pytest.mark.parametrize(
    "method,gold_frac",
    [
        ("weak_only", None),
        ("gold_only", None),
        ("seq_sft", 0.5),
        ("seq_sft_logconf", 0.5),
        ("seq_sft_active", 0.5),
        ("seq_sft_2shot", 0.5),
    ],
)
def test_every_trained_method_spends_exactly_its_allocation(tiny_llama, method, gold_frac):
    c = cfg(tiny_llama, method=method, gold_frac=gold_frac)
    r = execute_run(c)
    alloc = c.allocation()
    uses_weak = method != "gold_only"
    uses_gold = method != "weak_only"
    assert r["n_weak"] == (alloc.n_weak if uses_weak else 0)
    assert r["n_gold"] == (alloc.n_gold if uses_gold else 0)
    assert r["spent"] == pytest.approx(r["n_weak"] * 0.1 + r["n_gold"] * 1.0)
    assert r["spent"] <= c.budget + 1e-9
    for stage in r["stages"]:
        n = r["n_weak"] if stage["source"] == "weak" else r["n_gold"]
        assert stage["n_train"] + stage["n_val"] == n  # validation labels were bought too
    assert r["n_weak_val"] + r["n_gold_val"] == sum(s["n_val"] for s in r["stages"])
    assert 0.0 <= r["accuracy"] <= 1.0
    assert r["accuracy_ci_low"] <= r["accuracy"] <= r["accuracy_ci_high"]
    assert r["accuracy_threshold"].startswith("log-odds > 0")
    assert r["config"]["method"] == method
    json.dumps(r)  # JSON-able
    assert RunResult.from_dict(r).extra == {}  # every field the run writes is declared once


def test_same_seed_same_result_and_other_seed_differs(tiny_llama):
    a = execute_run(cfg(tiny_llama, method="seq_sft"))
    b = execute_run(cfg(tiny_llama, method="seq_sft"))
    c = execute_run(cfg(tiny_llama, method="seq_sft", seed=1))
    for k in ("accuracy", "auroc", "n_weak", "n_gold", "spent"):
        assert a[k] == b[k]
    assert a["stages"][0]["losses"] == b["stages"][0]["losses"]
    assert a["stages"][0]["losses"] != c["stages"][0]["losses"]


def test_few_shot_reports_raw_and_calibrated_accuracy(tiny_llama):
    c = cfg(tiny_llama, method="few_shot", gold_frac=None, shots=4)
    r = execute_run(c)
    assert r["trainer"] == "icl"
    assert r["n_gold"] == 4 and r["n_gold_few_shot"] == 4 and r["spent"] == 4.0
    assert "raw_accuracy" in r and "prior-matched" in r["accuracy_threshold"]
    # the prior-matched threshold labels about the prompt's share of positives positive
    assert 0.0 < r["prompt_positive_rate"] < 1.0


def test_pool_caps_weak_labels_and_says_so(tiny_llama):
    r = execute_run(cfg(tiny_llama, method="weak_only", gold_frac=None, budget=100.0))
    assert r["n_weak"] == r["n_pool"]
    assert any("capped" in n for n in r["notes"])
    assert r["spent"] == pytest.approx(0.1 * r["n_pool"])


def test_lora_trainer_loss_falls(tiny_llama):
    sched = Schedule(example_passes=400, batch_size=8, warmup_steps=2, lr=5e-3, max_steps=30)
    r = execute_run(
        cfg(
            tiny_llama,
            method="gold_only",
            gold_frac=None,
            trainer="lora",
            budget=40.0,
            schedule=sched,
        )
    )
    st = r["stages"][0]
    assert st["steps"] == 30
    assert st["loss_last"] < st["loss_first"]


@pytest.mark.slow
def test_bundled_defaults_known_answer():
    """SmolLM2 features know `cities` well: 64 gold labels give well above chance (measured 0.87
    on 600 test examples), and the MiniLM weak labels are better than chance (measured 0.71)."""
    c = RunConfig(
        task="cities",
        method="gold_only",
        gold_frac=None,
        budget=64.0,
        split_sizes=SplitSizes(weak_train=200, pool=300, test=200),
    )
    r = execute_run(c)
    assert r["accuracy"] > 0.75
    assert r["auroc"] > 0.8
    assert r["weak_label_test_accuracy"] > 0.55
    assert np.isfinite(r["accuracy_vs_weak"])


def test_selection_split_per_example_results_and_seeded_draws(tiny_llama):
    """A run scores the selection split beside test, keeps which test examples it got right
    (paired comparisons need them), and each seed draws its own splits unless data_seed fixes
    them."""
    from labelmix.metrics import unpack_correct
    from labelmix.run import cached_splits

    c = cfg(tiny_llama, method="seq_sft")
    r = execute_run(c)
    assert 0.0 <= r["selection_accuracy"] <= 1.0 and r["n_select"] == 60
    bits = unpack_correct(r["test_correct"], r["n_test"])
    assert bits.mean() == pytest.approx(r["accuracy"])
    s0 = cached_splits("cities", None, SMALL, 0)
    s1 = cached_splits("cities", None, SMALL, 1)
    assert {e.id for e in s0.test} != {e.id for e in s1.test}
    assert {e.id for e in s0.weak_train} != {e.id for e in s1.weak_train}
    assert RunConfig(task="cities", seed=3).split_seed == 3
    assert RunConfig(task="cities", seed=3, data_seed=0).split_seed == 0


def test_oracle_sells_pool_labels_only(tiny_llama):
    from labelmix.errors import DataError
    from labelmix.labels.budget import Ledger
    from labelmix.labels.oracle import Oracle
    from labelmix.run import cached_splits

    splits = cached_splits("cities", None, SMALL, 0)
    oracle = Oracle.from_examples(splits.pool, 1.0)
    with pytest.raises(DataError, match="no gold label"):
        oracle.buy([splits.test[0].id], Ledger(10.0), "train")


def test_pool_limited_runs_say_so(tiny_llama):
    c = cfg(tiny_llama, method="weak_only", gold_frac=None, budget=100.0)  # 1000 weak > 240
    r = execute_run(c)
    assert r["pool_limited"] is True and r["n_weak"] == 240
    assert r["spent"] == pytest.approx(24.0)
    assert any("capped" in n for n in r["notes"])
    from labelmix.cli import summary_line

    assert "cannot serve this allocation" in summary_line(r)


def test_carry_optimizer_keeps_adamw_moments_into_the_next_stage(tiny_llama):
    """Schedule.carry_optimizer: the gold stage starts with the weak stage's AdamW moments, which
    changes its first steps; off (the default), each stage starts a fresh optimizer."""
    from dataclasses import replace

    fresh = execute_run(cfg(tiny_llama, method="seq_sft"))
    carried = execute_run(
        cfg(tiny_llama, method="seq_sft", schedule=replace(FAST, carry_optimizer=True))
    )
    assert fresh["stages"][0]["losses"] == carried["stages"][0]["losses"]  # same weak stage
    assert fresh["stages"][1]["losses"] != carried["stages"][1]["losses"]


def test_a_run_leaves_torchs_global_generator_as_it_found_it(tiny_llama):
    """Every stream is seeded inside labelmix.seeds.torch_seeded, which restores torch's global
    generator: a caller's own random numbers do not depend on whether a run happened."""
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    execute_run(cfg(tiny_llama, method="seq_sft", trainer="lora"))
    assert torch.equal(torch.rand(3), expected)
