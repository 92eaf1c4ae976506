"""One run: (task, method, allocation, weak cost, model, seed) -> result.

The run buys labels through the ledger (training, validation and few-shot labels alike), trains
the method's stages with a fresh learner, and evaluates on the test split."""

from __future__ import annotations

import functools
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelmix.classifier import PRECOMPUTED, Classifier
from labelmix.config import RunConfig
from labelmix.errors import BudgetError, ConfigError
from labelmix.labels.budget import Ledger
from labelmix.labels.oracle import Oracle
from labelmix.labels.weak import WeakLabeler
from labelmix.methods import Method, StageSpec, get_method
from labelmix.metrics import (
    CI_METHOD,
    accuracy,
    auroc,
    bootstrap_ci,
    pack_correct,
    prior_matching_threshold,
)
from labelmix.paths import data_dir_from_env
from labelmix.prompts import Prefixer, build_prompt
from labelmix.result import RunResult
from labelmix.seeds import run_rng
from labelmix.tasks.base import Example
from labelmix.tasks.loading import load_splits
from labelmix.tasks.registry import get_task
from labelmix.tasks.splits import Splits, SplitSizes
from labelmix.train import sampling
from labelmix.train.loop import Learner
from labelmix.train.probe import Features
from labelmix.train.stages import STANDARDIZE_N, StageChain
from labelmix.train.weak_labeler import make_weak_labeler

RAW_THRESHOLD = "log-odds > 0 (probability > 0.5)"
CALIBRATED_THRESHOLD = (
    "prior-matched: the quantile of the test inputs' scores that labels the prompt's "
    "(Laplace-smoothed) share of positives positive; uses no test labels"
)


# ---- shared, per-process caches: splits, weak labels and models are reused across runs ----


def _task_stamp(task: str) -> str:
    """A `file:` task's file as it is now (size, modification time), so the in-memory caches
    below never serve a file's old contents after it was edited; "" for every other task."""
    from labelmix.tasks.user_file import PREFIX

    if not task.startswith(PREFIX):
        return ""
    try:
        st = Path(task[len(PREFIX) :]).expanduser().stat()
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def cached_splits(task: str, data_dir: str | None, sizes: SplitSizes, data_seed: int) -> Splits:
    return _splits(task, data_dir, sizes, data_seed, _task_stamp(task))


@functools.lru_cache(maxsize=32)
def _splits(task: str, data_dir: str | None, sizes: SplitSizes, data_seed: int, _s: str) -> Splits:
    return load_splits(get_task(task), Path(data_dir) if data_dir else None, sizes, data_seed)


def _weights_key(model: str) -> str:
    """What the in-memory caches key a model by: its weights (as the disk caches do), not its
    name, so a folder overwritten with other weights is not served from memory."""
    from labelmix.models.loading import resolve_model

    return resolve_model(model).cache_key


def cached_weak_labeler(
    task: str,
    data_dir: str | None,
    sizes: SplitSizes,
    data_seed: int,
    weak_model: str,
    labeler: str = "probe",
) -> WeakLabeler:
    """The weak labels of `labeler` (probe, finetune, prompt, column[:SOURCE]); a file of the
    user's own weak labels is keyed by its state like a `file:` task."""
    from labelmix.labels.weak import column_source, parse_labeler

    kind, arg = parse_labeler(labeler)
    stamp = _task_stamp(task)
    if kind == "column":
        stamp += "|" + _task_stamp(f"file:{column_source(task, arg)[0]}")
    return _weak_labeler(
        task, data_dir, sizes, data_seed, weak_model, labeler, _weights_key(weak_model), stamp
    )


@functools.lru_cache(maxsize=32)
def _weak_labeler(
    task: str,
    data_dir: str | None,
    sizes: SplitSizes,
    data_seed: int,
    weak_model: str,
    labeler: str,
    _w: str,
    _s: str,
) -> WeakLabeler:
    splits = cached_splits(task, data_dir, sizes, data_seed)
    return make_weak_labeler(labeler, task, weak_model, splits, price=0.0, seed=data_seed)


def cached_extractor(model: str, layer: int | None):  # type: ignore[no-untyped-def]
    return _extractor(model, layer, _weights_key(model))


@functools.lru_cache(maxsize=4)
def _extractor(model: str, layer: int | None, _w: str):  # type: ignore[no-untyped-def]
    from labelmix.models.features import FeatureExtractor
    from labelmix.models.loading import resolve_model

    return FeatureExtractor(resolve_model(model), layer=layer)


