"""The run record: one field list, validated on write and on read; records of the wrong shape are
set aside (quarantine) instead of counting as done or breaking a report; old field names load."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from labelmix.errors import DataError, LabelmixWarning
from labelmix.result import FIELDS, RENAMED, RunResult
from labelmix.sweep import Store

GOOD = {
    "key": "abc",
    "status": "ok",
    "task": "cities",
    "method": "seq_sft",
    "seed": 0,
    "budget": 64.0,
    "weak_cost": 0.1,
    "gold_cost": 1.0,
    "accuracy": 0.75,
}


def test_a_minimal_record_round_trips_and_keeps_unknown_fields() -> None:
    r = RunResult.from_dict({**GOOD, "custom": [1, 2]})
    assert r.accuracy == 0.75 and r.extra == {"custom": [1, 2]}
    assert r.to_dict() == {
        **GOOD,
        "stages": [],
        "notes": [],
        "config": {},
        "versions": {},
        "custom": [1, 2],
    }


def test_old_field_names_are_read_as_the_new_ones() -> None:
    r = RunResult.from_dict({**GOOD, "weak_frac": 0.4})
    assert r.weak_share_spent == 0.4 and "weak_frac" not in r.to_dict()
    assert set(RENAMED.values()) <= set(FIELDS)


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({}, "missing field 'key'"),
        ([], "JSON object, not list"),
        ({**GOOD, "accuracy": "high"}, "field 'accuracy' is 'high'"),
        ({**GOOD, "seed": 1.5}, "field 'seed'"),
        ({**GOOD, "seed": True}, "field 'seed'"),
        ({**GOOD, "stages": {}}, "field 'stages'"),
        ({k: v for k, v in GOOD.items() if k != "budget"}, "missing field 'budget'"),
    ],
)
def test_records_of_the_wrong_shape_are_refused(record: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        RunResult.from_dict(record)


def test_store_sets_bad_records_aside_and_redoes_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    (store.runs_dir / "abc.json").write_text(json.dumps(GOOD))
    (store.runs_dir / "empty.json").write_text("{}")
    (store.runs_dir / "list.json").write_text("[]")
    (store.runs_dir / "wrongkey.json").write_text(json.dumps(GOOD))  # holds run "abc"
    (store.runs_dir / "broken.json").write_text('{"key": ')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.done_keys() == {"abc"}
    msgs = [str(w.message) for w in caught if issubclass(w.category, LabelmixWarning)]
    assert len(msgs) == 4 and all("redone by the next sweep" in m for m in msgs)
    assert sorted(p.name for p in store.quarantine_dir.iterdir()) == [
        "broken.json",
        "empty.json",
        "list.json",
        "wrongkey.json",
    ]
    assert [p.name for p in store.runs_dir.iterdir()] == ["abc.json"]
    df = store.rebuild_table()  # the report's table is built from the good record only
    assert list(df["key"]) == ["abc"]


def test_a_table_written_before_the_rename_is_rebuilt(tmp_path: Path) -> None:
    import pandas as pd

    store = Store(tmp_path / "s")
    (store.runs_dir / "abc.json").write_text(json.dumps({**GOOD, "weak_frac": 0.5}))
    pd.DataFrame([{**GOOD, "weak_frac": 0.5}]).to_parquet(store.table_path)  # an old table
    df = store.table()
    assert "weak_frac" not in df.columns and list(df["weak_share_spent"]) == [0.5]


def test_a_run_function_may_return_only_its_metrics(tmp_path: Path) -> None:
    from labelmix.config import RunConfig

    store = Store(tmp_path / "s")
    cfg = RunConfig(task="cities", method="seq_sft", budget=16.0, gold_frac=0.5)
    store.write_result(cfg, {"accuracy": 0.7})
    (record,) = store.results()
    assert (record["task"], record["method"], record["budget"], record["status"]) == (
        "cities",
        "seq_sft",
        16.0,
        "ok",
    )
    assert store.is_done(cfg.key())
    with pytest.raises(DataError, match="missing field 'accuracy'"):
        store.write_result(cfg, {"auroc": 0.7})


def test_a_second_bad_copy_of_a_run_does_not_overwrite_the_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    for text in ("{}", "[]"):
        (store.runs_dir / "abc.json").write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert not store.is_done("abc")
    assert len(list(store.quarantine_dir.iterdir())) == 2


def test_validated_records_are_not_reread_until_they_change(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    path = store.runs_dir / "abc.json"
    path.write_text(json.dumps(GOOD))
    assert store.done_keys() == {"abc"}
    assert json.loads(store.index_path.read_text()).keys() == {"abc.json"}
    path.write_text("{}" + " " * 200)  # tampered after validation: another size, another time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert store.done_keys() == set()
    assert (store.quarantine_dir / "abc.json").exists()
    store.index_path.write_text("not json")  # a damaged index is only a cache
    (store.runs_dir / "abc.json").write_text(json.dumps(GOOD))
    assert store.done_keys() == {"abc"}
