"""A run that reuses a pilot (`RunConfig.pilot`, `Advice.run_config`, `labelmix run --advice`):
the pilot's gold and weak labels are charged once and inside the budget, its gold labels train
the gold stage and its weak labels the weak stage, the rest of the budget buys other items, the
default keeps every stored run key. Runs on the tiny models of conftest.py and `cities` with tiny
splits."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from advisor_helpers import hand_prior
from cli_helpers import lm

from labelmix.analysis.advisor import Advice, advise, make_plans
from labelmix.config import RunConfig, allocate_with_pilot
from labelmix.errors import ConfigError, UnaffordableError
from labelmix.labels.budget import Prices
from labelmix.run import cached_splits, run_config
from labelmix.tasks.splits import SplitSizes
from labelmix.train.schedule import Schedule
from labelmix.train.stages import StageChain

SIZES = SplitSizes(weak_train=60, pool=120, test=60, select=20)
FAST = Schedule(example_passes=300, batch_size=16, warmup_steps=2, lr=1e-2, max_steps=20)


def _pilot(k: int, seed: int = 0) -> tuple[str, ...]:
    """k pool items of the run's pool (seed 0), in a seeded order unrelated to the run's."""
    pool = cached_splits("cities", None, SIZES, seed).pool
    pick = np.random.default_rng(99).permutation(len(pool))[:k]
    return tuple(pool[i].id for i in pick)


def _cfg(tiny_llama: Path, tiny_bert: Path, **kw: Any) -> RunConfig:
    base: dict[str, Any] = dict(
        task="cities",
        method="seq_sft",
        budget=16.0,
        gold_frac=0.5,
        weak_cost=0.1,
        model=str(tiny_llama),
        weak_model=str(tiny_bert),
        split_sizes=SIZES,
        schedule=FAST,
    )
    return RunConfig(**(base | kw))


@pytest.fixture
def stage_texts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """(source, texts trained or validated on) of every stage the runs of a test train."""
    seen: list[tuple[str, list[str]]] = []
    train = StageChain.train

    def spy(self, i, spec, n, train_set, val_set):  # type: ignore[no-untyped-def]
        seen.append((spec.source, [*train_set[0], *val_set[0]]))
        return train(self, i, spec, n, train_set, val_set)

    monkeypatch.setattr(StageChain, "train", spy)
    return seen


# ---------------------------------------------------------------- the config


def test_the_default_pilot_keeps_stored_run_keys() -> None:
    """`pilot` is key-neutral when empty: every stored run keeps its key; a pilot changes it."""
    base = RunConfig()
    assert base.pilot == () and base.key() == "f16ba28bd33b4f0aefc5"  # tests/test_config.py
    for empty in (None, (), []):
        assert RunConfig(pilot=empty).key() == base.key()
    with_pilot = RunConfig(pilot=["a", "b"])
    assert with_pilot.pilot == ("a", "b") and with_pilot.key() != base.key()
    assert RunConfig(pilot=["b", "a"]).key() != with_pilot.key()
    again = RunConfig.from_dict(json.loads(json.dumps(with_pilot.to_dict())))
    assert again.pilot == with_pilot.pilot and again.key() == with_pilot.key()
    assert base.to_dict()["pilot"] == []
    # a sweep records its settings as before: a setting left at None is not written
    from labelmix.sweep.grid import SETTING_DEFAULTS

    assert SETTING_DEFAULTS["pilot"] is None


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(pilot=["a", "b", "a"]), ConfigError, "names item 'a' twice"),
        (dict(pilot=["a", 3]), ConfigError, "must be pool example ids"),
        (dict(pilot=["a", " "]), ConfigError, "must be pool example ids"),
        (dict(pilot="abc"), ConfigError, "must be a list of pool example ids"),
        (
            dict(method="weak_only", gold_frac=None, pilot=["a"]),
            ConfigError,
            r"'weak_only' cannot reuse a pilot.*\(gold_only, seq_sft, seq_sft_logconf, seq_sft_",
        ),
        (dict(method="few_shot", gold_frac=None, pilot=["a"]), ConfigError, "with a gold stage"),
        (dict(budget=2.0, pilot=["a", "b"]), UnaffordableError, r"costs \$2.20 .* budget \$2"),
    ],
)
def test_a_pilot_is_checked_at_construction(kw: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match) as e:
        RunConfig(**kw)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("budget, weak_cost", [(256.0, 0.1), (64.0, 0.01), (16.0, 0.5)])
def test_the_advisors_plans_are_what_a_run_with_the_pilot_buys(
    budget: float, weak_cost: float
) -> None:
    prices = Prices(weak_cost, 1.0)
    for k in (0, 3, 12):
        plans = make_plans(budget, weak_cost, 1.0, k, ("seq_sft",), (0.05, 0.2, 0.8))
        assert plans or k * (1.0 + weak_cost) > budget  # no plan where the pilot is unpaid
        for p in plans:
            got = allocate_with_pilot(budget, p.gold_frac, prices, k)
            assert (got.n_weak, got.n_gold) == (p.n_weak, p.n_gold), (k, p)
            assert got.n_gold >= k and got.n_weak >= k
            assert got.n_gold + got.n_weak * weak_cost <= budget + 1e-9


def test_allocation_with_a_pilot() -> None:
    prices = Prices(0.1, 1.0)
    # more gold than the grid's 5%: the pilot's 23 gold labels, fewer weak labels pay for them
    assert allocate_with_pilot(256.0, 0.05, prices, 23) == allocate_with_pilot(256.0, 0, prices, 23)
    a = allocate_with_pilot(256.0, 0.0, prices, 23)
    assert (a.n_gold, a.n_weak) == (23, 23 + 2307)
    # the grid's gold labels where they are more than the pilot's
    assert allocate_with_pilot(256.0, 0.2, prices, 23).n_gold == 51
    # all gold: what leaves the pilot's weak labels paid, and the rest on weak labels
    a = allocate_with_pilot(256.0, 1.0, prices, 23)
    assert (a.n_gold, a.n_weak) == (253, 30)
    with pytest.raises(UnaffordableError):
        allocate_with_pilot(10.0, 0.5, prices, 10)


# ---------------------------------------------------------------- runs


def test_the_pilot_is_charged_once_and_trains_both_stages(
    tiny_llama: Path, tiny_bert: Path, stage_texts: list
) -> None:
    pilot = _pilot(6)
    # $16 at 50% gold buys 8 gold labels: the pilot's 6 and 2 more; the weak stage the pilot's
    # 6 weak labels and what is left: ($16 - 8 - 0.6) / $0.1 = 74 more
    cfg = _cfg(tiny_llama, tiny_bert, pilot=pilot)
    r = run_config(cfg).record
    assert (r["n_gold"], r["n_weak"]) == (8, 80)
    assert r["n_pilot"] == 6 and r["spent_pilot"] == pytest.approx(6 * 1.1)
    # charged once: the ledger holds the pilot once plus the labels bought in the run
    assert r["spent"] == pytest.approx(8 * 1.0 + 80 * 0.1) and r["spent"] <= 16.0 + 1e-9
    assert r["spent"] == pytest.approx(r["spent_pilot"] + 2 * 1.0 + 74 * 0.1)
    assert r["n_gold_train"] + r["n_gold_val"] == 2 and r["n_weak_train"] + r["n_weak_val"] == 74
    weak_stage, gold_stage = r["stages"]
    assert weak_stage["n_train"] + weak_stage["n_val"] == 80 and weak_stage["n_pilot"] == 6
    assert gold_stage["n_train"] + gold_stage["n_val"] == 8 and gold_stage["n_pilot"] == 6
    # the pilot's items are in both stages; every other item in one stage only
    pool = {e.id: e.text for e in cached_splits("cities", None, SIZES, 0).pool}
    texts = {pool[i] for i in pilot}
    (src_w, weak_texts), (src_g, gold_texts) = stage_texts
    assert (src_w, src_g) == ("weak", "gold")
    assert texts <= set(weak_texts) and texts <= set(gold_texts)
    assert not (set(weak_texts) - texts) & (set(gold_texts) - texts)
    assert len(weak_texts) == len(set(weak_texts)) == 80
    # deterministic per seed
    again = run_config(cfg).record
    assert again["accuracy"] == r["accuracy"]
    assert again["stages"][1]["losses"] == r["stages"][1]["losses"]


def test_a_pilot_larger_than_the_gold_allocation_is_the_gold_stage(
    tiny_llama: Path, tiny_bert: Path, stage_texts: list
) -> None:
    pilot = _pilot(6)
    # 20% of $16 buys 3 gold labels: the gold stage is the pilot's 6, paid by fewer weak labels
    r = run_config(_cfg(tiny_llama, tiny_bert, gold_frac=0.2, pilot=pilot)).record
    assert r["alloc_n_gold"] == 3 and r["n_gold"] == 6 and r["n_gold_train"] + r["n_gold_val"] == 0
    assert r["n_weak"] == 6 + 94 and r["spent"] == pytest.approx(16.0)
    pool = {e.id: e.text for e in cached_splits("cities", None, SIZES, 0).pool}
    assert sorted(stage_texts[1][1]) == sorted(pool[i] for i in pilot)


def test_gold_only_trains_on_the_pilots_gold_labels_alone(
    tiny_llama: Path, tiny_bert: Path, stage_texts: list
) -> None:
    """All gold after a pilot of 6 items and a weak pilot of 4: both charged once; one gold
    stage of the pilot's 6 gold labels and 9 more (what $16 - $6.60 - $0.40 buys), and no weak
    stage: the 10 weak labels were bought to measure the weak labels, not to train on."""
    bought = _pilot(10)
    pilot, read = bought[:6], bought[6:]
    cfg = _cfg(tiny_llama, tiny_bert, method="gold_only", gold_frac=None, pilot=pilot,
               weak_pilot=read)  # fmt: skip
    r = run_config(cfg).record
    assert (r["n_gold"], r["n_weak"]) == (15, 10)
    assert (r["n_pilot"], r["n_weak_pilot"]) == (6, 4)
    assert r["spent_pilot"] == pytest.approx(6 * 1.1 + 4 * 0.1)
    assert r["spent"] == pytest.approx(r["spent_pilot"] + 9 * 1.0) == pytest.approx(16.0)
    assert r["n_gold_train"] + r["n_gold_val"] == 9 and r["n_weak_train"] == r["n_weak_val"] == 0
    pool = {e.id: e.text for e in cached_splits("cities", None, SIZES, 0).pool}
    ((source, texts),) = stage_texts
    assert source == "gold" and len(texts) == len(set(texts)) == 15
    assert {pool[i] for i in pilot} <= set(texts) and not {pool[i] for i in read} & set(texts)


def test_the_pool_caps_gold_only_and_says_so(tiny_llama: Path, tiny_bert: Path) -> None:
    """$200 of gold labels on a pool of 120 after a weak pilot of 4: 116 gold labels, and the
    note names the gold labels (gold_only buys no weak label to cap)."""
    read = _pilot(4)
    cfg = _cfg(tiny_llama, tiny_bert, method="gold_only", gold_frac=None, budget=200.0,
               weak_pilot=read)  # fmt: skip
    r = run_config(cfg).record
    assert r["pool_limited"] and (r["n_gold"], r["n_weak"]) == (116, 4)
    capped = [n for n in r["notes"] if "capped" in n]
    assert capped == ["pool has 120 examples: gold labels capped at 116 (allocation 199)"]


def test_the_pool_caps_the_weak_labels_around_a_pilot(tiny_llama: Path, tiny_bert: Path) -> None:
    pilot = _pilot(6)
    # $64 at 50%: 32 gold labels (26 beyond the pilot); the pool of 120 leaves 120 - 6 - 26 = 88
    # items for weak labels beyond the pilot's
    r = run_config(_cfg(tiny_llama, tiny_bert, budget=64.0, pilot=pilot)).record
    assert r["pool_limited"] and r["n_gold"] == 32 and r["n_weak"] == 6 + 88
    assert any("capped at 94" in n for n in r["notes"])
    assert r["spent"] == pytest.approx(32 + 94 * 0.1)


def test_active_sampling_chooses_only_the_extra_gold_items(
    tiny_llama: Path, tiny_bert: Path, stage_texts: list
) -> None:
    pilot = _pilot(4)
    r = run_config(_cfg(tiny_llama, tiny_bert, method="seq_sft_active", pilot=pilot)).record
    assert (r["n_gold"], r["n_weak"]) == (8, 4 + 76)
    gold_texts = stage_texts[1][1]
    assert len(gold_texts) == len(set(gold_texts)) == 8  # the pilot's 4 and 4 others
    weak_only_items = set(stage_texts[0][1]) - {
        e.text for e in cached_splits("cities", None, SIZES, 0).pool if e.id in pilot
    }
    assert not weak_only_items & set(gold_texts)


def test_a_pilot_from_another_pool_is_refused(tiny_llama: Path, tiny_bert: Path) -> None:
    pilot = (*_pilot(3), "not-an-item", "nor-this-one")
    with pytest.raises(ConfigError, match=r"2 of the pilot's 5 items are not in this run's pool"):
        run_config(_cfg(tiny_llama, tiny_bert, pilot=pilot))


# ---------------------------------------------------------------- following the advice


@pytest.fixture
def advice(tiny_llama: Path, tiny_bert: Path) -> Advice:
    a = advise(
        "cities", budget=32.0, weak_cost=0.1, pilot_frac=0.3, prior=hand_prior(model=str(tiny_llama)),
        weak_model=str(tiny_bert), split_sizes=SIZES,
    )  # fmt: skip
    assert a.pilot.n_items >= 8 and len(a.pilot_ids) == a.pilot.n_items
    return a


def test_the_advice_is_a_run_that_reuses_its_pilot(advice: Advice, tiny_llama: Path) -> None:
    cfg = advice.run_config()
    assert cfg.pilot == advice.pilot_ids and cfg.method == advice.method
    assert (cfg.model, cfg.split_sizes, cfg.seed) == (str(tiny_llama), SIZES, 0)
    labels = cfg.allocation_with_pilot()
    assert (
        min(labels.n_weak, SIZES.pool - labels.n_gold + advice.pilot.n_items),
        labels.n_gold,
    ) == (
        advice.n_weak,
        advice.n_gold,
    )
    # the JSON of `advise --json` gives the same run
    back = Advice.from_dict(json.loads(advice.to_json()))
    assert back.run_config().key() == cfg.key() and back.pilot_ids == advice.pilot_ids
    r = run_config(cfg.with_(schedule=FAST)).record
    assert (r["n_weak"], r["n_gold"]) == (advice.n_weak, advice.n_gold)
    assert r["spent"] == pytest.approx(advice.n_weak * 0.1 + advice.n_gold * 1.0)
    assert r["spent_pilot"] == pytest.approx(advice.pilot_cost) and r["spent"] <= 32.0 + 1e-9


def test_labelmix_run_follows_the_advice_and_pays_the_pilot_once(
    advice: Advice, tmp_path: Path
) -> None:
    path = tmp_path / "advice.json"
    path.write_text(advice.to_json())
    out = lm("run", "--advice", str(path), "--max-steps", "5", "--out", str(tmp_path / "runs"))
    assert out.code == 0, out.text
    k = advice.pilot.n_items
    assert f"the advice's {k} pilot items" in out.stdout and "charged once" in out.stdout
    (result,) = (tmp_path / "runs").glob("*.json")
    r = json.loads(result.read_text())
    assert r["config"]["pilot"] == list(advice.pilot_ids) and r["n_pilot"] == k
    assert (r["n_weak"], r["n_gold"]) == (advice.n_weak, advice.n_gold)
    # the pilot once (k gold + k weak labels), then the labels the run bought itself
    bought = r["n_gold_train"] + r["n_gold_val"] + r["n_weak_train"] + r["n_weak_val"]
    assert bought == r["n_gold"] + r["n_weak"] - 2 * k
    assert r["spent"] == pytest.approx(r["n_gold"] * 1.0 + r["n_weak"] * 0.1)
    assert r["spent"] <= advice.budget + 1e-9


def test_labelmix_run_follows_an_all_gold_advice_without_a_weak_stage(
    advice: Advice, tmp_path: Path
) -> None:
    """An all-gold advice after a pilot is gold_only: the run trains on the pilot's gold labels
    and the rest of the budget's, charges the pilot's weak labels once and trains on none."""
    k = advice.pilot.n_items
    n_gold = allocate_with_pilot(32.0, 1.0, Prices(0.1, 1.0), k).n_gold
    all_gold = dataclasses.replace(
        advice, method="gold_only", gold_frac=1.0, n_weak=k, n_gold=n_gold
    )
    path = tmp_path / "advice.json"
    path.write_text(all_gold.to_json())
    out = lm("run", "--advice", str(path), "--max-steps", "5", "--out", str(tmp_path / "runs"))
    assert out.code == 0, out.text
    assert f"trained on the gold labels of the advice's {k} pilot items" in out.stdout
    assert "their weak labels are not trained on" in out.stdout
    (result,) = (tmp_path / "runs").glob("*.json")
    r = json.loads(result.read_text())
    assert r["method"] == "gold_only" and r["n_pilot"] == k
    assert (r["n_weak"], r["n_gold"]) == (k, n_gold) and n_gold == 32 - math.ceil(0.1 * k)
    assert r["n_weak_train"] == r["n_weak_val"] == 0
    assert r["n_gold_train"] + r["n_gold_val"] == n_gold - k
    assert r["spent"] == pytest.approx(n_gold + 0.1 * k) and r["spent"] <= 32.0 + 1e-9


def test_labelmix_run_refuses_a_bad_advice(tmp_path: Path) -> None:
    missing = lm("run", "--advice", str(tmp_path / "nope.json"))
    assert missing.code == 2 and "does not exist" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = lm("run", "--advice", str(bad))
    assert out.code == 2 and "not readable JSON" in out.stderr
    bad.write_text(json.dumps({"method": "seq_sft"}))
    out = lm("run", "--advice", str(bad))
    assert out.code == 2 and "not an advice" in out.stderr
    out = lm("run", "--advice", str(bad), "--budget", "10", "--seed", "1")
    assert out.code == 2 and "drop --budget, --seed" in out.stderr
    for o in (missing, out):
        assert o.stderr.count("\n") == 1 and "Traceback" not in o.stderr


def test_a_pilot_item_counts_once_for_a_few_shot_prefix() -> None:
    """A pilot item carries a weak and a gold label but is one example: a 2-shot prefix needs 3
    distinct examples, and 1 pilot item + 1 more gold label are only 2."""
    from labelmix.config import RunConfig
    from labelmix.errors import UnaffordableError

    with pytest.raises(UnaffordableError, match="needs at least 3 labelled examples"):
        RunConfig(
            method="seq_sft_2shot", budget=2.5, weak_cost=0.5, gold_frac=1.0, pilot=["x"]
        ).check_buys_labels()


# ---------------------------------------------------------------- the weak labeler of the advice


def _file_with_weak_labels(tmp_path: Path) -> Path:
    """A `file:` task whose rows carry two columns of weak labels: `weak_label` always right,
    `wrong` always wrong, so which one the pilot bought shows in its agreement with gold."""
    rows = [
        {"text": f"item number {i} of kind {i % 7}", "label": i % 2, "weak_label": i % 2,
         "wrong": 1 - i % 2}
        for i in range(400)
    ]  # fmt: skip
    path = tmp_path / "weak.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_advise_buys_the_pilot_from_the_chosen_weak_labeler(
    tiny_llama: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """The pilot's weak labels come from `weak_labeler` (here two columns of the task's file);
    the advice records the labeler, its run uses it, and its JSON keeps it."""
    task = f"file:{_file_with_weak_labels(tmp_path)}"
    kw: dict[str, Any] = dict(
        budget=32.0, weak_cost=0.1, pilot_frac=0.3, prior=hand_prior(model=str(tiny_llama)),
        weak_model=str(tiny_bert), split_sizes=SIZES,
    )  # fmt: skip
    right = advise(task, weak_labeler="column", **kw)
    wrong = advise(task, weak_labeler="column:wrong", **kw)
    assert right.pilot.n_items >= 8 and right.pilot.n_agree == right.pilot.n_items
    assert wrong.pilot.n_items >= 8 and wrong.pilot.n_agree == 0
    assert (right.weak_labeler, wrong.weak_labeler) == ("column", "column:wrong")
    assert wrong.run_config().weak_labeler == "column:wrong"
    back = Advice.from_dict(json.loads(wrong.to_json()))
    assert (
        back.weak_labeler == "column:wrong" and back.run_config().key() == wrong.run_config().key()
    )
    # the default is the probe, as for `labelmix run`; an advice written before the weak
    # labeler was recorded bought its pilot from the probe
    old = json.loads(right.to_json())
    del old["weak_labeler"]
    assert Advice.from_dict(old).run_config().weak_labeler == "probe"


def test_advise_refuses_a_bad_weak_labeler_before_any_work(tmp_path: Path) -> None:
    from labelmix.errors import ConfigError

    out = lm("advise", "--budget", "64", "--weak-labeler", "nope", "--from", str(tmp_path / "x"))
    assert out.code == 2 and "unknown weak labeler 'nope'" in out.stderr, out.stderr
    out = lm("advise", "--budget", "64", "--weak-labeler", "column")  # cities is no file
    assert out.code == 2 and "column" in out.stderr, out.stderr
    out = lm("advise", "--budget", "64", "--weak-labeler", "prompt", "--weak-model", "minilm")
    assert out.code == 2 and "causal LM" in out.stderr, out.stderr
    with pytest.raises(ConfigError, match="unknown weak labeler"):
        advise("cities", budget=64.0, weak_labeler="finetune:x", stores=[tmp_path / "not_read"])


def test_labelmix_run_follows_the_advices_weak_labeler(
    tiny_llama: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`labelmix advise --weak-labeler L --json` then `labelmix run --advice`: the pilot and the
    run both buy weak labels from L (here the always-wrong column: the run's weak labels are 0%
    accurate on test), and the run refuses another --weak-labeler."""
    import labelmix.analysis.advisor as advisor

    monkeypatch.setattr(advisor, "default_prior", lambda: hand_prior(model=str(tiny_llama)))
    task = f"file:{_file_with_weak_labels(tmp_path)}"
    sizes = ("--weak-train", "60", "--pool", "120", "--test", "60", "--select", "20")
    out = lm(
        "advise", "--task", task, "--budget", "32", "--pilot-frac", "0.3", "--weak-labeler",
        "column:wrong", "--weak-model", str(tiny_bert), *sizes, "--json",
    )  # fmt: skip
    assert out.code == 0, out.text
    d = json.loads(out.stdout)
    assert d["weak_labeler"] == "column:wrong" and d["pilot"]["n_agree"] == 0
    path = tmp_path / "advice.json"
    path.write_text(out.stdout)
    refused = lm("run", "--advice", str(path), "--weak-labeler", "probe")
    assert refused.code == 2 and "drop --weak-labeler" in refused.stderr
    ran = lm("run", "--advice", str(path), "--max-steps", "5", "--out", str(tmp_path / "runs"))
    assert ran.code == 0, ran.text
    (result,) = (tmp_path / "runs").glob("*.json")
    r = json.loads(result.read_text())
    assert r["config"]["weak_labeler"] == "column:wrong" and r["weak_labeler"] == "column:wrong"
    assert r["weak_label_test_accuracy"] == 0.0


