"""Making the weak labels: soft labels for pool and test from one of four labelers
(labelmix.labels.weak.LABELERS), each taught only by `weak_train` (gold labels, a sunk cost, not
charged) or given by the user:

- probe: a linear head on the weak model's frozen features, early-stopped on a held-out part;
- finetune: the weak model with every weight trained as a classifier (labelmix.train.weak_finetune),
  early-stopped and Platt-calibrated on a held-out part;
- prompt: a causal LM prompted with a few weak_train demonstrations (labelmix.train.weak_prompt),
  Platt-calibrated on the rest of weak_train;
- column: the user's own weak labels, as given.

Labels of the trained and prompted labelers are cached on disk, so every run of a sweep shares
them, keyed by everything they depend on: the labeler and its settings, the weak model's
weights, the seed, and the texts *and labels* of every split (a `file:` task whose labels
changed must not be served the old weak labels). A cache file that cannot be read back is
removed and recomputed, with a warning."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labelmix.atomic import atomic_write_bytes
from labelmix.cache import discard_damaged, load_npz
from labelmix.errors import DataError
from labelmix.labels.weak import (
    WeakLabeler,
    WeakLabelReport,
    column_source,
    parse_labeler,
    read_weak_column,
)
from labelmix.paths import cache_dir
from labelmix.tasks.base import Example
from labelmix.tasks.splits import Splits
from labelmix.train.loop import train_stage
from labelmix.train.probe import ProbeLearner
from labelmix.train.schedule import Schedule

if TYPE_CHECKING:
    from labelmix.models.loading import ModelRef

WEAK_SCHEDULE = Schedule(example_passes=30_000, batch_size=32, warmup_steps=40, lr=3e-3)
MIN_CALIBRATION = 4  # labels of both classes a Platt fit needs at the very least


def _digest(header: str, splits: Splits) -> str:
    parts = [header]
    for split in (splits.weak_train, splits.pool, splits.test):
        parts.append("|" + "".join(f"{e.id}{e.label}" for e in split))
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:16]


def _cache_file(
    kind: str, task: str, model_key: str, splits: Splits, seed: int, header: str
) -> Path:
    safe_task = re.sub(r"[^A-Za-z0-9_.-]", "_", task)[-60:]  # file:PATH tasks hold slashes
    tag = "" if kind == "probe" else f"{kind}-"  # the probe's names predate the other labelers
    name = f"{safe_task}-{tag}{model_key}-n{len(splits.weak_train)}-s{seed}-{_digest(header, splits)}.npz"
    return cache_dir() / "weak_labels" / name


def _cache_path(
    task: str,
    weak_model_key: str,
    splits: Splits,
    seed: int,
    layer: int | None = None,
    val_frac: float = 0.2,
) -> Path:
    header = f"v2|layer={layer}|val_frac={val_frac!r}|{json.dumps(asdict(WEAK_SCHEDULE))}"
    return _cache_file("probe", task, weak_model_key, splits, seed, header)


def _labeler(
    splits: Splits,
    probs: dict[str, float],
    price: float,
    *,
    n_train: int,
    n_val: int,
    time_s: float,
    cached: bool,
    labeler: str,
) -> WeakLabeler:
    """The labels with their report, measured against the pool's and test's gold labels."""

    def measured(split: list[Example]) -> tuple[np.ndarray, np.ndarray]:
        y = np.array([e.label for e in split], float)
        return y, np.array([probs[e.id] for e in split], float)

    report = WeakLabelReport.measure(
        *measured(splits.pool),
        *measured(splits.test),
        n_train=n_train,
        n_val=n_val,
        time_s=time_s,
        cached=cached,
        labeler=labeler,
    )
    return WeakLabeler(probs, price, report)


def _load_cached(path: Path, splits: Splits, price: float, labeler: str = "") -> WeakLabeler | None:
    """The cached weak labeler, or None (and the file removed, with a warning) when the file
    cannot be read back whole or does not label every pool and test example."""
    try:
        z = load_npz(path, ("ids", "p", "report"))
        ids, p = z["ids"].tolist(), z["p"]
        if p.ndim != 1 or len(ids) != len(p) or not np.all((p >= 0) & (p <= 1)):
            raise ValueError("the probabilities do not match the ids or leave [0, 1]")
        probs = dict(zip(ids, p.tolist(), strict=True))
        if any(e.id not in probs for e in splits.pool + splits.test):
            raise ValueError("it does not label every pool and test example")
        meta = json.loads(str(z["report"]))
        counts = (int(meta["n_train"]), int(meta["n_val"]), float(meta["time_s"]))
    except (ValueError, TypeError, KeyError) as e:  # json.JSONDecodeError is a ValueError
        discard_damaged(path, "weak-label cache file", str(e))
        return None
    return _labeler(
        splits,
        probs,
        price,
        n_train=counts[0],
        n_val=counts[1],
        time_s=counts[2],
        cached=True,
        labeler=str(meta.get("labeler") or labeler),
    )


def _save(path: Path, labeler: WeakLabeler, ids: list[str]) -> None:
    report = labeler.report
    assert report is not None
    p = labeler.peek(ids).astype(np.float64)
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(ids), p=p, report=json.dumps(report.to_dict()))
    atomic_write_bytes(path, buf.getvalue())


def _cached_or_computed(
    path: Path,
    splits: Splits,
    price: float,
    desc: str,
    compute: Callable[[], tuple[np.ndarray, int, int]],
) -> WeakLabeler:
    """The labeler cached at `path`, or computed and cached there. `compute` returns the
    probabilities of the pool and test examples (in that order) and the (n_train, n_val) that
    made them."""
    if path.exists():
        cached = _load_cached(path, splits, price, desc)
        if cached is not None:
            return cached
    t0 = time.perf_counter()
    p, n_train, n_val = compute()
    out = _labeler(
        splits,
        _probs(splits, p),
        price,
        n_train=n_train,
        n_val=n_val,
        time_s=time.perf_counter() - t0,
        cached=False,
        labeler=desc,
    )
    _save(path, out, [e.id for e in splits.pool + splits.test])
    return out


def _held_out(train: list[Example], n_val: int) -> tuple[list[Example], list[Example]]:
    """(fit, val): val holds n_val examples, half of each class (weak_train is balanced), so a
    calibration fit on it sees both labels however small it is; order is kept."""
    val_ids: set[str] = set()
    for label, k in ((1, (n_val + 1) // 2), (0, n_val // 2)):
        val_ids |= {e.id for e in [e for e in train if e.label == label][:k]}
    return [e for e in train if e.id not in val_ids], [e for e in train if e.id in val_ids]


def _probs(splits: Splits, p: np.ndarray) -> dict[str, float]:
    """Probabilities in pool + test order, by example id."""
    ids = [e.id for e in splits.pool + splits.test]
    return dict(zip(ids, np.asarray(p, float).tolist(), strict=True))


# ---- calibration ----


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def platt_fit(scores: np.ndarray, labels: np.ndarray, iters: int = 100) -> tuple[float, float]:
    """(a, b) such that sigmoid(a * score + b) is calibrated on these labelled scores: Platt
    scaling, with Platt's smoothed targets (so separable scores still give a finite slope),
    fitted by Newton's method with step halving."""
    x = np.asarray(scores, float)
    y = np.asarray(labels, float)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < MIN_CALIBRATION // 2 or len(y) < MIN_CALIBRATION:
        raise DataError(
            f"calibrating weak labels needs at least {MIN_CALIBRATION} held-out weak_train labels "
            f"with both classes (got {n_pos} positive, {n_neg} negative); raise --weak-train"
        )
    t = np.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    mu, sd = float(x.mean()), float(x.std()) or 1.0
    design = np.column_stack([(x - mu) / sd, np.ones_like(x)])

    def loss(w: np.ndarray) -> float:
        z = design @ w
        return float(np.sum(np.logaddexp(0.0, z) - t * z))

    w = np.zeros(2)
    for _ in range(iters):
        p = _sigmoid(design @ w)
        grad = design.T @ (p - t)
        hess = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale, before = 1.0, loss(w)
        while loss(w - scale * step) > before and scale > 1e-6:
            scale /= 2
        w = w - scale * step
        if np.max(np.abs(scale * step)) < 1e-10:
            break
    return float(w[0] / sd), float(w[1] - w[0] * mu / sd)


