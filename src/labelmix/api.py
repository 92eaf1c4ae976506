"""The library API: own data in memory, own weak labels (an array or a model), any method (a name
or a list of stages) and precomputed features, to a fitted classifier, without files.

    import labelmix as lm
    task = lm.Task.from_records(texts, labels, name="reviews")
    result = lm.fit("seq_sft", task, budget=64, weak_cost=0.1, gold_frac=0.2)
    result.accuracy, result.ledger, result.classifier.predict_proba(["a new text"])

A fit is one run of the simulation the sweeps are made of: the task's labelled examples are split
(weak_train, pool, select, test), labels are bought from the pool within the budget, the method
trains, and the test split scores the classifier. Nothing here chooses on the test split."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from labelmix.classifier import Classifier
from labelmix.config import RunConfig
from labelmix.errors import ConfigError, DataError
from labelmix.labels.weak import WeakLabeler
from labelmix.methods import Method, get_method, register_method
from labelmix.models.features import FeatureTable
from labelmix.run import run_config
from labelmix.tasks.base import Example, TaskSpec, balance, text_id
from labelmix.tasks.registry import get_task, register_task
from labelmix.tasks.splits import SplitSizes
from labelmix.tasks.user_file import parse_label
from labelmix.train.schedule import Schedule


@dataclass(frozen=True)
class Task:
    """A binary task: labelled examples that a fit splits and buys labels for. `texts` keeps the
    caller's order (exact repeats once), which weak-label arrays and feature arrays follow. A fit
    balances the classes 50/50 by undersampling before it splits, as for every task."""

    name: str  # the registered name: the caller's name plus a digest of the data
    texts: tuple[str, ...] = field(repr=False)
    labels: tuple[int, ...] = field(repr=False)

    @classmethod
    def from_records(
        cls, texts: Iterable[str], labels: Iterable[Any], name: str = "my_task"
    ) -> Task:
        """Texts and their 0/1 labels. The same text twice with different labels is refused (it
        would be one example with two truths); exact repeats are kept once."""
        texts, labels = list(texts), list(labels)
        if len(texts) != len(labels):
            raise DataError(f"{len(texts)} texts but {len(labels)} labels: give one label per text")
        seen: dict[str, int] = {}
        keep_t: list[str] = []
        keep_y: list[int] = []
        conflicts = 0
        for i, (t, v) in enumerate(zip(texts, labels, strict=True)):
            if not isinstance(t, str) or not t.strip():
                raise DataError(f"record {i}: text must be a non-empty string, got {t!r}")
            y = parse_label(v, f"record {i}")
            if t in seen:
                conflicts += seen[t] != y
                continue
            seen[t] = y
            keep_t.append(t)
            keep_y.append(y)
        if conflicts:
            raise DataError(
                f"{conflicts} text(s) appear with both labels 0 and 1; resolve or drop them first"
            )
        if not isinstance(name, str) or not name.strip() or "@" in name or ":" in name:
            raise ConfigError(f"task name {name!r} must be non-empty, without '@' or ':'")
        digest = hashlib.sha256(
            "\n".join(f"{text_id(t)}:{y}" for t, y in zip(keep_t, keep_y, strict=True)).encode()
        ).hexdigest()[:10]
        task = cls(f"{name}@{digest}", tuple(keep_t), tuple(keep_y))
        task.register()
        return task

    def register(self) -> None:
        """Make the task runnable by name in this process (a fit does it; a Task unpickled in
        another process needs it again)."""
        examples = [Example.make(t, y) for t, y in zip(self.texts, self.labels, strict=True)]

        def generate(seed: int) -> list[Example]:
            return balance(examples, seed)

        register_task(
            TaskSpec(
                name=self.name,
                description=f"{self.name}: {len(examples)} labelled texts in memory",
                generator=generate,
                test_split=None,
                origin="your texts in memory",
            )
        )

    @classmethod
    def from_dataset(
        cls, data: Any, text: str = "text", label: str = "label", name: str = "my_task"
    ) -> Task:
        """A `datasets.Dataset`, a pandas DataFrame, or a mapping of columns."""
        try:
            texts, labels = list(data[text]), list(data[label])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(
                f"cannot read columns {text!r} and {label!r} from {type(data).__name__} ({e}); "
                "name them with text=... and label=..."
            ) from None
        return cls.from_records(texts, labels, name)

    @classmethod
    def from_name(cls, name: str, data_dir: str | Path | None = None) -> Task:
        """A built-in task's labelled examples (its training side), as in-memory data."""
        from labelmix.tasks.loading import FORMAT_SEED, load_task_examples

        where = Path(data_dir) if data_dir else None
        examples, _, _ = load_task_examples(get_task(name), where, FORMAT_SEED)
        return cls.from_records([e.text for e in examples], [e.label for e in examples], name)

    @classmethod
    def from_file(cls, path: str | Path) -> Task:
        """A .jsonl or .csv with `text` and `label` fields (the `file:` task of the CLI), rows in
        file order."""
        from labelmix.tasks.user_file import file_examples

        get_task(f"file:{path}")  # a clear error for a missing file or a wrong suffix
        examples = file_examples(Path(path).expanduser())
        name = Path(path).stem.replace("@", "_").replace(":", "_") or "my_task"
        return cls.from_records([e.text for e in examples], [e.label for e in examples], name)