# ---------------------------------------------------------------- the weak pilot


def test_the_default_weak_pilot_keeps_stored_run_keys() -> None:
    base = RunConfig()
    for empty in (None, (), []):
        assert RunConfig(weak_pilot=empty).key() == base.key() == "f16ba28bd33b4f0aefc5"
    with_read = RunConfig(weak_pilot=["a", "b"])
    assert with_read.weak_pilot == ("a", "b") and with_read.key() != base.key()
    assert RunConfig(pilot=["a", "b"]).key() != with_read.key()  # not the same purchase
    again = RunConfig.from_dict(json.loads(json.dumps(with_read.to_dict())))
    assert again.weak_pilot == with_read.weak_pilot and again.key() == with_read.key()


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(weak_pilot=["a", "a"]), ConfigError, "weak_pilot names item 'a' twice"),
        (dict(weak_pilot=["a", 3]), ConfigError, "weak_pilot ids must be pool example ids"),
        (dict(pilot=["a"], weak_pilot=["b", "a"]), ConfigError, "'a' is in both pilot and weak"),
        (
            dict(method="few_shot", gold_frac=None, weak_pilot=["a"]),
            ConfigError,
            r"'few_shot' cannot reuse a weak pilot.*that trains \(weak_only, gold_only",
        ),
        (dict(budget=1.0, weak_cost=0.5, weak_pilot=["a", "b", "c"]), UnaffordableError,
         r"a weak pilot of 3 items costs \$1.50"),
    ],
)  # fmt: skip
def test_a_weak_pilot_is_checked_at_construction(kw: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match) as e:
        RunConfig(**kw)
    assert "\n" not in str(e.value)


