"""Training the weak labeler: a probe on the weak model's features of `weak_train` (gold labels,
a sunk cost, not charged), early-stopped on a held-out part, that labels pool and test.

Soft labels are cached on disk keyed by task, weak model, weak_train size, seed and the split's
ids, so every run of a sweep shares them."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from pathlib import Path

import numpy as np

from labelmix.atomic import atomic_write_bytes
from labelmix.labels.weak import WeakLabeler, WeakLabelReport
from labelmix.metrics import accuracy, auroc
from labelmix.paths import cache_dir
from labelmix.tasks.base import Example
from labelmix.tasks.splits import Splits
from labelmix.train.loop import train_stage
from labelmix.train.probe import ProbeLearner
from labelmix.train.schedule import Schedule

WEAK_SCHEDULE = Schedule(example_passes=30_000, batch_size=32, warmup_steps=40, lr=3e-3)


def _cache_path(task: str, weak_model_key: str, splits: Splits, seed: int) -> Path:
    ids = [e.id for e in splits.weak_train] + ["|"] + [e.id for e in splits.pool] + ["|"]
    ids += [e.id for e in splits.test]
    digest = hashlib.sha256("".join(ids).encode()).hexdigest()[:16]
    safe_task = re.sub(r"[^A-Za-z0-9_.-]", "_", task)[-60:]  # file:PATH tasks hold slashes
    name = f"{safe_task}-{weak_model_key}-n{len(splits.weak_train)}-s{seed}-{digest}.npz"
    return cache_dir() / "weak_labels" / name


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
    path = _cache_path(task, ref.cache_key, splits, seed)
    if path.exists():
        with np.load(path) as z:
            probs = dict(zip(z["ids"].tolist(), z["p"].tolist(), strict=True))
            report = WeakLabelReport(**{**json.loads(str(z["report"])), "cached": True})
        return WeakLabeler(probs, price, report)

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
