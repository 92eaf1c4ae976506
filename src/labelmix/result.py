"""The result of one run: every field defined once, here. The run writes it, the store validates
it on read (a record of the wrong shape is set aside, not counted as done), and the table, the
analysis and the benchmarks read its columns by these names.

Two fractions, not complements: `gold_frac` is the share of the budget *planned* for gold labels
(the allocation's input); `weak_share_spent` is the share of the dollars actually spent that went
to weak labels (a pool cap or rounding makes them differ)."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from labelmix.errors import DataError

# Old field names still found in stores written before a rename: read as the new name.
RENAMED = {"weak_frac": "weak_share_spent"}


@dataclass(frozen=True)
class RunResult:
    # -- identity (required: a store cannot use a record without them) --
    key: str
    status: str
    task: str
    method: str
    seed: int
    budget: float
    weak_cost: float
    gold_cost: float
    accuracy: float  # test split, at `accuracy_threshold`
    # -- what ran --
    trainer: str | None = None
    model: str | None = None
    weak_model: str | None = None
    weak_labeler: str | None = None  # probe | finetune | prompt | column[...]
    gold_frac: float | None = None  # planned share of the budget for gold labels
    shots: int | None = None
    alloc_n_weak: int | None = None
    alloc_n_gold: int | None = None
    # -- the ledger --
    spent: float | None = None
    n_weak: int | None = None
    spent_weak: float | None = None
    n_weak_train: int | None = None
    n_weak_val: int | None = None
    n_weak_few_shot: int | None = None
    n_gold: int | None = None
    spent_gold: float | None = None
    n_gold_train: int | None = None
    n_gold_val: int | None = None
    n_gold_few_shot: int | None = None
    weak_share_spent: float | None = None  # spent on weak / spent (NaN when nothing was spent)
    # -- scores --
    accuracy_ci_low: float | None = None
    accuracy_ci_high: float | None = None
    auroc: float | None = None
    auroc_ci_low: float | None = None
    auroc_ci_high: float | None = None
    test_correct: str | None = None  # per test example, packed bits (labelmix.metrics)
    selection_accuracy: float | None = None  # what every choice is made on
    selection_auroc: float | None = None
    accuracy_threshold: str | None = None
    threshold_value: float | None = None
    ci_method: str | None = None
    accuracy_vs_weak: float | None = None
    weak_label_test_accuracy: float | None = None
    raw_accuracy: float | None = None  # few_shot: at log-odds 0, beside the calibrated one
    raw_accuracy_ci_low: float | None = None
    raw_accuracy_ci_high: float | None = None
    threshold: float | None = None  # few_shot: the prior-matched threshold
    prompt_positive_rate: float | None = None
    # -- data --
    n_test: int | None = None
    n_select: int | None = None
    n_pool: int | None = None
    pool_limited: bool | None = None
    prefix_bank: int | None = None
    # -- details --
    stages: list[Any] = field(default_factory=list)
    notes: list[Any] = field(default_factory=list)
    time_s: float | None = None
    time_setup_s: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    saved_classifier: str | None = None
    # Fields this version does not know (a newer writer, a custom run function): kept, not lost.
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, record: Any, where: str = "run record") -> RunResult:
        """Validate a record: a DataError names the first missing or mistyped field."""
        if not isinstance(record, dict):
            raise DataError(f"{where}: a run record is a JSON object, not {type(record).__name__}")
        data = {RENAMED.get(k, k): v for k, v in record.items()}
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        kwargs: dict[str, Any] = {"extra": {k: v for k, v in data.items() if k not in known}}
        for name, f in known.items():
            if name not in data:
                if f.default is MISSING and f.default_factory is MISSING:
                    raise DataError(f"{where}: missing field {name!r}")
                continue
            value = data[name]
            if not _fits(value, str(f.type)):
                raise DataError(f"{where}: field {name!r} is {value!r}, expected {f.type}")
            kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The record as stored: declared fields (None ones left out), then the extra ones."""
        d = asdict(self)
        extra = d.pop("extra")
        return {**{k: v for k, v in d.items() if v is not None}, **extra}


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunResult) if f.name != "extra")


def _fits(value: Any, annotation: str) -> bool:
    if value is None:
        return "None" in annotation
    if annotation.startswith("str"):
        return isinstance(value, str)
    if annotation.startswith("bool"):
        return isinstance(value, bool)
    if annotation.startswith("int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation.startswith("float"):  # JSON's NaN is a float too (e.g. a share of $0)
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation.startswith("list"):
        return isinstance(value, list)
    if annotation.startswith("dict"):
        return isinstance(value, dict)
    return True
