"""RunConfig: everything that determines one run, validated at construction, hashable into a key."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from labelmix.errors import BudgetError, ConfigError, UnaffordableError
from labelmix.labels.budget import EPS, Allocation, Prices, allocate
from labelmix.methods import METHODS, Method, get_method
from labelmix.tasks.splits import SplitSizes
from labelmix.train.schedule import LORA_SCHEDULE, PROBE_SCHEDULE, Schedule

TRAINERS = ("probe", "lora", "icl")
MAX_BUDGET = 1e9  # dollars; far beyond any labelling budget, far below float overflow
MAX_SEED = 2**32  # seeds feed numpy and torch generators and derived per-stage seeds

# The type of every field, checked first so a wrong type is a clear error, not a TypeError deep
# inside (sweep files and the library pass values straight through).
_KINDS: dict[str, tuple[str, bool]] = {  # field -> (kind, None allowed)
    "task": ("str", False),
    "method": ("str", False),
    "budget": ("number", False),
    "gold_frac": ("number", True),
    "weak_cost": ("number", False),
    "gold_cost": ("number", False),
    "trainer": ("str", False),
    "model": ("str", False),
    "weak_model": ("str", False),
    "seed": ("int", False),
    "data_seed": ("int", True),
    "shots": ("int", True),
    "layer": ("int", True),
    "split_sizes": ("SplitSizes", False),
    "schedule": ("Schedule", True),
    "lora_rank": ("int", False),
    "max_length": ("int", False),
    "data_dir": ("str", True),
    "gradient_checkpointing": ("bool", False),
    "load_in_4bit": ("bool", False),
    "weak_labeler": ("str", False),
    "pilot": ("ids", False),
    "weak_pilot": ("ids", False),
}

# Fields added after run stores existed: left out of the key while at these values, so every
# stored run keeps its key (a store resumes by key). A new field that changes results goes here
# with the value that reproduces the old behaviour.
KEY_NEUTRAL: dict[str, Any] = {
    "load_in_4bit": False,
    "weak_labeler": "probe",
    "pilot": [],
    "weak_pilot": [],
}

# How a run is executed, not what it computes: never part of the key (like data_dir).
EXECUTION_ONLY = ("data_dir", "gradient_checkpointing")


def _normalise_numbers(cfg: Any) -> None:
    """Dollars and fractions as Python floats, counts and seeds as Python ints (numpy scalars
    included), so that `budget=64` and `budget=64.0` are the same run with the same key."""
    for name, (kind, _) in _KINDS.items():
        value = getattr(cfg, name)
        if isinstance(value, bool) or value is None:
            continue
        if kind == "number" and isinstance(value, int | float | np.integer | np.floating):
            object.__setattr__(cfg, name, float(value))
        elif kind == "int" and isinstance(value, np.integer):
            object.__setattr__(cfg, name, int(value))


def _normalise_pilot(cfg: Any) -> None:
    """A pilot as a tuple of ids (a list from JSON or TOML is the same pilot); None: no pilot.
    The field's default is None, not (), so that a sweep's recorded settings (sweep.json) stay
    as they were: a setting left at None is not written. The same for the weak pilot."""
    for name in ("pilot", "weak_pilot"):
        value = getattr(cfg, name)
        if value is None:
            value = ()
        elif isinstance(value, list | tuple):
            value = tuple(value)
        object.__setattr__(cfg, name, value)


def _check_kind(name: str, value: Any) -> None:
    kind, optional = _KINDS[name]
    if value is None and optional:
        return
    ok = {
        "ids": isinstance(value, tuple),
        "str": isinstance(value, str) and bool(value.strip()),
        "number": isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "SplitSizes": isinstance(value, SplitSizes),
        "Schedule": isinstance(value, Schedule),
    }[kind]
    if not ok:
        what = {
            "str": "a non-empty string",
            "number": "a finite number",
            "int": "an integer",
            "bool": "true or false",
            "ids": "a list of pool example ids",
        }
        raise ConfigError(f"{name} {value!r} must be {what.get(kind, f'a {kind}')}")


def takes_pilot(method: Method) -> bool:
    """Whether a method can reuse a pilot's items: it has a gold stage, which trains on their
    gold labels. A method with a weak stage trains on their weak labels too; gold_only leaves
    them untrained (bought to measure the weak labels: a weak stage of a pilot's few dozen
    labels before an all-gold stage cost accuracy, docs/advisor.md)."""
    return not method.prompt_only and "gold" in method.sources


def takes_weak_pilot(method: Method) -> bool:
    """Whether a method can reuse a weak pilot's items: it trains (a weak stage trains on them;
    gold_only leaves them untrained, as a pilot's weak labels)."""
    return not method.prompt_only


def _check_ids(name: str, ids: tuple[str, ...], each: str) -> set[str]:
    """A pilot's ids: pool example ids (non-empty strings), each named once. Returns them."""
    bad = [i for i in ids if not isinstance(i, str) or not i.strip()]
    if bad:
        raise ConfigError(f"{name} ids must be pool example ids (strings), got {bad[0]!r}")
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ConfigError(f"{name} names item {i!r} twice; name each {each} once")
        seen.add(i)
    return seen