@dataclass(frozen=True)
class WeakLabels:
    """Where weak labels come from: a model trained on the task's `weak_train` split (its gold
    labels are a sunk cost, not charged), or the caller's own probabilities of label 1."""

    model: str | None = None
    probs: Mapping[str, float] | None = field(default=None, repr=False)
    task: str | None = None  # the task whose texts the probabilities follow
    labeler: str = "probe"  # probe | finetune | prompt | column[:FIELD|:PATH[:FIELD]]

    @classmethod
    def from_model(cls, model: str | None = None, labeler: str = "probe") -> WeakLabels:
        """A weak model trained (probe, finetune) or prompted (prompt) on `weak_train`; `model`
        defaults to the labeler's usual one (minilm; smollm2 for prompt)."""
        from labelmix.labels.weak import check_labeler, default_weak_model, parse_labeler

        kind, _ = parse_labeler(labeler)
        if kind == "column":
            raise ConfigError(
                "column weak labels come from data, not a model: use WeakLabels.from_column"
            )
        model = model or default_weak_model(labeler)
        check_labeler(labeler, "", model)
        return cls(model=model, labeler=labeler)

    @classmethod
    def from_column(cls, spec: str = "column") -> WeakLabels:
        """Your own weak labels: `column` (a file task's field weak_label), `column:FIELD`, or
        `column:PATH.jsonl|csv[:FIELD]` (a separate file keyed by text or id)."""
        from labelmix.labels.weak import parse_labeler

        kind, arg = parse_labeler(spec if spec.startswith("column") else f"column:{spec}")
        return cls(labeler=f"column:{arg}" if arg else "column")

    @classmethod
    def from_array(cls, task: Task, probs: Sequence[float] | np.ndarray) -> WeakLabels:
        """One weak label per text of `task`, in its order: hard 0/1 or a probability."""
        p = np.asarray(probs, dtype=float).ravel()
        if len(p) != len(task.texts):
            raise DataError(
                f"{len(p)} weak labels for {len(task.texts)} texts: give one per text, in order"
            )
        if not np.all((p >= 0) & (p <= 1)):
            raise DataError("weak labels must be probabilities in [0, 1] (or hard 0/1)")
        probs_by_id = {text_id(t): float(v) for t, v in zip(task.texts, p, strict=True)}
        return cls(probs=probs_by_id, task=task.name)


# fit's defaults are RunConfig's (one source of truth for the library, the CLI and sweeps).
_DEFAULT = {f.name: f.default for f in fields(RunConfig) if f.default is not MISSING}


@dataclass
class FitResult:
    """What a fit bought, how its classifier scores, and the classifier (None for few_shot,
    which trains nothing). `accuracy` is on the test split at `threshold` (log-odds 0 for
    trained methods, a prior-matched threshold for few_shot); `selection_accuracy` on the
    selection split: compare and choose with it. `notes` says what the data or the pool
    changed (e.g. a test split carved from training data, weak labels capped by the pool)."""

    task: str
    method: str
    key: str
    accuracy: float
    accuracy_ci: tuple[float, float]
    threshold: str
    auroc: float
    selection_accuracy: float
    n_weak: int
    n_gold: int
    spent: float
    pool_limited: bool
    notes: list[str]
    ledger: dict[str, Any]
    record: dict[str, Any] = field(repr=False)
    classifier: Classifier | None = field(repr=False)


