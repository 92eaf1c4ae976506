"""A local mirror that is broken in the ways users break them: each gives a DataError that names
the problem. Needs no real data, so it runs everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelmix.errors import DataError
from labelmix.tasks import SplitSizes, get_task, load_splits

SIZES = SplitSizes(weak_train=100, pool=200, test=100)


# ---------------------------------------------------------------------------------------------
# Broken data dirs


def test_data_dir_without_the_task_lists_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "someone__else").mkdir()
    (tmp_path / "nyu-mll__glue").mkdir()
    with pytest.raises(DataError, match="not in data dir") as err:
        load_splits(get_task("sst2"), tmp_path, SIZES, seed=0)
    message = str(err.value)
    assert "stanfordnlp__sst2/default" in message
    assert "someone__else" in message and "nyu-mll__glue" in message


def test_missing_data_dir_is_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_splits(get_task("cola"), tmp_path / "nowhere", SIZES, seed=0)


def test_malformed_jsonl_is_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "nyu-mll__glue" / "cola"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text('{"sentence": "Fine.", "label": 1, "idx": 0}\n{not json\n')
    with pytest.raises(DataError, match="cannot read .*train.jsonl"):
        load_splits(get_task("cola"), tmp_path, SIZES, seed=0)


def test_row_without_a_field_is_data_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "nyu-mll__glue" / "cola"
    folder.mkdir(parents=True)
    rows = [{"sentence": f"Sentence {i}.", "label": i % 2, "idx": i} for i in range(40)]
    rows[7] = {"label": 1, "idx": 7}
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"row 7: .*'sentence'"):
        load_splits(get_task("cola"), tmp_path, SIZES, seed=0)


def test_task_folder_without_usable_splits_is_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "nyu-mll__glue" / "cola"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_text('{"sentence": "Hidden.", "label": -1, "idx": 0}\n')
    with pytest.raises(DataError, match="none of the splits"):
        load_splits(get_task("cola"), tmp_path, SIZES, seed=0)