def platt_apply(scores: np.ndarray, ab: tuple[float, float]) -> np.ndarray:
    return _sigmoid(ab[0] * np.asarray(scores, float) + ab[1])


# ---- the labelers ----


def train_weak_labeler(
    task: str,
    weak_model: str,
    splits: Splits,
    price: float,
    seed: int = 0,
    val_frac: float = 0.2,
    layer: int | None = None,
) -> WeakLabeler:
    """Train a probe on the weak model's features of weak_train (gold labels), early-stopped on a
    held-out part, and label pool and test with its probabilities. Cached on disk."""
    from labelmix.models.features import FEATURE_WINDOW, FeatureExtractor
    from labelmix.models.loading import resolve_model

    ref = resolve_model(weak_model)
    path = _cache_path(task, ref.cache_key, splits, seed, layer, val_frac)
    if _window_cuts(ref, splits, FEATURE_WINDOW):  # labels cached before kept the start
        path = path.with_name(path.stem + "-keeps-the-end.npz")
    train = list(splits.weak_train)
    n_val = max(2, int(round(val_frac * len(train))))
    desc = (
        f"probe on {weak_model}'s frozen features, trained on {len(train) - n_val} weak_train "
        f"gold labels, early-stopped on {n_val}"
    )

    def compute() -> tuple[np.ndarray, int, int]:
        extractor = FeatureExtractor(ref, layer=layer)
        fit, val = train[n_val:], train[:n_val]
        # Standardisation from training-side inputs (weak_train and the unlabelled pool), never
        # test.
        learner = ProbeLearner(extractor, [e.text for e in train + splits.pool], seed)
        rep, _ = train_stage(
            learner,
            [e.text for e in fit],
            np.array([e.label for e in fit], np.float32),
            [e.text for e in val],
            np.array([e.label for e in val], np.float32),
            WEAK_SCHEDULE,
            "xent",
            seed,
            desc="weak labeler",
        )
        labelled: list[Example] = splits.pool + splits.test
        logits = learner.predict(learner.encode([e.text for e in labelled]))
        return _sigmoid(logits), rep.n_train, rep.n_val

    return _cached_or_computed(path, splits, price, desc, compute)


