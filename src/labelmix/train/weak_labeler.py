"""Training the weak labeler: a probe on the weak model's features of `weak_train` (gold labels,
a sunk cost, not charged), early-stopped on a held-out part, that labels pool and test.

Soft labels are cached on disk, so every run of a sweep shares them, keyed by everything they
depend on: the weak model's weights, the feature layer, the training schedule, the seed, and the
texts *and labels* of every split (a `file:` task whose labels changed must not be served the old
weak labels). A cache file that cannot be read back is removed and recomputed, with a warning."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from labelmix.atomic import atomic_write_bytes
from labelmix.cache import discard_damaged, load_npz
from labelmix.labels.weak import WeakLabeler, WeakLabelReport
from labelmix.metrics import accuracy, auroc
from labelmix.paths import cache_dir
from labelmix.tasks.base import Example
from labelmix.tasks.splits import Splits
from labelmix.train.loop import train_stage
from labelmix.train.probe import ProbeLearner
from labelmix.train.schedule import Schedule

WEAK_SCHEDULE = Schedule(example_passes=30_000, batch_size=32, warmup_steps=40, lr=3e-3)


def _cache_path(
    task: str,
    weak_model_key: str,
    splits: Splits,
    seed: int,
    layer: int | None = None,
    val_frac: float = 0.2,
) -> Path:
    parts = [f"v2|layer={layer}|val_frac={val_frac!r}|{json.dumps(asdict(WEAK_SCHEDULE))}"]
    for split in (splits.weak_train, splits.pool, splits.test):
        parts.append("|" + "".join(f"{e.id}{e.label}" for e in split))
    digest = hashlib.sha256("".join(parts).encode()).hexdigest()[:16]
    safe_task = re.sub(r"[^A-Za-z0-9_.-]", "_", task)[-60:]  # file:PATH tasks hold slashes
    name = f"{safe_task}-{weak_model_key}-n{len(splits.weak_train)}-s{seed}-{digest}.npz"
    return cache_dir() / "weak_labels" / name


def _load_cached(path: Path, splits: Splits, price: float) -> WeakLabeler | None:
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
        report = WeakLabelReport(**{**json.loads(str(z["report"])), "cached": True})
    except (ValueError, TypeError) as e:  # json.JSONDecodeError is a ValueError
        discard_damaged(path, "weak-label cache file", str(e))
        return None
    return WeakLabeler(probs, price, report)


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
    from labelmix.models.features import FeatureExtractor
    from labelmix.models.loading import resolve_model

    ref = resolve_model(weak_model)
    path = _cache_path(task, ref.cache_key, splits, seed, layer, val_frac)
    if path.exists():
        cached = _load_cached(path, splits, price)
        if cached is not None:
            return cached

    t0 = time.perf_counter()
    extractor = FeatureExtractor(ref, layer=layer)
    train = list(splits.weak_train)
    n_val = max(2, int(round(val_frac * len(train))))
    fit, val = train[n_val:], train[:n_val]
    # Standardisation from training-side inputs (weak_train and the unlabelled pool), never test.
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
    p = 1.0 / (1.0 + np.exp(-logits))
    npool = len(splits.pool)
    y = np.array([e.label for e in labelled], float)
    report = WeakLabelReport(
        n_train=rep.n_train,
        n_val=rep.n_val,
        pool_accuracy=accuracy(y[:npool], logits[:npool]),
        pool_auroc=auroc(y[:npool], logits[:npool]),
        test_accuracy=accuracy(y[npool:], logits[npool:]),
        test_auroc=auroc(y[npool:], logits[npool:]),
        time_s=time.perf_counter() - t0,
        cached=False,
    )
    ids = [e.id for e in labelled]
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(ids), p=p.astype(np.float64), report=json.dumps(report.to_dict()))
    atomic_write_bytes(path, buf.getvalue())
    return WeakLabeler(dict(zip(ids, p.tolist(), strict=True)), price, report)
