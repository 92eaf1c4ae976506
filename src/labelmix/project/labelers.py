"""Machine weak labels without a file round trip. Three sources, each returning P(label 1) for
texts: a probe on a small model's frozen features trained on the gold labels bought so far (as
the simulation's weak labeler is trained on its weak_train gold labels), few-shot prompting of a
local LM with gold labels as demonstrations, or the caller's own function (an LLM API, a rule)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from labelmix.errors import ConfigError, DataError

LabelFn = Callable[[list[str]], Sequence[float]]
KINDS = ("probe", "icl")
MIN_GOLD_PROBE = 4  # a probe needs a few labels of each class to train and to early-stop on


def checked_probs(values: object, n: int, name: str) -> np.ndarray:
    """A labeler's output as float32 probabilities (the precision weak labels are trained in)."""
    try:
        p = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise DataError(f"labeler {name} returned {type(values).__name__}, not numbers") from None
    if len(p) != n:
        raise DataError(f"labeler {name} returned {len(p)} labels for {n} texts: one per text")
    if not np.all((p >= 0) & (p <= 1)):
        raise DataError(f"labeler {name} returned values outside [0, 1]: give P(label 1) or 0/1")
    return p.astype(np.float32)


def probe_labeler(
    model: str, gold_texts: list[str], gold_y: np.ndarray, seed: int, layer: int | None = None
) -> LabelFn:
    """A linear probe on `model`'s frozen features of the gold-labelled items, early-stopped on a
    held-out fifth of them: the recipe (schedule, split, loss) of labelmix's simulated weak
    labeler (labelmix.train.weak_labeler), trained on the gold labels this project bought."""
    from labelmix.run import cached_extractor
    from labelmix.train.loop import torch_threads, train_stage
    from labelmix.train.probe import ProbeLearner
    from labelmix.train.weak_labeler import WEAK_SCHEDULE

    y = np.asarray(gold_y, dtype=np.float32)
    if len(y) < MIN_GOLD_PROBE or len(set(y.tolist())) < 2:
        raise DataError(
            f"a probe labeler trains on the gold labels bought so far: it needs at least "
            f"{MIN_GOLD_PROBE} with both labels 0 and 1 (this project has {len(y)}"
            f"{', all ' + str(int(y[0])) if len(y) and len(set(y.tolist())) == 1 else ''}); "
            "buy gold labels first"
        )
    extractor = cached_extractor(model, layer)
    n_val = max(2, int(round(0.2 * len(y))))

    def label(texts: list[str]) -> np.ndarray:
        # Standardisation from the labeler's training texts and the texts it labels (training
        # side, no labels), as the simulated labeler uses weak_train and the pool.
        learner = ProbeLearner(extractor, gold_texts + texts, seed)
        learner.encode(gold_texts)  # features with every thread; a linear head's steps with one
        with torch_threads(1):
            train_stage(
                learner,
                gold_texts[n_val:],
                y[n_val:],
                gold_texts[:n_val],
                y[:n_val],
                WEAK_SCHEDULE,
                "xent",
                seed,
                desc="weak labeler",
            )
        logits = learner.predict(learner.encode(texts))
        return 1.0 / (1.0 + np.exp(-logits))

    return label


def icl_labeler(
    model: str, gold_texts: list[str], gold_y: np.ndarray, shots: int, seed: int
) -> LabelFn:
    """Few-shot prompting of a local LM (labelmix's icl scorer): `shots` gold labels drawn with
    the seed are the demonstrations; the log-odds of "1" against "0" become probabilities at the
    threshold that labels the demonstrations' (smoothed) share of positives positive, as the
    simulated few_shot method thresholds its scores."""
    from labelmix.metrics import prior_matching_threshold
    from labelmix.prompts import build_prompt
    from labelmix.run import cached_scorer

    if shots < 0:
        raise ConfigError(f"shots {shots} must be >= 0")
    y = np.asarray(gold_y, dtype=int)
    if shots > len(y):
        raise DataError(
            f"{shots} demonstrations need {shots} gold labels; this project has {len(y)}: buy "
            "gold labels first or lower --shots"
        )
    pick = np.random.default_rng(seed).permutation(len(y))[:shots]
    demos = [(gold_texts[i], int(y[i])) for i in pick]
    scorer = cached_scorer(model)
    positive_rate = (sum(v for _, v in demos) + 1) / (shots + 2)

    def label(texts: list[str]) -> np.ndarray:
        if demos:
            prefix = build_prompt(demos, "")[: -len("\n")]
            logits = scorer.score_shared(prefix, [f"{t}\n" for t in texts])
        else:
            logits = scorer.score([f"{t}\n" for t in texts])
        threshold = prior_matching_threshold(logits, positive_rate)
        return 1.0 / (1.0 + np.exp(-(logits - threshold)))

    return label