def test_allocation_with_a_weak_pilot() -> None:
    prices = Prices(0.5, 1.0)
    # all gold at $64 after 6 weak labels ($3): 61 gold, and the 6 weak labels
    a = allocate_with_pilot(64.0, 1.0, prices, 0, 6)
    assert (a.n_gold, a.n_weak) == (61, 6)
    # all weak: the grid's own 128 weak labels, the weak pilot's 6 among them
    assert allocate_with_pilot(64.0, 0.0, prices, 0, 6) == allocate_with_pilot(64.0, 0.0, prices, 0)
    # half: the grid's 32 gold labels, the weak pilot's weak labels among the other $32's
    a = allocate_with_pilot(64.0, 0.5, prices, 0, 6)
    assert (a.n_gold, a.n_weak) == (32, 64)
    # with a pilot too: its 4 items carry both labels, the weak pilot's 6 a weak one
    a = allocate_with_pilot(64.0, 1.0, prices, 4, 6)
    assert (a.n_gold, a.n_weak) == (59, 10)


@pytest.mark.parametrize("method, gold_frac", [("weak_only", None), ("seq_sft", 1.0)])
def test_the_weak_pilot_is_charged_once_and_trains_the_weak_stage(
    tiny_llama: Path, tiny_bert: Path, stage_texts: list, method: str, gold_frac: float | None
) -> None:
    read = _pilot(5)
    # $8 (the pool of 120 caps nothing): all weak buys 80 weak labels, the weak pilot's 5 among
    # them; all gold after the weak pilot ($0.50) 7 gold labels and, with what is left, 5 more weak
    cfg = _cfg(
        tiny_llama, tiny_bert, budget=8.0, method=method, gold_frac=gold_frac, weak_pilot=read
    )
    r = run_config(cfg).record
    labels = cfg.allocation_with_pilot()
    assert (r["n_weak"], r["n_gold"]) == (labels.n_weak, labels.n_gold)
    assert r["n_weak_pilot"] == 5 and r["n_pilot"] == 0
    assert r["spent_pilot"] == pytest.approx(5 * 0.1)
    assert (labels.n_weak, labels.n_gold) == ((80, 0) if method == "weak_only" else (10, 7))
    assert r["spent"] == pytest.approx(labels.n_gold + labels.n_weak * 0.1)
    assert r["spent"] <= 8.0 + 1e-9
    assert r["n_weak_train"] + r["n_weak_val"] == labels.n_weak - 5  # the rest bought in the run
    pool = {e.id: e.text for e in cached_splits("cities", None, SIZES, 0).pool}
    texts = {pool[i] for i in read}
    weak_stage = next(t for s, t in stage_texts if s == "weak")
    assert texts <= set(weak_stage) and len(weak_stage) == len(set(weak_stage)) == labels.n_weak
    for source, t in stage_texts:
        if source == "gold":  # the gold stage has none of the weak pilot's items
            assert len(t) == labels.n_gold == 7 and not texts & set(t)