def allocate_with_pilot(
    budget: float, gold_frac: float, prices: Prices, n_pilot: int, n_weak_pilot: int = 0
) -> Allocation:
    """The labels a run with a pilot of n_pilot items (and a weak pilot of n_weak_pilot items,
    weak labels only) trains on, the pilots' included: the allocation's gold labels, but at
    least the pilot's (more gold than planned, paid by fewer weak labels) and at most what
    leaves the pilots' weak labels paid; then weak labels for the rest of the budget, the
    pilots' among them. A pilot is charged once: its items carry both labels, a weak pilot's
    their weak label. `labelmix advise` plans with the same counts, so a run that follows it
    buys them."""
    alloc = allocate(budget, gold_frac, prices)
    if n_pilot == 0 and n_weak_pilot == 0:
        return alloc
    pilot_weak = (n_pilot + n_weak_pilot) * prices.weak_cost
    if n_pilot * prices.gold_cost + pilot_weak > budget + EPS:
        what = f"a pilot of {n_pilot} items" if n_pilot else ""
        if n_weak_pilot:
            what += (" and " if what else "") + f"a weak pilot of {n_weak_pilot} items"
        raise UnaffordableError(
            f"{what} costs ${n_pilot * prices.gold_cost + pilot_weak:.2f} "
            f"(a gold and a weak label per pilot item, a weak label per weak pilot item), more "
            f"than the budget ${budget:g}"
        )
    most_gold = math.floor((budget - pilot_weak) / prices.gold_cost + EPS)
    n_gold = max(n_pilot, min(alloc.n_gold, most_gold))
    rest = budget - n_gold * prices.gold_cost - pilot_weak
    more_weak = max(0, math.floor(rest / prices.weak_cost + EPS))
    return Allocation(n_weak=n_pilot + n_weak_pilot + more_weak, n_gold=n_gold)


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
    # lora only: recompute activations in the backward pass (less memory, same result)
    gradient_checkpointing: bool = False
    # lora only: 4-bit NF4 base weights (bitsandbytes, a GPU): less memory, a different result
    load_in_4bit: bool = False
    # Where weak labels come from: probe | finetune | prompt (weak_model: a causal LM, e.g.
    # smollm2) | column (the task file's field weak_label) | column:FIELD | column:PATH.jsonl|csv
    weak_labeler: str = "probe"
    # Pool example ids whose gold and weak labels were bought before the run (the pilot of
    # `labelmix advise`): charged once, inside the budget, and trained on in both stages of a
    # seq_sft-family method (gold_only: in its gold stage only). None (the default) and () are
    # no pilot; stored as a tuple.
    pilot: tuple[str, ...] | None = None
    # Pool example ids whose weak label alone was bought before the run (the advisor's weak
    # pilot, which reads the weak labeler's confidence where a pilot of gold labels would cost
    # too much): charged once and trained on in the weak stage (gold_only has none: it leaves
    # them untrained). None and () are none.
    weak_pilot: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _normalise_numbers(self)
        _normalise_pilot(self)
        for f in fields(self):
            _check_kind(f.name, getattr(self, f.name))
        if self.budget > MAX_BUDGET:
            raise ConfigError(f"budget {self.budget:g} is above ${MAX_BUDGET:g}; no grid needs it")
        for name in ("seed", "data_seed"):
            v = getattr(self, name)
            if v is not None and v >= MAX_SEED:
                raise ConfigError(f"{name} {v} must be below 2**32")
        if self.max_length < 1:
            raise ConfigError(f"max_length {self.max_length} must be >= 1")
        method = get_method(self.method)
        from labelmix.tasks.registry import get_task

        get_task(self.task)
        from labelmix.models.loading import check_model_name

        check_model_name(self.model)
        check_model_name(self.weak_model)
        from labelmix.labels.weak import check_labeler

        check_labeler(self.weak_labeler, self.task, self.weak_model)
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
        if (self.gradient_checkpointing or self.load_in_4bit) and self.trainer != "lora":
            raise ConfigError(
                "gradient_checkpointing and load_in_4bit apply to the lora trainer only; "
                f"this run's trainer is {self.trainer!r}"
            )
        alloc = self.allocation()  # validates budget and prices before anything trains
        self._check_pilot(method)
        self._check_weak_pilot(method)
        k = self.k_shots
        if method.prompt_only and k < 1:
            raise ConfigError("few_shot needs at least one demonstration (shots >= 1)")
        if method.prompt_only and alloc.n_gold < k:
            raise UnaffordableError(
                f"few_shot with {k} demonstrations needs {k} gold labels (${k * self.gold_cost:g}) "
                f"but budget ${self.budget:g} buys {alloc.n_gold}; lower --shots or raise the budget"
            )
        bought = self.allocation_with_pilot()
        items = bought.n_weak + bought.n_gold - len(self.pilot or ())  # a pilot item counts once
        if not method.prompt_only and k > 0 and items < k + 1:
            raise UnaffordableError(
                f"a {k}-shot prefix needs at least {k + 1} labelled examples but this allocation "
                f"buys labels for {items}; lower --shots or raise the budget"
            )

    def _check_pilot(self, method: Method) -> None:
        """A pilot names distinct pool items, each with a gold and a weak label: only a method
        with a gold stage can reuse them, and the budget must pay for them."""
        if not self.pilot:
            return
        _check_ids("pilot", self.pilot, "pilot item")
        if not takes_pilot(method):
            takes = ", ".join(name for name, m in METHODS.items() if takes_pilot(m))
            raise ConfigError(
                f"method {self.method!r} cannot reuse a pilot: a pilot item carries a gold "
                f"label, so it needs a method with a gold stage ({takes})"
            )
        self.allocation_with_pilot()  # refuses a pilot the budget cannot pay for

    def _check_weak_pilot(self, method: Method) -> None:
        """A weak pilot names distinct pool items, none of them a pilot item, each with a weak
        label: only a method that trains can reuse them."""
        if not self.weak_pilot:
            return
        seen = _check_ids("weak_pilot", self.weak_pilot, "item")
        both = seen & set(self.pilot or ())
        if both:
            raise ConfigError(
                f"item {sorted(both)[0]!r} is in both pilot and weak_pilot: a pilot item already "
                "carries its weak label; name it in one of them"
            )
        if not takes_weak_pilot(method):
            takes = ", ".join(name for name, m in METHODS.items() if takes_weak_pilot(m))
            raise ConfigError(
                f"method {self.method!r} cannot reuse a weak pilot: it trains nothing, so it "
                f"needs a method that trains ({takes})"
            )
        self.allocation_with_pilot()  # refuses a weak pilot the budget cannot pay for

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

    def allocation_with_pilot(self) -> Allocation:
        """The labels the run buys, the pilots' included (the allocation without a pilot). A
        method without a weak stage (gold_only) buys no weak label beyond the pilots': the
        dollars the gold labels leave stay unspent."""
        assert self.gold_frac is not None
        n_pilot, n_weak_pilot = len(self.pilot or ()), len(self.weak_pilot or ())
        labels = allocate_with_pilot(
            self.budget, self.gold_frac, self.prices, n_pilot, n_weak_pilot
        )
        method = get_method(self.method)
        if "weak" not in method.sources and not method.prompt_only:
            return Allocation(n_weak=n_pilot + n_weak_pilot, n_gold=labels.n_gold)
        return labels

    def labels_used(self) -> tuple[int, int]:
        """(n_weak, n_gold) of the allocation that the method actually uses: a method that trains
        on one source ignores the other's share; a prompt-only method buys its k demonstrations
        as gold labels. A pilot's labels are counted in."""
        alloc = self.allocation_with_pilot()
        method = get_method(self.method)
        if method.prompt_only:
            return 0, min(self.k_shots, alloc.n_gold)
        n_weak = alloc.n_weak if "weak" in method.sources else 0
        n_gold = alloc.n_gold if "gold" in method.sources else 0
        return n_weak, n_gold

    def check_buys_labels(self) -> None:
        """Refuse a budget that buys no label the method uses (e.g. gold_only at $0.50 with gold
        at $1): such a run could only report an untrained model at chance."""
        if sum(self.labels_used()) > 0:
            return
        method = get_method(self.method)
        sources = ("gold",) if method.prompt_only else tuple(dict.fromkeys(method.sources))
        price = {"weak": self.weak_cost, "gold": self.gold_cost}
        cheapest = min(sources, key=lambda s: price[s])
        raise BudgetError(
            f"budget ${self.budget:g} buys no label that {self.method} uses: its cheapest label "
            f"({cheapest}) costs ${price[cheapest]:g}"
            + (f" and gold_frac {self.gold_frac:g} leaves it none" if len(sources) > 1 else "")
            + f"; raise the budget to at least ${price[cheapest]:g}"
        )

    def effective_schedule(self) -> Schedule:
        if self.schedule is not None:
            return self.schedule
        return LORA_SCHEDULE if self.trainer == "lora" else PROBE_SCHEDULE

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schedule"] = asdict(self.effective_schedule())
        d["pilot"] = list(self.pilot or ())  # as JSON reads it back
        d["weak_pilot"] = list(self.weak_pilot or ())
        return d

    def key(self) -> str:
        """Stable hash of everything that changes the result (not where the data lives); computed
        once per (frozen) config, since sweeps ask for it many times."""
        cached = self.__dict__.get("_key")
        if cached is None:
            d = self.to_dict()
            for name in EXECUTION_ONLY:
                d.pop(name)
            for name, neutral in KEY_NEUTRAL.items():
                if d[name] == neutral:
                    d.pop(name)
            blob = json.dumps(d, sort_keys=True, default=str)
            cached = hashlib.sha256(blob.encode()).hexdigest()[:20]
            object.__setattr__(self, "_key", cached)
        return cached

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