def cached_scorer(model: str):  # type: ignore[no-untyped-def]
    return _scorer(model, _weights_key(model))


@functools.lru_cache(maxsize=2)
def _scorer(model: str, _w: str):  # type: ignore[no-untyped-def]
    from labelmix.models.icl import PromptScorer
    from labelmix.models.loading import resolve_model

    return PromptScorer(resolve_model(model))


def check_models_loadable(*models: str | None) -> None:
    """Fail in a second, before any training, when a model cannot be loaded (a Hub id that is
    unreachable or unknown, a folder whose config.json transformers cannot read)."""
    from labelmix.models.loading import check_loadable, resolve_model

    for name in dict.fromkeys(m for m in models if m):
        check_loadable(resolve_model(name))


def resolved_data_dir(cfg: RunConfig) -> str | None:
    if cfg.data_dir:
        return cfg.data_dir
    env = data_dir_from_env()
    return str(env) if env else None


def make_learner(
    cfg: RunConfig, fit_texts: Sequence[str], features: Features | None = None
) -> Learner:
    """A fresh learner for every run, so no state leaks between runs. `features`: the probe's
    feature source when not the model's own (a user's precomputed features)."""
    return build_learner(
        cfg.trainer,
        cfg.model,
        cfg.seed,
        fit_texts,
        layer=cfg.layer,
        features=features,
        lora_rank=cfg.lora_rank,
        max_length=cfg.max_length,
        gradient_checkpointing=cfg.gradient_checkpointing,
        load_in_4bit=cfg.load_in_4bit,
    )


def build_learner(
    trainer: str,
    model: str,
    seed: int,
    fit_texts: Sequence[str],
    *,
    layer: int | None = None,
    features: Features | None = None,
    lora_rank: int = 8,
    max_length: int = 256,
    gradient_checkpointing: bool = False,
    load_in_4bit: bool = False,
) -> Learner:
    """The learner of a trainer (probe or lora) from its settings, for a run or a project."""
    if trainer == "probe":
        from labelmix.train.probe import ProbeLearner

        source = features if features is not None else cached_extractor(model, layer)
        return ProbeLearner(source, fit_texts, seed)
    from labelmix.models.loading import resolve_model
    from labelmix.models.lora import LoraLearner

    return LoraLearner(
        resolve_model(model),
        seed,
        rank=lora_rank,
        max_length=max_length,
        gradient_checkpointing=gradient_checkpointing,
        load_in_4bit=load_in_4bit,
    )


def inputs_featurized(cfg: RunConfig, splits: Splits) -> list[str]:
    """The inputs whose features a probe run computes, as `_train_stages` draws them: select and
    test, and of the pool the first STANDARDIZE_N of the run's order and the labels it buys there
    (random sampling takes them in that order), or all of it when the run ranks the pool (by
    uncertainty or weak-label confidence). Empty for runs whose inputs carry a few-shot prefix:
    their texts are the prompts, known only once the run has bought its labels."""
    method = get_method(cfg.method)
    if cfg.trainer != "probe" or method.prompt_only or cfg.k_shots > 0:
        return []
    pool = splits.pool
    if any(spec.sampling != "random" for spec in method.stages):
        picked = pool
    else:
        order = run_rng(cfg.seed).permutation(len(pool))  # as run_config draws it
        pilot = {*(cfg.pilot or ()), *(cfg.weak_pilot or ())}  # bought before: anywhere in the pool
        # the stages skip the pilots' items, so they may reach that many items further
        reach = sum(cfg.labels_used()) + len(pilot)
        picked = [pool[i] for i in order[: max(STANDARDIZE_N, reach)]]
        seen = {e.id for e in picked}
        picked += [e for e in pool if e.id in pilot and e.id not in seen]
    return [e.text for e in splits.select + splits.test + picked]


# ---- the run ----


def _evaluate(y: np.ndarray, logits: np.ndarray, threshold: float, seed: int) -> dict[str, Any]:
    lo, hi = bootstrap_ci(y, logits, "accuracy", threshold=threshold, seed=seed)
    alo, ahi = bootstrap_ci(y, logits, "auroc", seed=seed)
    return {
        "accuracy": accuracy(y, logits, threshold),
        "accuracy_ci_low": lo,
        "accuracy_ci_high": hi,
        "auroc": auroc(y, logits),
        "auroc_ci_low": alo,
        "auroc_ci_high": ahi,
        "test_correct": pack_correct(y, logits, threshold),
    }


