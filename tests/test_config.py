"""RunConfig and methods: validation at construction, before anything trains."""

import pytest

from labelmix.config import RunConfig
from labelmix.errors import BudgetError, ConfigError
from labelmix.methods import METHODS, get_method
from labelmix.tasks.splits import SplitSizes
from labelmix.train.schedule import Schedule


def test_every_paper_method_is_defined():
    assert set(METHODS) == {
        "weak_only",
        "gold_only",
        "seq_sft",
        "seq_sft_logconf",
        "seq_sft_active",
        "few_shot",
        "seq_sft_2shot",
        "seq_sft_32shot",
    }
    assert get_method("seq_sft").sources == ("weak", "gold")
    assert get_method("seq_sft_logconf").stages[0].loss == "logconf"
    assert get_method("seq_sft_active").stages[1].sampling == "uncertainty"
    assert get_method("seq_sft_2shot").shots == 2
    assert get_method("few_shot").prompt_only


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(method="weak_only", gold_frac=0.3), "drop the gold fraction"),
        (dict(method="gold_only", gold_frac=0.5), "drop the gold fraction"),
        (dict(method="seq_sft", gold_frac=None), "needs a gold fraction"),
        (dict(method="seq_sft", gold_frac=1.2), "must lie in"),
        (dict(method="nope"), "unknown method 'nope'; valid methods: weak_only"),
        (dict(task="nope"), "unknown task 'nope'; valid tasks:"),
        (dict(trainer="svm"), "unknown trainer"),
        (dict(method="seq_sft", trainer="icl"), "only scores prompts"),
        (dict(budget=-3), "must be a positive number"),
        (dict(weak_cost=-0.1), "weak cost"),
        (dict(seed=-1), "seed"),
        (dict(method="few_shot", gold_frac=None, budget=4), "needs 8 gold labels"),
        (
            dict(method="seq_sft_32shot", budget=2, gold_frac=0.5),
            "32-shot prefix needs at least 33",
        ),
    ],
)
def test_bad_configs_fail_at_construction(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**kwargs)


def test_budget_that_buys_nothing():
    with pytest.raises(BudgetError, match="cannot buy a single label"):
        RunConfig(budget=0.05)


def test_fixed_fractions_and_icl_trainer():
    assert RunConfig(method="weak_only", gold_frac=None).gold_frac == 0.0
    assert RunConfig(method="gold_only", gold_frac=None).gold_frac == 1.0
    fs = RunConfig(method="few_shot", gold_frac=None, trainer="probe")
    assert fs.trainer == "icl" and fs.gold_frac == 1.0 and fs.k_shots == 8


def test_key_is_stable_and_ignores_data_dir():
    a = RunConfig(data_dir="/x")
    b = RunConfig(data_dir="/y")
    assert a.key() == b.key()
    assert a.key() != RunConfig(seed=1).key()
    assert RunConfig.from_dict(a.to_dict()).key() == a.key()


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown run option"):
        RunConfig.from_dict({"budgett": 3})
    with pytest.raises(ConfigError, match="unknown schedule option"):
        RunConfig.from_dict({"schedule": {"lr": 1e-3, "epochs": 3}})


def test_schedule_steps_follow_the_reference_rule():
    s = Schedule(example_passes=30_000, batch_size=32)
    assert s.steps_for(30_000) == 938  # one epoch
    assert s.steps_for(100_000) == 3125  # at least one epoch
    assert s.steps_for(16) == 1875  # 30000/16 epochs of one 16-example batch
    assert Schedule(max_steps=10).steps_for(1000) == 10
    with pytest.raises(ConfigError):
        Schedule(lr=0)
    with pytest.raises(ConfigError):
        Schedule(beta2=1.0)


# Keys computed by the code that wrote the study store: a change here orphans every stored run.
PINNED_KEYS = [
    ({}, "f16ba28bd33b4f0aefc5"),
    ({"budget": 64, "gold_cost": 1}, "f16ba28bd33b4f0aefc5"),  # ints are the same run
    (
        {
            "task": "sst2",
            "method": "seq_sft_logconf",
            "budget": 256.0,
            "gold_frac": 0.05,
            "weak_cost": 0.01,
            "seed": 2,
            "split_sizes": SplitSizes(weak_train=1000, pool=10000, test=500, select=500),
        },
        "e46d04102e81e1e8cadc",
    ),
    ({"method": "few_shot", "budget": 16.0, "gold_frac": None}, "1369c014f4fe5775f818"),
]


@pytest.mark.parametrize(("kw", "key"), PINNED_KEYS)
def test_run_keys_are_stable(kw, key):
    assert RunConfig(**kw).key() == key


def test_numpy_scalars_are_plain_numbers():
    import numpy as np

    c = RunConfig(budget=np.float32(64), seed=np.int64(0), gold_frac=np.float64(0.2))
    assert type(c.budget) is float and type(c.seed) is int
    assert c.key() == PINNED_KEYS[0][1]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"lora_rank": "x"}, "lora_rank 'x' must be an integer"),
        ({"seed": 1.5}, "seed 1.5 must be an integer"),
        ({"seed": True}, "seed True must be an integer"),
        ({"budget": "64"}, "budget '64' must be a finite number"),
        ({"budget": float("inf")}, "must be a finite number"),
        ({"budget": 1e308}, "above"),
        ({"seed": 2**64}, "below 2\\*\\*32"),
        ({"model": ""}, "model '' must be a non-empty string"),
        ({"split_sizes": {"pool": 10}}, "must be a SplitSizes"),
        ({"max_length": 0}, "max_length 0 must be >= 1"),
    ],
)
def test_every_field_is_checked_with_a_clear_error(kw, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**kw)
