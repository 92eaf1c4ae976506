"""The weak label source: soft labels for example ids, sold at the weak price. They come from a
model trained or prompted with `weak_train` gold labels (labelmix.train.weak_labeler) or from a
user's own column of weak labels (`read_weak_column`, `WeakLabeler.from_column`).

How good weak labels are is measured the same way for every source (`weak_label_quality`):
accuracy at probability 0.5 and AUROC say how much signal they carry; the Brier score and the
expected calibration error say whether their probabilities can be taken at face value, which
soft-label training (and most-confident sampling) does."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelmix.errors import ConfigError, DataError
from labelmix.labels.budget import Ledger
from labelmix.metrics import accuracy, auroc

ECE_BINS = 10
NAN = float("nan")


def brier_score(labels: Sequence[float] | np.ndarray, probs: Sequence[float] | np.ndarray) -> float:
    """Mean squared error of P(label 1): 0 is perfect, 0.25 is a constant 0.5."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probs, dtype=float)
    return float(np.mean((p - y) ** 2)) if len(y) else NAN


def expected_calibration_error(
    labels: Sequence[float] | np.ndarray, probs: Sequence[float] | np.ndarray, bins: int = ECE_BINS
) -> float:
    """|share of label 1 - mean P(label 1)| in equal-width bins of P(label 1), weighted by the
    bin's size: how far the stated probabilities are from the frequencies they claim."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probs, dtype=float)
    if not len(y):
        return NAN
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(y[inside].mean() - p[inside].mean())
    return float(total / len(y))


def weak_label_quality(
    labels: Sequence[float] | np.ndarray, probs: Sequence[float] | np.ndarray
) -> dict[str, float]:
    """Accuracy (label 1 at P > 0.5), AUROC, Brier score and ECE of weak labels against gold."""
    p = np.asarray(probs, dtype=float)
    return {
        "accuracy": accuracy(labels, p - 0.5),
        "auroc": auroc(labels, p),
        "brier": brier_score(labels, p),
        "ece": expected_calibration_error(labels, p),
    }


@dataclass(frozen=True)
class WeakLabelReport:
    """How a weak labeler was made and how good its labels are on the pool (what a budget buys)
    and on test (reported, never used to choose)."""

    n_train: int
    n_val: int
    pool_accuracy: float
    pool_auroc: float
    test_accuracy: float
    test_auroc: float
    time_s: float
    cached: bool
    labeler: str = "probe"  # one line: what made the labels and how they were calibrated
    pool_brier: float = NAN
    pool_ece: float = NAN
    test_brier: float = NAN
    test_ece: float = NAN

    @staticmethod
    def measure(
        pool_y: np.ndarray,
        pool_p: np.ndarray,
        test_y: np.ndarray,
        test_p: np.ndarray,
        *,
        n_train: int,
        n_val: int,
        time_s: float,
        cached: bool,
        labeler: str,
    ) -> WeakLabelReport:
        pool = weak_label_quality(pool_y, pool_p)
        test = weak_label_quality(test_y, test_p)
        return WeakLabelReport(
            n_train=n_train,
            n_val=n_val,
            pool_accuracy=pool["accuracy"],
            pool_auroc=pool["auroc"],
            test_accuracy=test["accuracy"],
            test_auroc=test["auroc"],
            time_s=time_s,
            cached=cached,
            labeler=labeler,
            pool_brier=pool["brier"],
            pool_ece=pool["ece"],
            test_brier=test["brier"],
            test_ece=test["ece"],
        )

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


DEFAULT_COLUMN = "weak_label"


def read_weak_column(path: Path, column: str = DEFAULT_COLUMN) -> dict[str, float]:
    """A user's own weak labels from a .jsonl or .csv file, keyed by example id: each row names
    its example by `text` (as in a `file:` task) or by `id` (labelmix's example id), and gives
    P(label 1) or a hard 0/1 in `column`. Rows whose `column` is empty or missing are skipped
    (those examples have no weak label; a run refuses a task whose pool or test lacks one)."""
    from labelmix.tasks.base import text_id
    from labelmix.tasks.user_file import _rows

    if not path.is_file():
        raise ConfigError(f"weak-label file {path} does not exist")
    out: dict[str, float] = {}
    for i, row in enumerate(_rows(path)):
        where = f"{path}, row {i + 1}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: not an object with fields")
        value = row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(row.get("text"), str) and row["text"].strip():
            key = text_id(row["text"])
        elif isinstance(row.get("id"), str) and row["id"].strip():
            key = row["id"]
        else:
            raise DataError(f"{where}: needs a 'text' (or an 'id') naming its example")
        try:
            p = float(value)
        except (TypeError, ValueError):
            raise DataError(
                f"{where}: weak label {value!r} in {column!r} is not a number"
            ) from None
        if not (0.0 <= p <= 1.0) or math.isnan(p):
            raise DataError(
                f"{where}: weak label {value!r} in {column!r} is outside [0, 1]; give P(label 1) "
                "or a hard 0/1"
            )
        if out.setdefault(key, p) != p:
            raise DataError(f"{where}: a second, different weak label for the same example")
    if not out:
        raise DataError(f"{path}: no row has a weak label in the field {column!r}")
    return out


class WeakLabeler:
    """Soft labels (probability of label 1) for example ids, sold at the weak price."""

    source = "weak"

    def __init__(
        self, probs: Mapping[str, float], price: float, report: WeakLabelReport | None = None
    ):
        bad = [(k, p) for k, p in probs.items() if not 0.0 <= float(p) <= 1.0]
        if bad:
            raise DataError(f"weak label {bad[0][1]!r} for example {bad[0][0]} is outside [0, 1]")
        self._probs = {k: float(v) for k, v in probs.items()}
        self.price = price
        self.report = report

    @staticmethod
    def from_column(probs: Mapping[str, float], price: float) -> WeakLabeler:
        """A user's own weak labels (hard 0/1 or probabilities), keyed by example id."""
        return WeakLabeler(probs, price)

    def priced(self, price: float) -> WeakLabeler:
        """The same labels sold at another price (one trained labeler serves every weak cost)."""
        return WeakLabeler(self._probs, price, self.report)

    def peek(self, ids: Sequence[str]) -> np.ndarray:
        """Weak labels without buying them: only for measuring (e.g. agreement on test), never
        for training or selection."""
        missing = [i for i in ids if i not in self._probs]
        if missing:
            raise DataError(
                f"no weak label for {len(missing)} example(s), e.g. {missing[0]}: the weak labels "
                "must cover every example of the task (pool, selection and test)"
            )
        return np.array([self._probs[i] for i in ids], dtype=np.float32)

    def buy(self, ids: Sequence[str], ledger: Ledger, purpose: str) -> np.ndarray:
        labels = self.peek(ids)  # every id has a label, before anything is charged
        ledger.charge(self.source, ids, self.price, purpose)
        return labels

    def confidences(self, ids: Sequence[str]) -> np.ndarray:
        """Used by most-confident sampling, which ranks before buying (the weak labeler's
        confidence is what it would sell; in the reference setup it is known up front)."""
        return self.peek(ids)


# ---- which weak labeler: the vocabulary RunConfig, the CLI and the signal check share ----

# probe: a linear head on a small model's frozen features of weak_train (the default);
# finetune: the small model itself trained as a classifier on weak_train (the paper's weak model);
# prompt: a local causal LM prompted with weak_train demonstrations;
# column: the user's own weak labels, from a field of the task file or a file of their own.
LABELERS = ("probe", "finetune", "prompt", "column")
# The model each labeler uses when none is named: a text embedder for the trained ones, a
# causal LM (the strong default) for prompting, which an embedder cannot do.
DEFAULT_WEAK_MODELS = {"probe": "minilm", "finetune": "minilm", "prompt": "smollm2"}
BUNDLED_ENCODERS = ("minilm",)
_TABLE_SUFFIXES = (".jsonl", ".csv")


def parse_labeler(spec: str) -> tuple[str, str | None]:
    """`probe`, `finetune`, `prompt`, `column` or `column:SOURCE` -> (kind, SOURCE or None)."""
    kind, sep, arg = spec.partition(":")
    if kind not in LABELERS or (sep and kind != "column") or (sep and not arg.strip()):
        raise ConfigError(
            f"unknown weak labeler {spec!r}; valid: probe, finetune, prompt, column (the task "
            "file's field 'weak_label'), column:FIELD, column:PATH.jsonl|csv[:FIELD]"
        )
    return kind, (arg if sep else None)


def column_source(task: str, arg: str | None) -> tuple[Path, str]:
    """Where `column[:arg]` weak labels are read from: (file, field). A path ending in .jsonl or
    .csv (optionally `:FIELD`) is a file of the user's own; anything else names a field of the
    `file:` task's rows (default `weak_label`)."""
    from labelmix.tasks.user_file import PREFIX

    if arg is not None:
        head, sep, field = arg.rpartition(":")
        if sep and head.endswith(_TABLE_SUFFIXES) and field.strip():
            return Path(head).expanduser(), field
        if arg.endswith(_TABLE_SUFFIXES):
            return Path(arg).expanduser(), DEFAULT_COLUMN
    field = arg or DEFAULT_COLUMN
    if not task.startswith(PREFIX):
        raise ConfigError(
            f"weak labeler 'column' reads the field {field!r} of a file: task's rows, and task "
            f"{task!r} is not one; name a file of weak labels instead: column:PATH.jsonl (fields "
            f"'text' and {DEFAULT_COLUMN!r})"
        )
    return Path(task[len(PREFIX) :]).expanduser(), field


def check_labeler(spec: str, task: str, weak_model: str | None = None) -> None:
    """Cheap validation (no model, no training) so a bad weak labeler fails before any work.
    Prompting a bundled text embedder is the likely slip (the default weak model is one): it is
    refused here; any other encoder is refused when the labeler loads its config."""
    kind, arg = parse_labeler(spec)
    if kind == "prompt" and weak_model in BUNDLED_ENCODERS:
        raise ConfigError(
            f"the prompt weak labeler needs a causal LM and {weak_model!r} is a text embedder: "
            f"set the weak model to one, e.g. {DEFAULT_WEAK_MODELS['prompt']}"
        )
    if kind == "column":
        path, _ = column_source(task, arg)
        if not path.is_file():
            raise ConfigError(f"weak-label file {path} does not exist")


def default_weak_model(spec: str) -> str:
    """The weak model a labeler uses unless one is named (column uses none: the default's)."""
    return DEFAULT_WEAK_MODELS.get(parse_labeler(spec)[0], DEFAULT_WEAK_MODELS["probe"])
