"""RunConfig: everything that determines one run, validated at construction, hashable into a key."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from labelmix.errors import ConfigError, UnaffordableError
from labelmix.labels.budget import Allocation, Prices, allocate
from labelmix.methods import get_method
from labelmix.tasks.splits import SplitSizes

TRAINERS = ("probe", "lora", "icl")
GUARDS = ("union", "own")


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


@dataclass(frozen=True)
class RunConfig:
    task: str = "cities"
    method: str = "seq_sft"
    budget: float = 64.0
    gold_frac: float | None = 0.2  # None for methods with a fixed split (weak_only, gold_only)
    weak_cost: float = 0.1
    gold_cost: float = 1.0
    trainer: str = "probe"
    model: str = "smollm2"
    weak_model: str = "minilm"
    seed: int = 0
    # The draw of the splits and the weak labeler's training; None: the run seed, so a repeat
    # with another seed varies what a user's repeat would (fix it to isolate training noise).
    data_seed: int | None = None
    shots: int | None = None  # override the method's k
    layer: int | None = None  # probe: hidden layer for features (None: the model's default)
    split_sizes: SplitSizes = field(default_factory=SplitSizes)
    schedule: Schedule | None = None  # None: the trainer's default
    lora_rank: int = 8
    max_length: int = 256
    data_dir: str | None = None  # where the task's mirror lives; not part of the run key

    def __post_init__(self) -> None:
        method = get_method(self.method)
        from labelmix.tasks.registry import get_task

        get_task(self.task)
        from labelmix.models.loading import check_model_name

        check_model_name(self.model)
        check_model_name(self.weak_model)
        if self.trainer not in TRAINERS:
            raise ConfigError(f"unknown trainer {self.trainer!r}; valid: {', '.join(TRAINERS)}")
        if method.prompt_only:
            # few_shot trains nothing; whatever trainer a grid names, it scores with icl
            object.__setattr__(self, "trainer", "icl")
        if not method.prompt_only and self.trainer == "icl":
            raise ConfigError(
                f"trainer 'icl' only scores prompts; method {self.method!r} trains: use probe or lora"
            )
        fixed = method.fixed_gold_frac
        if fixed is not None:
            if self.gold_frac is not None and abs(self.gold_frac - fixed) > 1e-12:
                raise ConfigError(
                    f"method {self.method!r} spends the whole budget on "
                    f"{'gold' if fixed else 'weak'} labels: drop the gold fraction "
                    f"(got {self.gold_frac})"
                )
            object.__setattr__(self, "gold_frac", fixed)
        elif self.gold_frac is None:
            raise ConfigError(f"method {self.method!r} needs a gold fraction in [0, 1]")
        assert self.gold_frac is not None
        if not 0.0 <= self.gold_frac <= 1.0:
            raise ConfigError(f"gold fraction {self.gold_frac} must lie in [0, 1]")
        if self.seed < 0:
            raise ConfigError(f"seed {self.seed} must be >= 0")
        if self.data_seed is not None and self.data_seed < 0:
            raise ConfigError(f"data_seed {self.data_seed} must be >= 0")
        if self.shots is not None and self.shots < 0:
            raise ConfigError(f"shots {self.shots} must be >= 0")
        if self.lora_rank < 1:
            raise ConfigError(f"lora_rank {self.lora_rank} must be >= 1")
        alloc = self.allocation()  # validates budget and prices before anything trains
        k = self.k_shots
        if method.prompt_only and k < 1:
            raise ConfigError("few_shot needs at least one demonstration (shots >= 1)")
        if method.prompt_only and alloc.n_gold < k:
            raise UnaffordableError(
                f"few_shot with {k} demonstrations needs {k} gold labels (${k * self.gold_cost:g}) "
                f"but budget ${self.budget:g} buys {alloc.n_gold}; lower --shots or raise the budget"
            )
        if not method.prompt_only and k > 0 and alloc.n_weak + alloc.n_gold < k + 1:
            raise UnaffordableError(
                f"a {k}-shot prefix needs at least {k + 1} labelled examples but this allocation "
                f"buys {alloc.n_weak + alloc.n_gold}; lower --shots or raise the budget"
            )

    @property
    def split_seed(self) -> int:
        """The seed that draws the splits and trains the weak labeler."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def k_shots(self) -> int:
        return get_method(self.method).shots if self.shots is None else self.shots

    @property
    def prices(self) -> Prices:
        return Prices(self.weak_cost, self.gold_cost)

    def allocation(self) -> Allocation:
        assert self.gold_frac is not None
        return allocate(self.budget, self.gold_frac, self.prices)

    def effective_schedule(self) -> Schedule:
        if self.schedule is not None:
            return self.schedule
        return LORA_SCHEDULE if self.trainer == "lora" else PROBE_SCHEDULE

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schedule"] = asdict(self.effective_schedule())
        return d

    def key(self) -> str:
        """Stable hash of everything that changes the result (not where the data lives)."""
        d = self.to_dict()
        d.pop("data_dir")
        blob = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @staticmethod
    def from_dict(d: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(RunConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown run option(s) {unknown}; valid: {sorted(known)}")
        d = dict(d)
        if isinstance(d.get("split_sizes"), dict):
            d["split_sizes"] = SplitSizes(**d["split_sizes"])
        if isinstance(d.get("schedule"), dict):
            sched_known = {f.name for f in fields(Schedule)}
            bad = sorted(set(d["schedule"]) - sched_known)
            if bad:
                raise ConfigError(f"unknown schedule option(s) {bad}; valid: {sorted(sched_known)}")
            d["schedule"] = Schedule(**d["schedule"])
        return RunConfig(**d)

    def with_(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)
