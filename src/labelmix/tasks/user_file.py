"""A user's own labelled data as a task: `--task file:PATH` with PATH a .jsonl or .csv file whose
rows have a `text` and a `label` (0/1) field. labelmix balances it, carves weak_train, pool and
test, and simulates buying labels, so a sweep on a labelled sample tells how to spend on the rest."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from labelmix.errors import ConfigError, DataError
from labelmix.tasks.base import Example, TaskSpec, balance, dedupe

PREFIX = "file:"


def _rows(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".jsonl":
        rows = []
        with path.open(encoding="utf-8") as f:
            for i, line in enumerate(f):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}, line {i + 1}: not JSON ({e.msg})") from None
        return rows
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    raise ConfigError(f"task file {path} must end in .jsonl or .csv")


def parse_label(value: object, where: str) -> int:
    """0/1 from a bool, an int, a float or a numeric string; anything else names `where`."""
    if isinstance(value, bool):
        return int(value)
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{where}: label {value!r} is not 0 or 1") from None
    if as_float not in (0.0, 1.0):
        raise DataError(f"{where}: label {value!r} is outside {{0, 1}}")
    return int(as_float)


def file_task(name: str) -> TaskSpec:
    path = Path(name[len(PREFIX) :]).expanduser()
    if not path.is_file():
        raise ConfigError(f"task file {path} does not exist (use --task file:PATH.jsonl or .csv)")

    def generate(seed: int) -> list[Example]:
        out: list[Example] = []
        for i, row in enumerate(_rows(path)):
            where = f"{path}, row {i + 1}"
            if not isinstance(row, dict) or "text" not in row or "label" not in row:
                raise DataError(f"{where}: needs fields 'text' and 'label'")
            text = row["text"]
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: 'text' must be a non-empty string")
            out.append(Example.make(text, parse_label(row["label"], where)))
        return balance(dedupe(out), seed)

    return TaskSpec(
        name=name,
        description=f"your data: {path.name} (text, label)",
        generator=generate,
        test_split=None,
    )
