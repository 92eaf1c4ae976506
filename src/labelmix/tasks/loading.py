"""Read a task's rows from the Hugging Face Hub or from a local mirror laid out like the Hub.

Mirror layout: `<data_dir>/<hub id with '/' -> '__'>/<config or 'default'>/<split>.jsonl`, one JSON
object per line with the Hub's field names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from labelmix.errors import DataError
from labelmix.tasks.base import Example, TaskSpec, format_rows
from labelmix.tasks.splits import Splits, SplitSizes, make_splits

# Multiple-choice distractors and generated tasks are drawn once: they define the task, so every
# run seed sees the same task and only its own draw of the splits.
FORMAT_SEED = 0


def _read_mirror_split(folder: Path, split: str) -> list[Mapping[str, Any]] | None:
    path = folder / f"{split}.jsonl"
    if not path.exists():
        return None
    import datasets

    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset("json", data_files={split: str(path)}, split=split)
    except Exception as e:  # datasets wraps JSON errors in several types
        raise DataError(f"cannot read {path}: {e}. Each line must be one JSON object.") from None
    return list(ds)


def _read_hub_split(spec: TaskSpec, split: str) -> list[Mapping[str, Any]] | None:
    import datasets

    try:
        ds = datasets.load_dataset(spec.hub_id, spec.config, split=split)
    except ValueError as e:
        if "split" in str(e).lower():
            return None
        raise DataError(f"cannot load {spec.hub_id} ({spec.config}) split {split}: {e}") from None
    except Exception as e:
        raise DataError(
            f"cannot load task {spec.name!r} from the Hugging Face Hub ({spec.hub_id}): "
            f"{type(e).__name__}: {str(e)[:200]}. Offline? Point --data-dir (or LABELMIX_DATA_DIR) "
            "at a local mirror laid out as <hub id with / -> __>/<config>/<split>.jsonl."
        ) from None
    return list(ds)


def load_rows(
    spec: TaskSpec, data_dir: Path | None
) -> tuple[dict[str, list[Mapping[str, Any]]], list[str]]:
    """Raw rows per available split, from the mirror if `data_dir` is given, else the Hub."""
    notes: list[str] = []
    wanted = list(spec.train_splits) + ([spec.test_split] if spec.test_split else [])
    rows: dict[str, list[Mapping[str, Any]]] = {}
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError(f"data dir {data_dir} does not exist; pass an existing folder")
        folder = data_dir / spec.mirror_folder
        if not folder.is_dir():
            have = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
            raise DataError(
                f"task {spec.name!r} is not in data dir {data_dir}: expected folder "
                f"{spec.mirror_folder}/ with <split>.jsonl files (found: {', '.join(have) or 'none'})"
            )
        for split in wanted:
            got = _read_mirror_split(folder, split)
            if got is not None:
                rows[split] = got
        notes.append(f"read from local mirror {folder}")
    else:
        if os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise DataError(
                f"task {spec.name!r} needs the Hugging Face Hub but offline mode is set; "
                "pass --data-dir (or LABELMIX_DATA_DIR) pointing at a local mirror"
            )
        for split in wanted:
            got = _read_hub_split(spec, split)
            if got is not None:
                rows[split] = got
    if not rows:
        raise DataError(
            f"task {spec.name!r}: none of the splits {wanted} were found"
            + (f" in {data_dir / spec.mirror_folder}" if data_dir is not None else "")
        )
    return rows, notes


def load_task_examples(
    spec: TaskSpec, data_dir: Path | None, seed: int
) -> tuple[list[Example], list[Example] | None, list[str]]:
    """(training-side examples, held-out examples or None, notes)."""
    if spec.generator is not None:
        return spec.generator(seed), None, [spec.source]
    rows, notes = load_rows(spec, data_dir)
    train_like: list[Example] = []
    for split in spec.train_splits:
        if split in rows:
            train_like += format_rows(spec, rows[split], seed, split)
    test_like: list[Example] | None = None
    if spec.test_split and spec.test_split in rows:
        test_like = format_rows(spec, rows[spec.test_split], seed, spec.test_split)
    if not train_like:
        if test_like is None:
            raise DataError(f"task {spec.name!r}: no usable rows")
        notes.append(
            f"no training split ({', '.join(spec.train_splits)}) available: weak_train, pool and "
            f"test are all carved from {spec.test_split!r}"
        )
        train_like, test_like = test_like, None
    return train_like, test_like, notes


def load_splits(
    spec: TaskSpec, data_dir: Path | None = None, sizes: SplitSizes | None = None, seed: int = 0
) -> Splits:
    """The splits of one seed. The task itself (formatting, distractors, generated statements)
    is fixed; the seed only draws the partition (see make_splits)."""
    train_like, test_like, notes = load_task_examples(spec, data_dir, FORMAT_SEED)
    splits = make_splits(train_like, test_like, sizes or SplitSizes(), seed)
    return replace(splits, notes=tuple(notes) + splits.notes)
