"""A user's own labelled data as a task: `--task file:PATH` with PATH a .jsonl or .csv file whose
rows have a `text` and a `label` (0/1) field. labelmix balances it, carves weak_train, pool and
test, and simulates buying labels, so a sweep on a labelled sample tells how to spend on the rest.

The same text labelled both 0 and 1 is refused with a count: it would be one example with two
truths, and keeping either label silently changes what the sweep measures (the library's
Task.from_records refuses it the same way). Exact repeats (same text, same label) count once."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from labelmix.errors import ConfigError, DataError
from labelmix.paths import read_text
from labelmix.tasks.base import Example, TaskSpec, balance, dedupe

PREFIX = "file:"


def _rows(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".jsonl":
        rows = []
        for i, line in enumerate(read_text(path, "task file").splitlines()):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, line {i + 1}: not JSON ({e.msg})") from None
        return rows
    if path.suffix == ".csv":
        text = read_text(path, "task file")
        try:
            return list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as e:
            raise DataError(f"{path}: not a readable CSV ({e})") from None
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


def file_examples(path: Path) -> list[Example]:
    """Every row of the file as an Example, in file order, exact repeats once; contradictory
    duplicates (the same text with labels 0 and 1) are a DataError with their count."""
    out: list[Example] = []
    first_row: dict[str, tuple[int, int]] = {}  # text id -> (row, label)
    conflicts: dict[str, int] = {}  # text id -> row of its first contradiction
    for i, row in enumerate(_rows(path)):
        where = f"{path}, row {i + 1}"
        if not isinstance(row, dict) or "text" not in row or "label" not in row:
            raise DataError(f"{where}: needs fields 'text' and 'label'")
        text = row["text"]
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: 'text' must be a non-empty string")
        ex = Example.make(text, parse_label(row["label"], where))
        seen = first_row.setdefault(ex.id, (i + 1, ex.label))
        if seen[1] != ex.label:
            conflicts.setdefault(ex.id, i + 1)
        out.append(ex)
    if conflicts:
        text_id, row_no = next(iter(conflicts.items()))
        raise DataError(
            f"{path}: {len(conflicts)} text(s) appear with both labels 0 and 1 (e.g. rows "
            f"{first_row[text_id][0]} and {row_no}); keep one label per text or drop them"
        )
    return dedupe(out)


def file_task(name: str) -> TaskSpec:
    path = Path(name[len(PREFIX) :]).expanduser()
    if not path.is_file():
        raise ConfigError(f"task file {path} does not exist (use --task file:PATH.jsonl or .csv)")

    def generate(seed: int) -> list[Example]:
        return balance(file_examples(path), seed)

    return TaskSpec(
        name=name,
        description=f"your data: {path.name} (text, label)",
        generator=generate,
        test_split=None,
        origin=f"your file {path}",
    )