def finetune_weak_labeler(
    task: str,
    weak_model: str,
    splits: Splits,
    price: float,
    seed: int = 0,
    val_frac: float = 0.2,
) -> WeakLabeler:
    """The weak model finetuned on weak_train (every weight), early-stopped on a held-out part,
    its log-odds Platt-calibrated on that same part. Cached on disk."""
    from labelmix.models.loading import resolve_model
    from labelmix.train.weak_finetune import FinetuneSettings, finetune_logits

    settings = FinetuneSettings()
    ref = resolve_model(weak_model)
    header = f"finetune-v1|val_frac={val_frac!r}|{json.dumps(asdict(settings))}"
    if _window_cuts(ref, splits, settings.max_length):  # labels cached before kept the start
        header += "|keeps-the-end"
    path = _cache_file("finetune", task, ref.cache_key, splits, seed, header)
    train = list(splits.weak_train)
    n_val = max(MIN_CALIBRATION, int(round(val_frac * len(train))))
    desc = (
        f"{weak_model} finetuned (all weights, up to {settings.epochs} epochs, lr "
        f"{settings.lr:g}, batch {settings.batch_size}) on {len(train) - n_val} weak_train gold "
        f"labels, early-stopped and Platt-calibrated on {n_val}"
    )

    def compute() -> tuple[np.ndarray, int, int]:
        fit, val = _held_out(train, n_val)
        labelled = splits.pool + splits.test
        val_logits, logits, rep = finetune_logits(
            ref, fit, val, [e.text for e in labelled], seed, settings
        )
        ab = platt_fit(val_logits, np.array([e.label for e in val], float))
        return platt_apply(logits, ab), rep.n_train, rep.n_val

    return _cached_or_computed(path, splits, price, desc, compute)