def test_a_weak_pilot_from_another_pool_is_refused(tiny_llama: Path, tiny_bert: Path) -> None:
    read = (*_pilot(2), "not-an-item")
    with pytest.raises(ConfigError, match=r"1 of the weak pilot's 3 items are not in this run"):
        run_config(_cfg(tiny_llama, tiny_bert, weak_pilot=read))


def test_labelmix_run_follows_an_advice_with_a_weak_pilot(
    tiny_llama: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """$32 at 5%: one pilot item is too few, so 16 weak labels alone are bought ($1.60) and read;
    the advice names them, `labelmix run --advice` trains on them and charges them once."""
    a = advise(
        "cities", budget=32.0, weak_cost=0.1, prior=hand_prior(model=str(tiny_llama)),
        weak_model=str(tiny_bert), split_sizes=SIZES,
    )  # fmt: skip
    assert a.pilot.n_items == 0 and a.pilot.n_weak_items == 16 == len(a.weak_pilot_ids)
    assert a.pilot.cost == pytest.approx(1.6) and 0.5 <= a.pilot.weak_confidence <= 1.0
    assert "their labeler's own mean confidence" in a.reason
    path = tmp_path / "advice.json"
    path.write_text(a.to_json())
    assert Advice.load(path).weak_pilot_ids == a.weak_pilot_ids
    # an advice written before the weak pilot existed loads as one without it
    old = a.to_dict()
    del old["weak_pilot_ids"]
    for k in ("n_weak_items", "weak_cost_paid", "weak_confidence"):
        del old["pilot"][k]
    before = Advice.from_dict(old)
    assert before.weak_pilot_ids == () and before.pilot.n_weak_items == 0
    out = lm("run", "--advice", str(path), "--max-steps", "5", "--out", str(tmp_path / "runs"))
    assert out.code == 0, out.text
    assert "the advice's 16 weak pilot items ($1.60" in out.stdout
    (result,) = (tmp_path / "runs").glob("*.json")
    r = json.loads(result.read_text())
    assert r["config"]["weak_pilot"] == list(a.weak_pilot_ids) and r["n_weak_pilot"] == 16
    assert (r["n_weak"], r["n_gold"]) == (a.n_weak, a.n_gold)
    assert r["n_weak_train"] + r["n_weak_val"] == r["n_weak"] - 16  # the rest bought in the run
    assert r["spent"] == pytest.approx(r["n_gold"] * 1.0 + r["n_weak"] * 0.1)
    assert r["spent"] <= 32.0 + 1e-9
