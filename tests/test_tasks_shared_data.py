"""The real datasets in ../shared/data (Hub row schema) loaded end to end: mirror -> formatter ->
balanced, disjoint splits. Skipped where the folder is absent; CI has it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labelmix.tasks import Splits, SplitSizes, get_task, load_splits
from labelmix.tasks.loading import load_rows

DATA_DIR = (
    Path(os.environ["LABELMIX_DATA_DIR"])
    if os.environ.get("LABELMIX_DATA_DIR")
    else Path(__file__).resolve().parents[2] / "shared" / "data"
)
if not DATA_DIR.is_dir():
    pytest.skip(
        f"../shared/data not found: {DATA_DIR} (set LABELMIX_DATA_DIR; CI has it)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.shared_data

SIZES = SplitSizes(weak_train=100, pool=200, test=100, select=50)

# Rows per split, from ../shared/data/README.md.
ROWS = {
    "cola": {"train": 8551, "validation": 1043},
    "social_i_qa": {"train": 33410, "validation": 1954},
    "hellaswag": {"validation": 10042},
    "sst2": {"train": 67349, "validation": 872},  # the mirror's labelled test is not used
}
PREFIX = {
    "cola": "Sentence: ",
    "social_i_qa": "Context: ",
    "hellaswag": "Activity: ",
    "sst2": "Review: ",
}


@pytest.fixture(scope="module")
def loaded() -> dict[str, Splits]:
    return {name: load_splits(get_task(name), DATA_DIR, SIZES, seed=0) for name in ROWS}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_mirror_row_counts(name: str) -> None:
    rows, notes = load_rows(get_task(name), DATA_DIR)
    assert {split: len(r) for split, r in rows.items()} == ROWS[name]
    assert any("local mirror" in n for n in notes)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_splits_counts_balance_disjoint(name: str, loaded: dict[str, Splits]) -> None:
    splits = loaded[name]
    assert splits.sizes() == {"weak_train": 100, "pool": 200, "test": 100, "select": 50}
    parts = {
        "weak_train": splits.weak_train,
        "pool": splits.pool,
        "test": splits.test,
        "select": splits.select,
    }
    for part_name, part in parts.items():
        assert sum(e.label for e in part) * 2 == len(part), f"{part_name} is not 50/50"
        assert len({e.id for e in part}) == len(part)
        assert all(e.text.startswith(PREFIX[name]) for e in part)
    ids = {k: {e.id for e in v} for k, v in parts.items()}
    assert sum(map(len, ids.values())) == len(set().union(*ids.values()))


@pytest.mark.parametrize("name", ["cola", "social_i_qa", "sst2"])
def test_held_out_split_used_as_test(name: str, loaded: dict[str, Splits]) -> None:
    splits = loaded[name]
    assert not any("carved" in n for n in splits.notes)
    assert get_task(name).test_split == "validation"


def test_hellaswag_carves_test_from_validation(loaded: dict[str, Splits]) -> None:
    splits = loaded["hellaswag"]
    notes = " ".join(splits.notes)
    assert "no training split" in notes and "carved from 'validation'" in notes
    assert "carved a test split of 100" in notes
    texts = [e.text for part in (splits.weak_train, splits.pool, splits.test) for e in part]
    assert not any("[title]" in t or "[step]" in t or "[header]" in t for t in texts)


def test_social_i_qa_texts_match_their_rows(loaded: dict[str, Splits]) -> None:
    """Every test example shows its row's context and question, and label 1 exactly when the
    answer shown is the one the row's label ("1".."3") points to."""
    rows, _ = load_rows(get_task("social_i_qa"), DATA_DIR)
    by_prompt: dict[str, list[dict]] = {}
    for row in rows["validation"]:
        by_prompt.setdefault(f"Context: {row['context']}\nQuestion: {row['question']}", []).append(
            row
        )
    for e in loaded["social_i_qa"].test:
        prompt, answer = e.text.split("\nAnswer: ")
        candidates = by_prompt[prompt]
        correct = {r[f"answer{'ABC'[int(r['label']) - 1]}"] for r in candidates}
        shown_anywhere = {r[f"answer{c}"] for r in candidates for c in "ABC"}
        assert answer in shown_anywhere
        if len(candidates) == 1:
            assert (answer in correct) == (e.label == 1)


def test_same_seed_same_splits_other_seed_differs(loaded: dict[str, Splits]) -> None:
    again = load_splits(get_task("cola"), DATA_DIR, SIZES, seed=0)
    assert again == loaded["cola"]
    other = load_splits(get_task("cola"), DATA_DIR, SIZES, seed=1)
    assert [e.id for e in other.pool] != [e.id for e in again.pool]