def _window_cuts(ref: ModelRef, splits: Splits, max_length: int) -> bool:
    """Whether some text the finetuned labeler reads is longer than its window (tokenised only
    where the text's bytes could exceed it, so short-text tasks load no tokenizer)."""
    from labelmix.models.loading import load_tokenizer, may_be_cut

    texts = [e.text for e in splits.weak_train + splits.pool + splits.test]
    long = [t for t in texts if may_be_cut(t, max_length)]
    if not long:
        return False
    ids = load_tokenizer(ref)(long, truncation=False)["input_ids"]
    return any(len(row) > max_length for row in ids)


def prompt_weak_labeler(
    task: str,
    weak_model: str,
    splits: Splits,
    price: float,
    seed: int = 0,
    shots: int | None = None,
) -> WeakLabeler:
    """A causal LM prompted with `shots` weak_train demonstrations (drawn with the seed); its
    log-odds of "1" against "0" Platt-calibrated on the rest of weak_train. Cached on disk (and
    every prompt's score by the scorer)."""
    from labelmix.models.loading import resolve_model
    from labelmix.train.weak_prompt import PROMPT_SHOTS, check_causal, prompt_scores

    k = PROMPT_SHOTS if shots is None else shots
    ref = resolve_model(weak_model)
    check_causal(ref)
    header = f"prompt-v1|shots={k}|targets=0/1|platt"
    path = _cache_file("prompt", task, ref.cache_key, splits, seed, header)
    train = list(splits.weak_train)
    order = np.random.default_rng(seed).permutation(len(train))
    demos = [train[i] for i in order[:k]]
    calib = [train[i] for i in order[k:]]
    desc = (
        f"{weak_model} prompted with {len(demos)} weak_train demonstrations, Platt-calibrated "
        f"on the other {len(calib)} weak_train gold labels"
    )

    def compute() -> tuple[np.ndarray, int, int]:
        labelled = splits.pool + splits.test
        scores = prompt_scores(
            ref, [(e.text, e.label) for e in demos], [e.text for e in calib + labelled]
        )
        ab = platt_fit(scores[: len(calib)], np.array([e.label for e in calib], float))
        return platt_apply(scores[len(calib) :], ab), len(demos), len(calib)

    return _cached_or_computed(path, splits, price, desc, compute)


def column_weak_labeler(task: str, source: str | None, splits: Splits, price: float) -> WeakLabeler:
    """The user's own weak labels (`column` or `column:SOURCE`, see labels.weak.column_source),
    as given: every pool and test example must have one."""
    t0 = time.perf_counter()
    path, field = column_source(task, source)
    given = read_weak_column(path, field)
    labelled = splits.pool + splits.test
    missing = [e for e in labelled if e.id not in given]
    if missing:
        raise DataError(
            f"{path}: no weak label in {field!r} for {len(missing)} of the task's "
            f"{len(labelled)} pool and test examples (e.g. {missing[0].text[:60]!r}); every "
            "example needs one"
        )
    return _labeler(
        splits,
        {e.id: given[e.id] for e in labelled},
        price,
        n_train=0,
        n_val=0,
        time_s=time.perf_counter() - t0,
        cached=False,
        labeler=f"your weak labels: field {field!r} of {path} (as given, not calibrated)",
    )


def make_weak_labeler(
    labeler: str, task: str, weak_model: str, splits: Splits, price: float, seed: int = 0
) -> WeakLabeler:
    """The weak labels of `labeler` (probe, finetune, prompt, column[:SOURCE]) for the splits."""
    kind, arg = parse_labeler(labeler)
    if kind == "finetune":
        return finetune_weak_labeler(task, weak_model, splits, price, seed)
    if kind == "prompt":
        return prompt_weak_labeler(task, weak_model, splits, price, seed)
    if kind == "column":
        return column_weak_labeler(task, arg, splits, price)
    return train_weak_labeler(task, weak_model, splits, price, seed)
