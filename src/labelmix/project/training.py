"""Training on what a project bought: a method's stages, run by the stage code of a simulated run
(labelmix.run), on the labelled items only; and an estimate of the classifier's accuracy by
cross-validation on the gold labels.

The same seed gives the simulation's classifier. A project's items are in a seeded order, the
permutation a simulated run draws for its pool (`run_rng(seed).permutation(n)`), and every random
draw after it is the simulation's: each stage's train/validation split, its batch order and
initialisation, the feature standardisation on the first STANDARDIZE_N items of that order (their
texts only: no label of an unlabelled item exists or is read). A stage lists its items as the
simulation's stage does: in the seeded order when they were drawn in it (random sampling), in
the data's order when a model chose them (uncertainty sampling).

The accuracy estimate: k-fold cross-validation over the gold labels, each fold scored by the
method retrained without it (its weak labels and the other folds' gold labels; early stopping
uses only the gold labels it trains on), so no gold label scores a model that saw it. The 95%
interval is Wilson's score interval for the share of out-of-fold gold labels scored right: it
stays honest with few labels (a percentile bootstrap of 12 labels all right says [1.00, 1.00];
Wilson says [0.76, 1.00]). It treats the out-of-fold outcomes as independent and leaves out the
spread between the fold models, so it is a little narrow; what it cannot see is said in the
notes: weak labels from a labeler that learnt from the gold labels, gold labels chosen by
uncertainty (not a sample of your data)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labelmix.errors import ConfigError, DataError
from labelmix.methods import Method, get_method
from labelmix.train.schedule import Schedule

TRAINERS = ("probe", "lora")
MIN_CV_GOLD = 4  # fewer gold labels than this estimate nothing (two folds of two)
Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class TrainSettings:
    """How a project trains: the method (its stages), the trainer and model, and the seed."""

    method: str = "seq_sft"
    trainer: str = "probe"
    model: str = "smollm2"
    seed: int = 0
    folds: int = 5  # cross-validation folds over the gold labels; 0: no estimate
    layer: int | None = None  # probe: the hidden layer of the features
    schedule: Schedule | None = None  # None: the trainer's default, as in a run
    lora_rank: int = 8
    max_length: int = 256

    def __post_init__(self) -> None:
        method = get_method(self.method)
        if method.prompt_only:
            raise ConfigError(
                f"{self.method} trains nothing; a project trains a classifier: use seq_sft, "
                "gold_only, weak_only, seq_sft_logconf or seq_sft_active"
            )
        if method.shots:
            raise ConfigError(
                f"{self.method} puts a {method.shots}-shot prefix on every input, which projects "
                "do not support yet; use seq_sft or another method without a prefix"
            )
        if self.trainer not in TRAINERS:
            raise ConfigError(f"trainer {self.trainer!r} must be one of {', '.join(TRAINERS)}")
        for name in ("seed", "folds", "lora_rank", "max_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name} {v!r} must be an integer >= 0")
        if self.seed >= 2**32:
            raise ConfigError(f"seed {self.seed} must be below 2**32")
        if self.folds == 1:
            raise ConfigError("folds 1 cannot hold anything out: use 0 (no estimate) or >= 2")
        from labelmix.models.loading import check_model_name

        check_model_name(self.model)

    @property
    def method_spec(self) -> Method:
        return get_method(self.method)

    def effective_schedule(self) -> Schedule:
        from labelmix.train.schedule import LORA_SCHEDULE, PROBE_SCHEDULE

        if self.schedule is not None:
            return self.schedule
        return LORA_SCHEDULE if self.trainer == "lora" else PROBE_SCHEDULE


@dataclass(frozen=True)
class Bought:
    """Every item's text (in the data's order), the project's seeded order, and the labels bought
    per source: item positions (in the data's order) and their labels, in the seeded order."""

    texts: list[str]
    order: np.ndarray  # order[r] = the position of the item of rank r
    positions: dict[str, list[int]]
    labels: dict[str, np.ndarray]  # float32, P(label 1); 0/1 for people's labels

    def without_gold(self, drop: set[int]) -> Bought:
        keep = [j for j, p in enumerate(self.positions["gold"]) if p not in drop]
        return Bought(
            self.texts,
            self.order,
            {**self.positions, "gold": [self.positions["gold"][j] for j in keep]},
            {**self.labels, "gold": self.labels["gold"][keep]},
        )


@dataclass
class Fitted:
    learner: Any
    stages: list[dict[str, Any]]


@dataclass
class Estimate:
    """Accuracy on gold labels the classifier that scored them did not train on."""

    accuracy: float
    low: float
    high: float
    how: str


@dataclass
class Trained:
    learner: Any
    stages: list[dict[str, Any]]
    estimate: Estimate | None
    notes: list[str] = field(default_factory=list)


def _learner(settings: TrainSettings, fit_texts: list[str]) -> Any:
    """The learner a run's make_learner builds for the same trainer, model and seed."""
    from labelmix.run import build_learner

    return build_learner(
        settings.trainer,
        settings.model,
        settings.seed,
        fit_texts,
        layer=settings.layer,
        lora_rank=settings.lora_rank,
        max_length=settings.max_length,
    )


def _stage_items(spec_sampling: str, bought: Bought, source: str) -> tuple[list[int], np.ndarray]:
    """A stage's items in the order the simulation's stage lists them (module docstring)."""
    pos, y = bought.positions[source], bought.labels[source]
    if spec_sampling != "uncertainty":
        return pos, y
    by_pos = np.argsort(pos, kind="stable")
    return [pos[j] for j in by_pos], y[by_pos]


def fit(settings: TrainSettings, bought: Bought) -> Fitted:
    """Train the method's stages on the bought labels, as a simulated run's stage loop does."""
    # the simulation's own stage chain, so a project's stages cannot drift from a simulated run's
    from labelmix.seeds import run_rng
    from labelmix.train.stages import STANDARDIZE_N, StageChain

    method = settings.method_spec
    rng = run_rng(settings.seed)
    order = rng.permutation(len(bought.texts))  # the draw that made the project's order
    if not np.array_equal(order, bought.order):
        raise DataError(
            "the project's item order does not follow its seed; the database was edited"
        )
    texts = bought.texts
    learner = _learner(settings, [texts[i] for i in order[:STANDARDIZE_N]])
    chain = StageChain(learner, settings.effective_schedule(), method.name, settings.seed)
    for i, spec in enumerate(method.stages):
        idx, y = _stage_items(spec.sampling, bought, spec.source)
        if len(idx) < 1:
            chain.skip(i, spec)
            continue
        train_pos, val_pos = chain.split(len(idx), spec, rng)
        chain.train(
            i,
            spec,
            len(idx),
            ([texts[idx[j]] for j in train_pos], y[train_pos]),
            ([texts[idx[j]] for j in val_pos], y[val_pos]),
        )
    if not chain.trained:
        sources = " or ".join(dict.fromkeys(method.sources))
        raise DataError(f"{method.name} trains on {sources} labels and none are bought yet")
    return Fitted(learner, chain.reports)


def train(settings: TrainSettings, bought: Bought) -> Trained:
    """The classifier on every bought label, and its accuracy estimated on the gold labels."""
    final = fit(settings, bought)
    notes: list[str] = []
    gold = bought.positions["gold"]
    y_gold = bought.labels["gold"]
    estimate: Estimate | None = None
    if settings.folds == 0:
        notes.append("no accuracy estimate (folds 0)")
    elif len(gold) < MIN_CV_GOLD or len(set(y_gold.tolist())) < 2:
        notes.append(
            f"no accuracy estimate: it needs at least {MIN_CV_GOLD} gold labels of both classes "
            f"({len(gold)} bought)"
        )
    elif "gold" not in settings.method_spec.sources:
        logits = _logits(final.learner, [bought.texts[p] for p in gold])
        estimate = _estimate(y_gold, logits, f"on all {len(gold)} gold labels (not trained on)")
    else:
        estimate = _cross_validate(settings, bought)
    return Trained(final.learner, final.stages, estimate, notes)


def _logits(learner: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(learner.predict(learner.encode(texts)), dtype=float)


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a proportion of `correct` out of `n` (95% by default)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = correct / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _estimate(y: np.ndarray, logits: np.ndarray, how: str) -> Estimate:
    """Accuracy (label 1 at logit > 0, as the classifier predicts) and its Wilson interval."""
    correct = int(((np.asarray(logits) > 0) == (np.asarray(y) > 0.5)).sum())
    low, high = wilson_interval(correct, len(y))
    return Estimate(correct / len(y), low, high, f"{how}; 95% Wilson interval")


def _cross_validate(settings: TrainSettings, bought: Bought) -> Estimate:
    """k folds of the gold labels (seeded): each is scored by the method trained on every label
    but that fold's; the out-of-fold scores give the accuracy and its 95% bootstrap interval."""
    gold = bought.positions["gold"]
    k = min(settings.folds, len(gold) // 2)
    shuffled = np.random.default_rng([settings.seed, 0xC5]).permutation(len(gold))
    oof = np.zeros(len(gold))
    for fold in np.array_split(shuffled, k):
        held = {gold[j] for j in fold}
        fitted = fit(settings, bought.without_gold(held))
        oof[fold] = _logits(fitted.learner, [bought.texts[gold[j]] for j in fold])
    return _estimate(
        bought.labels["gold"], oof, f"{k}-fold cross-validation over {len(gold)} gold labels"
    )