def _evaluate_selection(y: np.ndarray, logits: np.ndarray, threshold: float) -> dict[str, Any]:
    """The selection split's scores: what every choice among configurations is made on."""
    return {
        "selection_accuracy": accuracy(y, logits, threshold),
        "selection_auroc": auroc(y, logits),
    }


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("labelmix", "torch", "transformers", "peft", "datasets", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


@dataclass
class RunOutput:
    """A run's JSON-able record and, for methods that train, the classifier it leaves behind."""

    record: dict[str, Any]
    classifier: Classifier | None


def execute_run(cfg: RunConfig, save_to: Path | None = None) -> dict[str, Any]:
    """Run one configuration end to end and return its JSON-able result; with `save_to`, also
    save the trained classifier there (see labelmix.classifier)."""
    out = run_config(cfg)
    if save_to is not None:
        if out.classifier is None:
            raise ConfigError(f"{cfg.method} trains nothing, so there is no classifier to save")
        out.classifier.save(save_to)
        out.record["saved_classifier"] = str(save_to)
    return out.record


def run_config(
    cfg: RunConfig,
    *,
    splits: Splits | None = None,
    weak: WeakLabeler | None = None,
    features: Features | None = None,
) -> RunOutput:
    """One run from a configuration. By default the task's splits, the weak labeler and the
    features all come from the names in `cfg`; a library caller may pass its own instead (its own
    data already split, its own weak labels, precomputed features)."""
    t0 = time.perf_counter()
    method = get_method(cfg.method)
    cfg.check_buys_labels()  # before any work: data, weak labels and models
    data_dir = resolved_data_dir(cfg)
    own_splits = splits is not None
    if splits is None:
        splits = cached_splits(cfg.task, data_dir, cfg.split_sizes, cfg.split_seed)
    pilot = pilot_positions(cfg, splits.pool)  # a pilot of another pool fails before any work
    weak_pilot = pilot_positions(cfg, splits.pool, weak_only=True)
    check_models_loadable(  # before the weak labeler trains
        cfg.model if features is None else None, cfg.weak_model if weak is None else None
    )
    if cfg.trainer == "probe" and features is None:
        cached_extractor(cfg.model, cfg.layer)  # checks the layer; loads no weights yet
    if weak is None and own_splits:  # the weak labeler learns from the caller's weak_train
        weak = make_weak_labeler(
            cfg.weak_labeler, cfg.task, cfg.weak_model, splits, 0.0, cfg.split_seed
        )
    elif weak is None:
        weak = cached_weak_labeler(
            cfg.task, data_dir, cfg.split_sizes, cfg.split_seed, cfg.weak_model, cfg.weak_labeler
        )
    weak = weak.priced(cfg.weak_cost)
    oracle = Oracle.from_examples(splits.pool, cfg.gold_cost)  # labels are bought from the pool
    ledger = Ledger(cfg.budget)
    _buy_pilot(pilot, splits.pool, oracle, weak, ledger, weak_pilot)
    alloc = cfg.allocation()
    t_setup = time.perf_counter() - t0

    pool, test, select = splits.pool, splits.test, splits.select
    y_test = np.array([e.label for e in test], dtype=float)
    y_select = np.array([e.label for e in select], dtype=float)
    rng = run_rng(cfg.seed)
    order = rng.permutation(len(pool))

    notes: list[str] = list(splits.notes)
    stage_reports: list[dict[str, Any]] = []
    classifier: Classifier | None = None
    if method.prompt_only:
        logits, sel_logits, extra = _few_shot(
            cfg, method, pool, test, select, order, oracle, ledger
        )
        metrics_raw = _evaluate(y_test, logits, 0.0, cfg.seed)
        threshold = extra["threshold"]
        metrics = _evaluate(y_test, logits, threshold, cfg.seed)
        metrics.update(
            _evaluate_selection(
                y_select,
                sel_logits,
                prior_matching_threshold(sel_logits, extra["prompt_positive_rate"]),
            )
        )
        extra["raw_accuracy"] = metrics_raw["accuracy"]
        extra["raw_accuracy_ci_low"] = metrics_raw["accuracy_ci_low"]
        extra["raw_accuracy_ci_high"] = metrics_raw["accuracy_ci_high"]
        threshold_desc = CALIBRATED_THRESHOLD
    else:
        logits, sel_logits, stage_reports, extra, classifier = _train_stages(
            cfg,
            method,
            pool,
            test,
            select,
            order,
            weak,
            oracle,
            ledger,
            rng,
            notes,
            features,
            pilot,
            weak_pilot,
        )
        threshold = 0.0
        metrics = _evaluate(y_test, logits, threshold, cfg.seed)
        metrics.update(_evaluate_selection(y_select, sel_logits, threshold))
        threshold_desc = RAW_THRESHOLD

    weak_test = weak.peek([e.id for e in test])
    summary = ledger.summary()
    spent = float(summary["spent"])  # type: ignore[arg-type]
    if spent > cfg.budget + 1e-6:
        raise BudgetError(f"internal error: spent ${spent} above budget ${cfg.budget}")
    spent_weak = float(summary["spent_weak"])  # type: ignore[arg-type]
    result: dict[str, Any] = {
        "key": cfg.key(),
        "status": "ok",
        "task": cfg.task,
        "method": cfg.method,
        "trainer": cfg.trainer,
        "model": cfg.model,
        "weak_model": cfg.weak_model,
        "weak_labeler": cfg.weak_labeler,
        "seed": cfg.seed,
        "budget": cfg.budget,
        "gold_frac": cfg.gold_frac,
        "weak_cost": cfg.weak_cost,
        "gold_cost": cfg.gold_cost,
        "shots": cfg.k_shots,
        "alloc_n_weak": alloc.n_weak,
        "alloc_n_gold": alloc.n_gold,
        **summary,
        **_pilot_record(pilot, ledger, weak_pilot),
        "weak_share_spent": spent_weak / spent if spent > 0 else float("nan"),
        **metrics,
        "accuracy_threshold": threshold_desc,
        "threshold_value": threshold,
        "ci_method": CI_METHOD,
        "accuracy_vs_weak": accuracy((weak_test > 0.5).astype(float), logits, threshold),
        "weak_label_test_accuracy": accuracy(y_test, weak_test - 0.5),
        "n_test": len(test),
        "n_select": len(select),
        "n_pool": len(pool),
        "pool_limited": bool(extra.pop("pool_limited", False)),
        "stages": stage_reports,
        "notes": notes,
        "time_s": time.perf_counter() - t0,
        "time_setup_s": t_setup,
        "config": cfg.to_dict(),
        "versions": _versions(),
        **extra,
    }
    return RunOutput(RunResult.from_dict(result).to_dict(), classifier)


def _few_shot(
    cfg: RunConfig,
    method: Method,
    pool: list[Example],
    test: list[Example],
    select: list[Example],
    order: np.ndarray,
    oracle: Oracle,
    ledger: Ledger,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """k gold demonstrations bought from the oracle, one prompt shared by every test input."""
    k = cfg.k_shots
    shots = [pool[i] for i in order[:k]]
    labels = oracle.buy([e.id for e in shots], ledger, "few_shot").astype(int)
    demos = [(e.text, int(y)) for e, y in zip(shots, labels, strict=True)]
    scorer = cached_scorer(cfg.model)
    prefix = build_prompt(demos, "")[: -len("\n")]  # the demonstrations; each input adds "text\n"
    logits = scorer.score_shared(prefix, [f"{e.text}\n" for e in test])
    sel_logits = scorer.score_shared(prefix, [f"{e.text}\n" for e in select])
    positive_rate = (labels.sum() + 1) / (k + 2)
    threshold = prior_matching_threshold(logits, positive_rate)
    return (
        logits,
        sel_logits,
        {"threshold": threshold, "prompt_positive_rate": float(positive_rate)},
    )


def _train_stages(
    cfg: RunConfig,
    method: Method,
    pool: list[Example],
    test: list[Example],
    select: list[Example],
    order: np.ndarray,
    weak: WeakLabeler,
    oracle: Oracle,
    ledger: Ledger,
    rng: np.random.Generator,
    notes: list[str],
    features: Features | None = None,
    pilot: list[int] | None = None,
    weak_pilot: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], dict[str, Any], Classifier]:
    """Train the method's stages. `pilot`: pool positions whose labels were bought before the
    run; each stage trains on them plus `sizes` more items of its own (none shared).
    `weak_pilot`: positions whose weak label alone was bought before, in the weak stage."""
    pilot = pilot or []
    weak_pilot = weak_pilot or []
    sizes, pool_limited = _extra_labels(cfg, method, len(pool), len(pilot), notes, len(weak_pilot))
    used = np.zeros(len(pool), dtype=bool)
    used[pilot] = True  # already in every stage: the stages choose among the other items
    used[weak_pilot] = True
    before = {"weak": pilot + weak_pilot, "gold": pilot}  # bought before the run, by source
    chosen: dict[str, list[int]] = {}
    # Examples chosen without a model (random, most-confident) are fixed up front so that the
    # few-shot bank can be drawn from them before any training.
    for spec in method.stages:
        if spec.sampling != "uncertainty":
            chosen[spec.source] = before[spec.source] + _choose_static(
                spec, sizes[spec.source], pool, order, used, weak, rng
            )

    prefixer = _make_prefixer(cfg, method, pool, chosen, weak)
    test_inputs = [prefixer(e) for e in test]
    select_inputs = [prefixer(e) for e in select]
    learner = make_learner(cfg, [prefixer(pool[i]) for i in order[:STANDARDIZE_N]], features)
    chain = StageChain(learner, cfg.effective_schedule(), method.name, cfg.seed)
    y_test = np.array([e.label for e in test], dtype=float)  # stage diagnostics only
    for i, spec in enumerate(method.stages):
        n = sizes[spec.source]
        if spec.sampling == "uncertainty":
            chosen[spec.source] = before[spec.source] + _choose_uncertain(
                spec, n, pool, used, learner, prefixer, rng, trained=bool(chain.reports)
            )
        idx = chosen[spec.source]
        if len(idx) < 1:
            chain.skip(i, spec)
            continue
        train_pos, val_pos = chain.split(len(idx), spec, rng)
        train_idx = [idx[j] for j in train_pos]
        val_idx = [idx[j] for j in val_pos]
        seller = weak if spec.source == "weak" else oracle
        y_train = seller.buy([pool[j].id for j in train_idx], ledger, "train")
        y_val = seller.buy([pool[j].id for j in val_idx], ledger, "val")
        report = chain.train(
            i,
            spec,
            len(idx),
            ([prefixer(pool[j]) for j in train_idx], y_train),
            ([prefixer(pool[j]) for j in val_idx], y_val),
        )
        if pilot:
            report["n_pilot"] = len(pilot)  # of the stage's n_train + n_val labels
        if weak_pilot and spec.source == "weak":
            report["n_weak_pilot"] = len(weak_pilot)
        if cfg.trainer == "probe":
            # Diagnostics only (never used to choose anything): test accuracy after each stage,
            # so a report can show what each stage added.
            report["test_accuracy_after"] = accuracy(
                y_test, learner.predict(learner.encode(test_inputs))
            )
    logits = learner.predict(learner.encode(test_inputs))
    sel_logits = learner.predict(learner.encode(select_inputs))
    extra: dict[str, Any] = {
        "prefix_bank": len(prefixer.bank) if cfg.k_shots else 0,
        "pool_limited": pool_limited,
    }
    model = cfg.model if features is None else PRECOMPUTED
    classifier = Classifier(learner, cfg.trainer, model, prefixer, cfg.seed, cfg.key())
    return logits, sel_logits, chain.reports, extra, classifier


def pilot_positions(cfg: RunConfig, pool: Sequence[Example], weak_only: bool = False) -> list[int]:
    """Where the pilot's items (`weak_only`: the weak pilot's) sit in the run's pool; every one
    must be there (a pilot bought on another task, split or seed names items this run cannot
    train on)."""
    ids = cfg.weak_pilot if weak_only else cfg.pilot
    if not ids:
        return []
    name = "weak pilot" if weak_only else "pilot"
    where = {e.id: i for i, e in enumerate(pool)}
    missing = [i for i in ids if i not in where]
    if missing:
        raise ConfigError(
            f"{len(missing)} of the {name}'s {len(ids)} items are not in this run's pool of "
            f"{len(pool)} examples (e.g. {missing[0]!r}): a {name} must come from the pool of "
            "the same task, split sizes and data seed"
        )
    return [where[i] for i in ids]


def _buy_pilot(
    pilot: list[int],
    pool: Sequence[Example],
    oracle: Oracle,
    weak: WeakLabeler,
    ledger: Ledger,
    weak_pilot: Sequence[int] = (),
) -> None:
    """Charge the pilot's gold and weak labels (the weak pilot's weak labels) once, before the
    run buys anything: the stages that train on them later own them already (the ledger
    charges a label once)."""
    ids = [pool[i].id for i in pilot]
    oracle.buy(ids, ledger, "pilot")
    weak.buy(ids + [pool[i].id for i in weak_pilot], ledger, "pilot")


def _pilot_record(
    pilot: list[int], ledger: Ledger, weak_pilot: Sequence[int] = ()
) -> dict[str, Any]:
    """The pilots' sizes and price in a run's record (nothing without a pilot)."""
    if not pilot and not weak_pilot:
        return {}
    spent = sum(p.price for p in ledger.purchases if p.purpose == "pilot")
    out: dict[str, Any] = {"n_pilot": len(pilot), "spent_pilot": round(spent, 6)}
    if weak_pilot:
        out["n_weak_pilot"] = len(weak_pilot)
    return out


def _extra_labels(
    cfg: RunConfig,
    method: Method,
    n_pool: int,
    n_pilot: int,
    notes: list[str],
    n_weak_pilot: int = 0,
) -> tuple[dict[str, int], bool]:
    """How many labels of each source the stages buy beyond the pilot's (the allocation with
    the pilot, config.allocate_with_pilot, less the pilot), and whether the pool capped them.
    A pilot item is in both stages, every other item in one; the pool is finite: every gold
    label the budget buys is kept and the weak ones are capped."""
    labels = cfg.allocation_with_pilot()
    sizes = {"weak": labels.n_weak - n_pilot - n_weak_pilot, "gold": labels.n_gold - n_pilot}
    free = n_pool - n_pilot - n_weak_pilot
    if sum(sizes[s.source] for s in method.stages) <= free:
        return sizes, False
    room = free - sum(sizes[s.source] for s in method.stages if s.source == "gold")
    if room < 0:
        notes.append(
            f"pool has {n_pool} examples: gold labels capped at {n_pilot + free} "
            f"(allocation {labels.n_gold})"
        )
        sizes["gold"] = free
        room = 0
    if any(s.source == "weak" for s in method.stages):
        notes.append(
            f"pool has {n_pool} examples: weak labels capped at {n_pilot + n_weak_pilot + room} "
            f"(allocation {labels.n_weak})"
        )
    sizes["weak"] = room
    return sizes, True


def _choose_static(
    spec: StageSpec,
    n: int,
    pool: list[Example],
    order: np.ndarray,
    used: np.ndarray,
    weak: WeakLabeler,
    rng: np.random.Generator,
) -> list[int]:
    free = np.array([i for i in order if not used[i]], dtype=int)
    n = min(n, len(free))
    if spec.sampling == "confident":
        conf = weak.confidences([pool[i].id for i in free])
        picked = free[sampling.confident_choice(conf, n, spec.temperature, rng)]
    else:
        picked = free[:n]  # `order` is already a seeded permutation
    used[picked] = True
    return [int(i) for i in picked]


def _choose_uncertain(
    spec: StageSpec,
    n: int,
    pool: list[Example],
    used: np.ndarray,
    learner: Learner,
    prefixer: Prefixer,
    rng: np.random.Generator,
    trained: bool,
) -> list[int]:
    free = np.flatnonzero(~used)
    n = min(n, len(free))
    if n == 0:
        return []
    if not trained:
        picked = free[sampling.random_choice(len(free), n, rng)]
    else:
        logits = learner.predict(learner.encode([prefixer(pool[i]) for i in free]))
        probs = 1.0 / (1.0 + np.exp(-logits))
        picked = free[
            sampling.uncertainty_choice(probs, n, spec.temperature, rng, spec.uncertainty)
        ]
    used[picked] = True
    return [int(i) for i in picked]


def _make_prefixer(
    cfg: RunConfig,
    method: Method,
    pool: list[Example],
    chosen: dict[str, list[int]],
    weak: WeakLabeler,
) -> Prefixer:
    """The bank: the first max(16, 2k) weak-labelled training examples (hard weak labels), topped
    up with gold ones; its labels were bought for training, so the prefix costs nothing more."""
    k = cfg.k_shots
    if k == 0:
        return Prefixer([], 0, cfg.seed)
    size = max(16, 2 * k)
    bank: list[tuple[Example, int]] = []
    for i in chosen.get("weak", [])[:size]:
        bank.append((pool[i], int(weak.peek([pool[i].id])[0] > 0.5)))
    in_bank = {pool[i].id for i in chosen.get("weak", [])[:size]}
    # A pilot item is in both stages: it enters the bank once, with its weak label.
    gold_extra = [i for i in chosen.get("gold", []) if pool[i].id not in in_bank]
    for i in gold_extra[: size - len(bank)]:
        bank.append((pool[i], pool[i].label))
    if len(bank) < k + 1:
        raise BudgetError(
            f"a {k}-shot prefix needs {k + 1} labelled examples; only {len(bank)} were bought "
            f"in this run ({method.name}); lower --shots or raise the budget"
        )
    return Prefixer(bank, k, cfg.seed)
