"""A stage's optimisation schedule: how many steps, at what learning rate, and the stage guard's
settings (see labelmix.train.loop)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

from labelmix.errors import ConfigError

GUARDS = ("union", "own")
# The type of every Schedule field (checked before any value), and those that may be None.
_KINDS = {
    "example_passes": "int",
    "batch_size": "int",
    "warmup_steps": "int",
    "lr": "number",
    "weight_decay": "number",
    "beta2": "number",
    "max_steps": "int",
    "eval_every": "int",
    "carry_optimizer": "bool",
    "logconf_warmup": "int",
    "anchor": "number",
    "guard": "str",
    "guard_weight": "number",
}
_OPTIONAL = ("max_steps", "eval_every", "guard_weight")


@dataclass(frozen=True)
class Schedule:
    """One stage's optimisation schedule. The reference (GPU, lora) is 30,000 example-passes,
    batch 32, 40 warm-up steps, cosine decay, AdamW(beta2=0.95, wd=0.01)."""

    example_passes: int = 30_000
    batch_size: int = 32
    warmup_steps: int = 40
    lr: float = 5e-4
    weight_decay: float = 0.01
    beta2: float = 0.95
    max_steps: int | None = None  # cap for short CPU checks
    eval_every: int | None = None  # steps between early-stopping evaluations (None: ~20 per stage)
    carry_optimizer: bool = False  # keep AdamW moments from the previous stage
    # The log-confidence auxiliary weight ramps from 0 to 0.5 over this many steps (the
    # reference's 200), independently of the learning-rate warm-up.
    logconf_warmup: int = 200
    # Later stages (see labelmix.train.loop, "stage guard"): the L2 pull toward the weights the
    # stage starts from is anchor / n for a stage of n labels (L2-SP), so a handful of labels
    # can only nudge what an earlier stage learnt while many labels are free to move it ...
    anchor: float = 1.0
    # ... and every checkpoint, the starting weights included, is scored on the validation
    # labels of this stage and of every earlier stage ("union"), or of this stage only ("own").
    guard: str = "union"
    # With guard "union": the earlier stages' validation labels together count as this many of
    # the stage's own (None: pooled with them, label for label).
    guard_weight: float | None = 10.0

    def __post_init__(self) -> None:
        self._check_types()
        if self.example_passes < 1:
            raise ConfigError(f"example_passes {self.example_passes} must be >= 1")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size {self.batch_size} must be >= 1")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps {self.warmup_steps} must be >= 0")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr {self.lr} must be a positive number")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay {self.weight_decay} must be >= 0")
        if not 0 < self.beta2 < 1:
            raise ConfigError(f"beta2 {self.beta2} must lie in (0, 1)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps {self.max_steps} must be >= 1")
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError(f"eval_every {self.eval_every} must be >= 1")
        if self.logconf_warmup < 0:
            raise ConfigError(f"logconf_warmup {self.logconf_warmup} must be >= 0")
        if not (self.anchor >= 0 and math.isfinite(self.anchor)):
            raise ConfigError(f"anchor {self.anchor} must be a number >= 0")
        if self.guard_weight is not None and not (
            self.guard_weight >= 0 and math.isfinite(self.guard_weight)
        ):
            raise ConfigError(f"guard_weight {self.guard_weight} must be a number >= 0 or None")
        if self.guard not in GUARDS:
            raise ConfigError(f"guard {self.guard!r} must be one of {', '.join(GUARDS)}")

    def _check_types(self) -> None:
        """Each field's type first, so a sweep file's `max_steps = 1.5` or `lr = "fast"` is one
        clear line at load instead of a failure inside every run."""
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None and f.name in _OPTIONAL:
                continue
            kind = _KINDS[f.name]
            ok = {
                "int": isinstance(v, numbers.Integral) and not isinstance(v, bool),
                "number": isinstance(v, numbers.Real) and not isinstance(v, bool),
                "bool": isinstance(v, bool),
                "str": isinstance(v, str),
            }[kind]
            if not ok:
                what = {"int": "an integer", "number": "a number", "bool": "true or false"}
                raise ConfigError(
                    f"schedule {f.name} {v!r} must be {what.get(kind, 'a string')}"
                    + (" or left out" if f.name in _OPTIONAL else "")
                )

    def steps_for(self, n: int) -> int:
        """epochs = max(example_passes / n, 1), so small stages see more passes."""
        batch = min(self.batch_size, n)
        epochs = max(self.example_passes / n, 1.0)
        steps = max(1, math.ceil(epochs * n / batch))
        return min(steps, self.max_steps) if self.max_steps else steps


# Defaults per trainer. lora: the paper's. probe: a linear head on standardised frozen features,
# same rule but capped at 2000 steps: tiny stages would otherwise take 30000/n full-batch steps
# (30000 for n=1), long after a linear head has converged.
PROBE_SCHEDULE = Schedule(
    example_passes=30_000, batch_size=32, warmup_steps=40, lr=3e-3, max_steps=2000
)
LORA_SCHEDULE = Schedule()