def fit(
    method: str | Method,
    task: Task | str,
    *,
    budget: float,
    weak_cost: float = _DEFAULT["weak_cost"],
    gold_cost: float = _DEFAULT["gold_cost"],
    gold_frac: float | None = None,
    weak: WeakLabels | None = None,
    model: str = _DEFAULT["model"],
    trainer: str = _DEFAULT["trainer"],
    features: np.ndarray | None = None,
    seed: int = _DEFAULT["seed"],
    split_sizes: SplitSizes | None = None,
    schedule: Schedule | None = None,
    shots: int | None = None,
    data_dir: str | None = None,
) -> FitResult:
    """Buy labels for `task` within `budget` and train `method` on them (see the module doc).

    method: a built-in name (labelmix.METHODS) or a `Method` of your own stages. gold_frac: the
    share of the budget planned for gold labels (default 0.2; not for weak_only / gold_only /
    few_shot). weak: where weak labels come from (default: a MiniLM probe trained on the task's
    weak_train split). features: an (n, d) array, one row per text of `task`, for the probe to
    train on instead of the model's."""
    if isinstance(method, Method):
        register_method(method)
        method_name = method.name
    else:
        method_name = get_method(method).name
    if isinstance(task, Task):
        task.register()
    task_name = task.name if isinstance(task, Task) else task
    weak = weak or WeakLabels.from_model(_DEFAULT["weak_model"])
    if weak.task is not None and weak.task != task_name:
        raise ConfigError(
            f"these weak labels follow the texts of task {weak.task!r}, not {task_name!r}: "
            "make them with WeakLabels.from_array(task, probs) for the task you fit"
        )
    spec = get_method(method_name)
    if gold_frac is None:
        gold_frac = (
            spec.fixed_gold_frac if spec.fixed_gold_frac is not None else _DEFAULT["gold_frac"]
        )
    k = spec.shots if shots is None else shots
    if features is not None:
        if trainer != "probe" or spec.prompt_only:
            raise ConfigError(
                "precomputed features train a probe: use trainer='probe' and a method that trains"
            )
        if k:
            raise ConfigError(
                f"{method_name} puts a {k}-shot text prefix on every input, which precomputed "
                "features cannot see; use shots=0 or a method without a prefix"
            )
        if not isinstance(task, Task):
            raise ConfigError("precomputed features need a Task (their rows follow task.texts)")
    cfg = RunConfig(
        task=task_name,
        method=method_name,
        budget=budget,
        gold_frac=gold_frac,
        weak_cost=weak_cost,
        gold_cost=gold_cost,
        trainer=trainer,
        model=model,
        weak_model=weak.model or _DEFAULT["weak_model"],
        weak_labeler=weak.labeler,
        seed=seed,
        shots=shots,
        split_sizes=split_sizes or SplitSizes(),
        schedule=schedule,
        data_dir=data_dir,
    )
    labeler = WeakLabeler.from_column(weak.probs, weak_cost) if weak.probs is not None else None
    table = None
    if features is not None:
        assert isinstance(task, Task)
        table = FeatureTable(task.texts, features)
    out = run_config(cfg, weak=labeler, features=table)
    r = out.record
    if labeler is not None or table is not None:
        # Inputs that are not names: say so, and key the record by them too.
        blob = hashlib.sha256(r["key"].encode())
        if labeler is not None:
            r["weak_model"] = "given (WeakLabels.from_array)"
            blob.update(repr(sorted(weak.probs.items())).encode())  # type: ignore[union-attr]
        if table is not None:
            r["model"] = "precomputed features"
            blob.update(np.ascontiguousarray(features, dtype=np.float32).tobytes())
        r["key"] = blob.hexdigest()[:20]
    return FitResult(
        task=task_name,
        method=method_name,
        key=r["key"],
        accuracy=r["accuracy"],
        accuracy_ci=(r["accuracy_ci_low"], r["accuracy_ci_high"]),
        threshold=r["accuracy_threshold"],
        auroc=r["auroc"],
        selection_accuracy=r["selection_accuracy"],
        n_weak=r["n_weak"],
        n_gold=r["n_gold"],
        spent=r["spent"],
        pool_limited=bool(r.get("pool_limited", False)),
        notes=list(r.get("notes", [])),
        ledger={
            k: r[k] for k in ("budget", "spent", "spent_weak", "spent_gold", "n_weak", "n_gold")
        },
        record=r,
        classifier=out.classifier,
    )
