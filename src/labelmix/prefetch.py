"""Before a sweep starts, compute once what its runs share: every split, the weak model's features
and weak labeler of every data seed, and the strong model's features of every input a probe run
computes features of (run.inputs_featurized), each model in one pass sorted by length (batches of similar length, little padding).

Without it each run extracts the features it first needs, a few hundred texts at a time, and two
workers that need the same texts compute them twice. With it the workers find everything in the
on-disk caches and load no model weights at all. It changes no result: features and weak labels
are the same values, cached by the same keys, whoever computes them first."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from labelmix.config import RunConfig
from labelmix.progress import progress
from labelmix.run import (
    cached_extractor,
    cached_splits,
    cached_weak_labeler,
    check_models_loadable,
    inputs_featurized,
    resolved_data_dir,
)
from labelmix.tasks.splits import Splits


@dataclass(frozen=True)
class PrefetchReport:
    data_draws: int  # distinct (task, data, split sizes, data seed)
    weak_texts: int  # texts whose weak-model features were needed
    strong_texts: int  # texts whose strong-model features were needed
    time_s: float

    def __str__(self) -> str:
        return (
            f"prefetched {self.data_draws} data draw(s): weak-model features of "
            f"{self.weak_texts} texts, strong-model features of {self.strong_texts}, "
            f"in {self.time_s:.1f} s"
        )


DataKey = tuple[str, str | None, object, int, str, str]


def _data_key(cfg: RunConfig) -> DataKey:
    return (
        cfg.task,
        resolved_data_dir(cfg),
        cfg.split_sizes,
        cfg.split_seed,
        cfg.weak_model,
        cfg.weak_labeler,
    )


def prefetch(runs: Sequence[RunConfig]) -> PrefetchReport:
    """Fill the feature and weak-label caches for `runs` (see the module docstring). Runs whose
    data or models cannot be loaded are left alone: they fail in the sweep with their message."""
    t0 = time.perf_counter()
    draws: dict[DataKey, Splits] = {}
    for cfg in runs:
        key = _data_key(cfg)
        if key in draws:
            continue
        try:
            draws[key] = cached_splits(cfg.task, key[1], cfg.split_sizes, cfg.split_seed)
        except Exception:  # the run reports it, with its own clear message
            continue
    # (model, layer) -> texts in first-seen order; the weak labeler reads the default layer
    weak_texts: dict[tuple[str, int | None], dict[str, None]] = {}
    for (_, _, _, _, weak_model, labeler), splits in draws.items():
        if labeler != "probe":  # only the probe labeler reads the weak model's frozen features
            continue
        texts = weak_texts.setdefault((weak_model, None), {})
        for e in splits.weak_train + splits.pool + splits.test:
            texts[e.text] = None
    strong_texts: dict[tuple[str, int | None], dict[str, None]] = {}
    for cfg in runs:
        splits = draws.get(_data_key(cfg))
        inputs = inputs_featurized(cfg, splits) if splits is not None else []
        if inputs:
            strong_texts.setdefault((cfg.model, cfg.layer), {}).update(dict.fromkeys(inputs))

    # Converting a GGUF strong model (seconds of mostly single-threaded Python) overlaps the
    # weak model's work. In a process of its own: loading a model sets torch's default dtype,
    # which every thread of a process shares.
    weak_models = {m for _, _, _, _, m, _ in draws}
    converting = _start_conversion(sorted({m for m, _ in strong_texts} - weak_models))
    n_weak = _extract(weak_texts, "weak-model features")
    with progress(total=len(draws), desc="weak labelers") as bar:
        for task, data_dir, sizes, seed, weak_model, labeler in draws:
            try:
                cached_weak_labeler(task, data_dir, sizes, seed, weak_model, labeler)  # type: ignore[arg-type]
            except Exception:
                pass
            bar.update(1)
    if converting is not None:
        converting.wait()  # a failed conversion is left to the runs, with their own message
    n_strong = _extract(strong_texts, "strong-model features")
    gc.collect()
    return PrefetchReport(len(draws), n_weak, n_strong, time.perf_counter() - t0)


def _extract(texts_by_model: dict[tuple[str, int | None], dict[str, None]], desc: str) -> int:
    """Features of each model's texts into its cache, one pass per model, whose weights are then
    dropped; returns how many texts were covered (a model that cannot load is left to the runs)."""
    covered = 0
    for (model, layer), texts in texts_by_model.items():
        try:
            check_models_loadable(model)
            extractor = cached_extractor(model, layer)
        except Exception:
            continue
        extractor.features(list(texts), desc=desc)
        covered += len(texts)
        extractor.release()
    return covered


def _start_conversion(models: Sequence[str]) -> subprocess.Popen[bytes] | None:
    """Convert the GGUF files among `models` into the cache in a child process (None when
    there is nothing to convert)."""
    from labelmix.models.loading import needs_conversion

    todo = [m for m in models if needs_conversion(m)]
    if not todo:
        return None
    code = "import sys\nfrom labelmix.models.loading import resolve_model\n"
    code += "for m in sys.argv[1:]:\n    resolve_model(m)\n"
    return subprocess.Popen(
        [sys.executable, "-c", code, *todo],
        env={**os.environ, "LABELMIX_PROGRESS": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
