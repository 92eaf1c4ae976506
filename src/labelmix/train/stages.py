"""A method's stages trained one after another on one learner: each stage's labels split into
training and validation, the stage guard given the earlier stages' validation labels, the
optimizer carried over when the schedule says so. A simulated run and a labelling project both
train through it, so the two cannot drift apart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labelmix.methods import StageSpec
from labelmix.seeds import stage_seed
from labelmix.train.loop import Learner, StageReport, train_stage
from labelmix.train.schedule import Schedule

# Feature standardisation (probe) is fitted on this many unlabelled pool inputs: training-side
# data the run may see, never test or selection inputs.
STANDARDIZE_N = 512


def split_val(n: int, val_frac: float) -> int:
    """Validation labels held out of a stage: none when fewer than 2 would be held."""
    n_val = int(math.floor(val_frac * n))
    return n_val if n_val >= 2 and n - n_val >= 1 else 0


def stage_dict(i: int, spec: StageSpec, report: StageReport) -> dict[str, Any]:
    return {
        "stage": i,
        "source": spec.source,
        "sampling": spec.sampling,
        "loss": spec.loss,
        **report.to_dict(),
    }


@dataclass
class StageChain:
    learner: Learner
    schedule: Schedule
    method_name: str
    seed: int
    reports: list[dict[str, Any]] = field(default_factory=list)
    optimizer: Any = None
    _val_texts: list[str] = field(default_factory=list)
    _val_y: list[np.ndarray] = field(default_factory=list)

    @property
    def trained(self) -> bool:
        """Whether any stage has trained (a later stage's starting weights then compete)."""
        return any("steps" in r for r in self.reports)

    def skip(self, i: int, spec: StageSpec) -> None:
        self.reports.append({"stage": i, "source": spec.source, "skipped": "no labels bought"})

    def split(
        self, n: int, spec: StageSpec, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(training, validation) positions among a stage's n labelled items, drawn with `rng`."""
        perm = rng.permutation(n)
        n_val = split_val(n, spec.val_frac)
        return perm[n_val:], perm[:n_val]

    def train(
        self,
        i: int,
        spec: StageSpec,
        n: int,
        train: tuple[Sequence[str], np.ndarray],
        val: tuple[Sequence[str], np.ndarray],
    ) -> dict[str, Any]:
        """Train stage i on its (texts, labels); returns its report, also kept in `reports`."""
        train_texts, val_texts = list(train[0]), list(val[0])
        self.learner.encode(train_texts + val_texts)  # features (probe) computed with every thread
        report, self.optimizer = train_stage(
            self.learner,
            train_texts,
            train[1],
            val_texts,
            val[1],
            self.schedule,
            spec.loss,
            seed=stage_seed(self.seed, i),
            optimizer=self.optimizer if self.schedule.carry_optimizer else None,
            desc=f"{self.method_name} stage {i} ({spec.source}, n={n})",
            start_competes=self.trained,
            earlier_val=(self._val_texts, np.concatenate(self._val_y)) if self._val_y else None,
        )
        self._val_texts += val_texts
        self._val_y.append(np.asarray(val[1], dtype=float))
        self.reports.append(stage_dict(i, spec, report))
        return self.reports[-1]
