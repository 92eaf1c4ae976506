"""Labelling projects (labelmix.project): items in, batches out, labels back with every bad
input refused as a whole and named, money that always adds up, machine weak labels, training on
what was bought, and the `labelmix project` commands. Durability (kill -9, two processes) is in
test_project_durability.py, agreement with the simulation in test_project_consistency.py."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import lm

from labelmix.errors import BudgetError, ConfigError, DataError
from labelmix.project import Project
from labelmix.project.db import DB_NAME
from labelmix.seeds import run_rng
from labelmix.tasks.base import text_id
from labelmix.train.schedule import Schedule

FAST = Schedule(example_passes=300, batch_size=16, warmup_steps=2, lr=1e-2, max_steps=40)


def _texts(n: int = 60) -> list[str]:
    words = ["red", "blue", "cat", "dog", "sat", "ran", "big", "small"]
    return [f"The {words[i % 8]} {words[(i // 8) % 8]} number {i}." for i in range(n)]


def _truth(text: str) -> int:
    return int("cat" in text or "dog" in text)


def _data(tmp_path: Path, n: int = 60) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in _texts(n)))
    return path


def _project(tmp_path: Path, n: int = 60, budget: float = 20.0, **kw: Any) -> Project:
    return Project.init(
        tmp_path / "proj", _data(tmp_path, n), budget=budget, weak_cost=0.1, gold_cost=1.0, **kw
    )


def _batch_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _answer(batch_csv: Path, out: Path, k: int | None = None, label: Any = None) -> Path:
    """A scripted annotator: fills the label column of the first k rows with the truth."""
    rows = _batch_rows(batch_csv)
    for r in rows[:k]:
        r["label"] = str(_truth(r["text"]) if label is None else label)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def _snapshot(project: Project) -> tuple[Any, ...]:
    """Everything an import may change: labels, money, batches and imports."""
    conn = project.db.conn
    return tuple(
        conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
        for t in ("labels", "money", "batches", "imports")
    )


# ---------------------------------------------------------------- items


def test_init_reads_items_dedupes_by_id_and_ignores_a_label_field(tmp_path: Path) -> None:
    rows = [
        {"id": 7, "text": "first", "label": 1},
        {"id": "b", "text": "second", "label": 0},
        {"id": 7, "text": "first", "label": 1},  # a repeat: once
        {"id": "c", "text": "third"},
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with Project.init(tmp_path / "p", path, budget=10, weak_cost=0.1) as p:
        assert p.status().n_items == 3
        assert "1 repeated item(s) kept once" in p.notes
        assert any("'label' field is ignored" in n for n in p.notes)
        assert p.labels() == {"weak": {}, "gold": {}}  # labels come only from imports
        ids = {r[0] for r in p.db.conn.execute("SELECT id FROM items")}
        assert ids == {"7", "b", "c"}
    clash = tmp_path / "clash.jsonl"
    clash.write_text('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n')
    with pytest.raises(DataError, match="1 id\\(s\\) name two different texts"):
        Project.init(tmp_path / "q", clash, budget=10, weak_cost=0.1)
    assert not (tmp_path / "q" / DB_NAME).exists()


def test_init_from_csv_a_list_and_a_saved_datasets_split(tmp_path: Path) -> None:
    import datasets

    csv_path = tmp_path / "mine.csv"
    csv_path.write_text("body,uid\nhello there,u1\ngeneral kenobi,u2\n")
    with Project.init(
        tmp_path / "a", csv_path, budget=5, weak_cost=0.1, text_field="body", id_field="uid"
    ) as p:
        assert {r[0] for r in p.db.conn.execute("SELECT id FROM items")} == {"u1", "u2"}
    with Project.init(tmp_path / "b", ["x one", "x two", "x one"], budget=5, weak_cost=0.1) as p:
        ids = {r[0] for r in p.db.conn.execute("SELECT id FROM items")}
        assert ids == {text_id("x one"), text_id("x two")}  # named as labelmix names examples
    ds = datasets.Dataset.from_dict({"text": ["s1", "s2", "s3"], "label": [0, 1, 0]})
    ds.save_to_disk(str(tmp_path / "split"))
    with Project.init(tmp_path / "c", tmp_path / "split", budget=5, weak_cost=0.1) as p:
        assert p.status().n_items == 3
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "both"))
    with pytest.raises(DataError, match="holds the splits train, test"):
        Project.init(tmp_path / "d", tmp_path / "both", budget=5, weak_cost=0.1)


def test_init_refuses_bad_settings_before_writing_anything(tmp_path: Path) -> None:
    data = _data(tmp_path)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        (dict(budget=0), ConfigError, "positive number"),
        (dict(budget=0.05), BudgetError, "cannot buy a single label"),
        (dict(weak_cost=-1), ConfigError, "weak cost"),
        (dict(weak_cost=0.0000001), ConfigError, "millionths"),
        (dict(seed=-1), ConfigError, "seed"),
        (dict(text_field="body"), DataError, "no field 'body'"),
        (dict(id_field="uid"), DataError, "no field 'uid'"),
    ]
    for change, error, match in cases:
        kw: dict[str, Any] = {"budget": 10.0, "weak_cost": 0.1, "gold_cost": 1.0, **change}
        with pytest.raises(error, match=match):
            Project.init(tmp_path / "p", data, **kw)
        assert not (tmp_path / "p" / DB_NAME).exists()
    _project(tmp_path).close()
    with pytest.raises(ConfigError, match="already a labelmix project"):
        _project(tmp_path)
    with pytest.raises(ConfigError, match="not empty"):
        Project.init(tmp_path, data, budget=10, weak_cost=0.1)
    with pytest.raises(ConfigError, match="not a labelmix project"):
        Project.open(tmp_path / "nowhere")


def test_init_never_replaces_a_project_and_refuses_a_file_on_its_way(tmp_path: Path) -> None:
    from labelmix.project.project import _publish

    data = _data(tmp_path)
    (tmp_path / "afile").write_text("mine")
    for folder, match in [("afile", "is a file"), ("afile/sub", "afile is a file")]:
        with pytest.raises(ConfigError, match=match):
            Project.init(tmp_path / folder, data, budget=10, weak_cost=0.1)
    assert (tmp_path / "afile").read_text() == "mine"
    p = _project(tmp_path)
    p.next_batch("gold", 2)
    p.close()
    db = tmp_path / "proj" / DB_NAME
    content = db.read_bytes()
    other = tmp_path / "other.sqlite"  # a second init that passed its checks meanwhile
    other.write_bytes(b"another project")
    with pytest.raises(ConfigError, match="became a labelmix project"):
        _publish(other, db)
    assert db.read_bytes() == content
    with Project.open(tmp_path / "proj") as again:
        assert again.batch(1).n == 2
    with pytest.raises(ConfigError, match="not a labelmix project"):
        Project.open(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_the_wilson_interval_stays_honest_with_few_labels() -> None:
    from labelmix.project.training import _estimate, wilson_interval

    low, high = wilson_interval(12, 12)
    assert 0.75 < low < 0.76 and high == 1.0  # a bootstrap of 12 right answers says [1, 1]
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    est = _estimate(np.array([1, 0, 1, 0]), np.array([2.0, 0.0, -0.5, 0.5]), "x")
    assert est.accuracy == 0.5 and est.low < 0.5 < est.high  # label 1 at logit > 0


# ---------------------------------------------------------------- batches and imports


def test_a_batch_follows_the_seeded_order_and_reserves_its_price(tmp_path: Path) -> None:
    p = _project(tmp_path, seed=5)
    b = p.next_batch("gold", 6)
    rows = _batch_rows(b.files[0])
    order = run_rng(5).permutation(60)  # the pool order a simulated run with seed 5 draws
    assert [r["text"] for r in rows] == [_texts()[i] for i in order[:6]]
    assert all(r["label"] == "" and r["batch"] == "1" for r in rows)
    jsonl = [json.loads(line) for line in b.files[1].read_text().splitlines()]
    assert [(r["id"], r["text"], r["label"], r["batch"]) for r in jsonl] == [
        (r["id"], r["text"], None, 1) for r in rows
    ]
    tasks = json.loads(b.files[2].read_text())  # Label Studio's import format
    assert tasks[0] == {"data": {"id": rows[0]["id"], "text": rows[0]["text"], "batch": 1}}
    assert (tmp_path / "proj" / "batches" / "labelstudio-config.xml").is_file()
    m = p.status().money
    assert (m["spent"], m["reserved"], m["left"]) == (0, 6_000_000, 14_000_000)
    assert p.next_batch("weak", 3).n == 3  # the next items, none shared with the gold batch
    ids = [set(r["id"] for r in _batch_rows(p.batch(i).files[0])) for i in (1, 2)]
    assert not ids[0] & ids[1]
    assert p.check() == []


def test_import_charges_what_arrived_and_a_partial_batch_stays_open(tmp_path: Path) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 8)
    report = p.import_labels(_answer(b.files[0], tmp_path / "part.csv", k=5))
    assert (report.new, report.blank, report.charged_micro) == (5, 3, 5_000_000)
    assert report.batches[0].labelled == 5 and report.batches[0].status == "open"
    m = p.status().money
    assert (m["spent"], m["reserved"], m["left"]) == (5_000_000, 3_000_000, 12_000_000)
    again = p.import_labels(_answer(b.files[0], tmp_path / "all.csv"))  # the rest, later
    assert (again.new, again.known, again.charged_micro) == (3, 5, 3_000_000)
    assert p.batch(b.id).status == "closed"
    texts = dict(p.db.conn.execute("SELECT id, text FROM items").fetchall())
    gold = p.labels()["gold"]
    assert len(gold) == 8 and all(v == _truth(texts[i]) for i, v in gold.items())
    assert p.check() == []


def test_importing_a_file_again_changes_nothing(tmp_path: Path) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 4)
    path = _answer(b.files[0], tmp_path / "labels.csv")
    assert p.import_labels(path).new == 4
    before = _snapshot(p)
    report = p.import_labels(path)
    assert (report.new, report.known, report.charged_micro) == (0, 4, 0)
    assert "nothing new" in report.lines()[0]
    assert _snapshot(p) == before


def test_label_studio_export_with_names_and_cancelled_annotations(tmp_path: Path) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 4)
    tasks = json.loads(b.files[2].read_text())

    def annotation(choice: str, cancelled: bool = False) -> dict[str, Any]:
        result = [
            {
                "from_name": "label",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [choice]},
            }
        ]
        return {"id": 1, "result": result, "was_cancelled": cancelled}

    export = [
        {"id": 101, "data": tasks[0]["data"], "annotations": [annotation("sarcastic")]},
        {"id": 102, "data": tasks[1]["data"], "annotations": [annotation("plain")] * 2},
        {"id": 103, "data": tasks[2]["data"], "annotations": [annotation("sarcastic", True)]},
        {"id": 104, "data": tasks[3]["data"], "annotations": []},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    with pytest.raises(DataError, match="labels outside \\{0, 1\\}.*'sarcastic'"):
        p.import_labels(path)  # the names mean nothing until mapped
    report = p.import_labels(path, names={"sarcastic": 1, "plain": 0})
    assert report.kind == "Label Studio export"
    assert (report.new, report.repeated, report.blank, report.cancelled) == (2, 1, 2, 1)
    gold = p.labels()["gold"]
    assert gold == {tasks[0]["data"]["id"]: 1.0, tasks[1]["data"]["id"]: 0.0}
    export[1]["annotations"] = [annotation("plain"), annotation("sarcastic")]
    path.write_text(json.dumps(export))
    with pytest.raises(DataError, match="conflicting labels"):
        p.import_labels(path, names={"sarcastic": 1, "plain": 0})


@pytest.mark.parametrize(
    "case,match",
    [
        ("unknown", "1 unknown ids \\(not items of this project\\) \\(e.g. 'nope' in row 3\\)"),
        ("not_ordered", "1 ids not in an open batch"),
        ("outside", "1 labels outside \\{0, 1\\} \\(e.g. row 1: '2'\\)"),
        ("conflict_in_file", "1 ids with conflicting labels"),
        ("conflict_with_db", "1 ids already labelled otherwise"),
        ("no_id", "1 rows without an id"),
        ("several", "3 problem\\(s\\): 1 labels outside .*; 1 unknown ids .*; 1 ids not in"),
    ],
)
def test_bad_label_files_are_refused_whole(tmp_path: Path, case: str, match: str) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 4)
    rows = _batch_rows(b.files[0])
    p.import_labels(_answer(b.files[0], tmp_path / "first.csv", k=1))
    free = p.db.conn.execute(
        "SELECT id FROM items WHERE id NOT IN (SELECT item_id FROM batch_items)"
    ).fetchone()[0]
    good = [[r["id"], _truth(r["text"])] for r in rows[1:]]
    first = [rows[0]["id"], _truth(rows[0]["text"])]
    lines = {
        "unknown": [*good[:2], ["nope", 1]],
        "not_ordered": [*good, [free, 1]],
        "outside": [[good[0][0], 2], *good[1:]],
        "conflict_in_file": [*good, [good[0][0], 1 - good[0][1]]],
        "conflict_with_db": [*good, [first[0], 1 - first[1]]],
        "no_id": [*good, ["", 1]],
        "several": [[good[0][0], 2], ["nope", 1], [free, 0]],
    }[case]
    path = tmp_path / "bad.csv"
    path.write_text("id,label\n" + "".join(f"{i},{y}\n" for i, y in lines))
    before = _snapshot(p)
    with pytest.raises(DataError, match=match) as err:
        p.import_labels(path)
    assert "nothing imported" in str(err.value) and "\n" not in str(err.value)
    assert _snapshot(p) == before
    assert p.check() == []


def test_hostile_label_files_get_one_line_and_change_nothing(tmp_path: Path) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 3)
    rows = _batch_rows(b.files[0])
    some = rows[0]["id"]
    choice = {"from_name": "label", "type": "choices"}
    files: list[tuple[str, bytes, type[Exception], str]] = [
        ("empty.csv", b"", DataError, "holds no rows"),
        ("header.csv", b"id,label\n", DataError, "holds no rows"),
        ("empty.jsonl", b"\n\n", DataError, "holds no rows"),
        ("empty.json", b"[]", DataError, "holds no rows"),
        ("quote.csv", f'id,label\n"{some},1\n'.encode(), DataError, "not a readable CSV"),
        ("latin1.csv", b"id,label\n\xe9t\xe9,1\n", DataError, "not UTF-8"),
        ("values.jsonl", f'{{"id": "{some}", "label": NaN}}\n'.encode(), DataError, "nan"),
        ("words.csv", f"id,label\n{some},yes\n".encode(), DataError, "outside \\{0, 1\\}"),
        ("batch.csv", f"id,label,batch\n{some},1,A\n".encode(), DataError, "not batch numbers"),
        (
            "ls.json",  # a choice whose value is not an object
            json.dumps(
                [{"data": {"id": some}, "annotations": [{"result": [{**choice, "value": [1]}]}]}]
            ).encode(),
            DataError,
            "choose other than one value",
        ),
        (
            "ls2.json",  # results that are not a list
            json.dumps([{"data": {"id": some}, "annotations": [{"result": "1"}]}]).encode(),
            DataError,
            "without exactly one 'label' choice",
        ),
        ("labels.tsv", b"id\tlabel\n", ConfigError, "must end in .jsonl, .csv or .json"),
    ]
    before = _snapshot(p)
    for name, content, error, match in files:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(error, match=match) as err:
            p.import_labels(path)
        assert "\n" not in str(err.value), name
    huge = tmp_path / "huge.jsonl"  # beyond SQLite's integers, or digits that are not ASCII
    huge.write_text(
        f'{{"id": "{some}", "label": 1, "batch": {10**30}}}\n'
        f'{{"id": "{rows[1]["id"]}", "label": 1, "batch": "\u00b2"}}\n'
    )
    with pytest.raises(DataError, match="2 'batch' values that are not batch numbers"):
        p.import_labels(huge)
    with pytest.raises(ConfigError, match="no batch #"):
        p.close_batch(10**30)
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        p.import_labels(tmp_path / "folder.csv")
    right = _answer(b.files[0], tmp_path / "right.csv")
    for names, match in [
        ({"0": 1}, "is a number"),
        ({"yes": 2}, "must mean 0 or 1"),
        ({" ": 1}, "non-empty"),
    ]:
        with pytest.raises(ConfigError, match=match):
            p.import_labels(right, names=names)  # "0" can never be made to mean 1
    assert _snapshot(p) == before and p.check() == []
    assert p.import_labels(right, names={"yes": 1}).new == 3


def test_a_file_with_another_id_field_names_the_fix(tmp_path: Path) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 2)
    rows = _batch_rows(b.files[0])
    path = tmp_path / "theirs.jsonl"
    path.write_text("".join(json.dumps({"uid": r["id"], "label": 1}) + "\n" for r in rows))
    with pytest.raises(DataError, match="no 'id' field \\(its fields: uid, label\\).*--id-field"):
        p.import_labels(path)
    assert p.import_labels(path, id_field="uid").new == 2
    numbered = tmp_path / "numbered.csv"
    numbered.write_text("id,label\n1,1\n2,0\n")  # the annotation tool's own row numbers
    with pytest.raises(DataError, match="2 unknown ids"):
        p.import_labels(numbered)


def test_the_budget_is_never_exceeded_mid_batch(tmp_path: Path) -> None:
    p = _project(tmp_path, budget=10.0)
    b = p.next_batch("gold", 8)  # $8 reserved
    with pytest.raises(BudgetError, match="only \\$2.00 of the \\$10.00 budget is left.*at most 2"):
        p.next_batch("gold", 5)
    with pytest.raises(BudgetError, match="at most 20"):
        p.next_batch("weak", 21)
    p.import_labels(_answer(b.files[0], tmp_path / "six.csv", k=6))  # 2 never come back
    assert p.status().money == {
        "budget": 10_000_000,
        "spent": 6_000_000,
        "reserved": 2_000_000,
        "left": 2_000_000,
    }
    closed = p.close_batch(b.id)
    assert closed.status == "closed" and p.status().money["left"] == 4_000_000
    late = _answer(b.files[0], tmp_path / "late.csv")  # the two missing labels, after closing
    with pytest.raises(DataError, match="2 ids of a batch that was closed.*batch #1"):
        p.import_labels(late)
    with pytest.raises(ConfigError, match="already closed"):
        p.close_batch(b.id)
    weak = p.next_batch("weak", 2)  # the seeded order offers the two released items first
    assert {r["id"] for r in _batch_rows(weak.files[0])} < {r["id"] for r in _batch_rows(late)}
    before = _snapshot(p)
    with pytest.raises(DataError, match="2 ids of a batch that was closed"):
        p.import_labels(late)  # the gold annotators' late file never fills the weak batch
    assert _snapshot(p) == before
    p.next_batch("gold", 2)
    assert p.status().money["left"] == 1_800_000  # $4 - 2 weak at $0.10 - 2 gold at $1
    assert p.check() == []


def test_ordering_refusals(tmp_path: Path) -> None:
    p = _project(tmp_path, n=10, budget=100.0)
    with pytest.raises(ConfigError, match="advisor is not available yet"):
        p.next_batch("gold", 2, strategy="advisor")
    with pytest.raises(ConfigError, match="no classifier yet: train one"):
        p.next_batch("gold", 2, strategy="uncertainty")
    with pytest.raises(ConfigError, match="source 'silver'"):
        p.next_batch("silver", 2)
    with pytest.raises(ConfigError, match=">= 1"):
        p.next_batch("gold", 0)
    p.next_batch("gold", 7)
    with pytest.raises(DataError, match="only 3 item\\(s\\) are left"):
        p.next_batch("weak", 4)
    assert p.batch(1).n == 7 and p.check() == []


def test_a_missing_batch_file_is_written_again_on_open(tmp_path: Path) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 3)
    content = b.files[0].read_text()
    p.close()
    for f in b.files:
        f.unlink()  # as if the command was killed after the order was committed
    with Project.open(tmp_path / "proj") as again:
        assert all(f.is_file() for f in again.batch(b.id).files)
    assert b.files[0].read_text() == content


def test_the_ledger_check_finds_a_tampered_database(tmp_path: Path) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 2)
    p.import_labels(_answer(b.files[0], tmp_path / "l.csv"))
    assert p.check() == []
    p.close()
    conn = sqlite3.connect(tmp_path / "proj" / DB_NAME)
    conn.execute(
        "INSERT INTO money (at, batch_id, kind, n, amount) VALUES ('x', 1, 'charge', 1, 1000000)"
    )
    conn.commit()
    conn.close()
    with Project.open(tmp_path / "proj") as p2:
        problems = p2.check()
    assert any("charged $3.00 but the labels cost $2.00" in x for x in problems)
    out = lm("project", "status", str(tmp_path / "proj"))
    assert out.code == 1 and "LEDGER PROBLEM" in out.stdout


# ---------------------------------------------------------------- machine labels and training


def test_machine_weak_labels_from_a_probe_a_prompt_and_a_function(
    tmp_path: Path, tiny_bert: Path, tiny_llama: Path
) -> None:
    p = _project(tmp_path, budget=12.0)
    with pytest.raises(DataError, match="needs at least 4 with both labels"):
        p.buy_machine_weak_labels(5, str(tiny_bert))
    b = p.next_batch("gold", 8)
    p.import_labels(_answer(b.files[0], tmp_path / "gold.csv"))
    probe = p.buy_machine_weak_labels(10, str(tiny_bert))
    assert probe.status == "closed" and probe.labelled == 10
    assert "trained on 8 gold labels" in (probe.labeler or "")
    icl = p.buy_machine_weak_labels(5, str(tiny_llama), kind="icl", shots=2)
    assert "2 gold demonstrations" in (icl.labeler or "")

    def my_api(texts: list[str]) -> list[float]:
        return [0.9 if "cat" in t else 0.2 for t in texts]

    mine = p.buy_machine_weak_labels(4, my_api)
    assert mine.labeler == "your function my_api"
    weak = p.labels()["weak"]
    assert len(weak) == 19 and all(0.0 <= v <= 1.0 for v in weak.values())
    before = _snapshot(p)
    for bad, match in [
        (lambda ts: [0.5] * (len(ts) - 1), "returned 2 labels for 3 texts"),
        (lambda ts: [2.0] * len(ts), "outside \\[0, 1\\]"),
    ]:
        with pytest.raises(DataError, match=match):
            p.buy_machine_weak_labels(3, bad)
    with pytest.raises(BudgetError, match="at most 21"):
        p.buy_machine_weak_labels(25, my_api)  # refused before any labeler runs
    assert _snapshot(p) == before
    m = p.status().money
    assert m["spent"] == 8_000_000 + 19 * 100_000 and m["reserved"] == 0
    assert p.check() == []


def test_train_uses_only_bought_labels_estimates_saves_and_steers_uncertainty(
    tmp_path: Path, tiny_llama: Path
) -> None:
    from labelmix.classifier import Classifier

    p = _project(tmp_path, budget=40.0)
    with pytest.raises(DataError, match="none are bought yet"):
        p.train("seq_sft", model=str(tiny_llama), schedule=FAST)
    b = p.next_batch("gold", 12)
    p.import_labels(_answer(b.files[0], tmp_path / "gold.csv"))
    p.buy_machine_weak_labels(20, lambda ts: [float(_truth(t)) for t in ts])
    out = p.train("seq_sft", model=str(tiny_llama), schedule=FAST, save_to=tmp_path / "mine")
    assert [s["n_train"] + s["n_val"] for s in out.stages] == [20, 12]  # bought labels only
    assert out.accuracy is not None and out.accuracy_ci is not None
    assert out.accuracy_ci[0] <= out.accuracy <= out.accuracy_ci[1]
    assert out.estimated_how == "5-fold cross-validation over 12 gold labels; 95% Wilson interval"
    texts = _texts()[:5]
    saved = Classifier.load(tmp_path / "mine").logits(texts)
    np.testing.assert_array_equal(saved, out.classifier.logits(texts))
    np.testing.assert_array_equal(p.classifier().logits(texts), saved)
    status = p.status()
    assert status.latest is not None and status.latest.id == out.id and not status.stale
    weak_only = p.train("weak_only", model=str(tiny_llama), schedule=FAST)
    assert weak_only.estimated_how == "on all 12 gold labels (not trained on); 95% Wilson interval"
    assert "12 gold labels unused by weak_only" in weak_only.notes
    batch = p.next_batch("gold", 5, strategy="uncertainty")
    probs = weak_only.classifier.predict_proba([r["text"] for r in _batch_rows(batch.files[0])])
    free = p.db.conn.execute(
        """SELECT text FROM items WHERE id NOT IN (SELECT item_id FROM labels)
           AND id NOT IN (SELECT item_id FROM batch_items)"""
    ).fetchall()
    rest = weak_only.classifier.predict_proba([t for (t,) in free])
    assert np.abs(probs - 0.5).max() <= np.abs(rest - 0.5).min()  # the least sure were ordered
    assert p.status().stale is False
    p.import_labels(_answer(batch.files[0], tmp_path / "hard.csv"))
    assert p.status().stale is True
    again = p.train("gold_only", model=str(tiny_llama), schedule=FAST, folds=2)
    assert any("5 of the 17 gold labels were ordered by uncertainty" in n for n in again.notes)
    with pytest.raises(ConfigError, match="few_shot trains nothing"):
        p.train("few_shot", model=str(tiny_llama))
    with pytest.raises(ConfigError, match="2-shot prefix"):
        p.train("seq_sft_2shot", model=str(tiny_llama))


def test_train_with_the_lora_trainer(tmp_path: Path, tiny_llama: Path) -> None:
    p = _project(tmp_path)
    b = p.next_batch("gold", 8)
    p.import_labels(_answer(b.files[0], tmp_path / "gold.csv"))
    short = Schedule(example_passes=16, batch_size=4, warmup_steps=1, lr=1e-3, max_steps=3)
    out = p.train("gold_only", trainer="lora", model=str(tiny_llama), schedule=short, folds=0)
    assert out.trainer == "lora" and out.accuracy is None
    assert "no accuracy estimate (folds 0)" in out.notes
    texts = _texts()[:4]
    np.testing.assert_allclose(
        p.classifier().logits(texts), out.classifier.logits(texts), atol=1e-5
    )


# ---------------------------------------------------------------- the commands


def test_project_commands_and_their_one_line_errors(tmp_path: Path) -> None:
    proj = str(tmp_path / "proj")
    data = str(_data(tmp_path))
    out = lm("project", "init", proj, "--data", data, "--budget", "12", "--weak-cost", "0.1")
    assert out.code == 0, out.stderr
    assert "60 items" in out.stdout and "buy gold labels" in out.stdout
    out = lm("project", "next", proj, "--source", "gold", "--n", "4")
    assert (
        out.code == 0
        and "batch-0001-gold.csv" in out.stdout
        and "$8.00 of the budget left" in out.stdout
    )
    batch_csv = tmp_path / "proj" / "batches" / "batch-0001-gold.csv"
    _answer(batch_csv, batch_csv, k=3)
    out = lm("project", "import", proj, str(batch_csv))
    assert out.code == 0 and "3 new label(s), charged $3.00" in out.stdout
    out = lm("project", "status", proj)
    assert out.code == 0
    assert "spent $3.00, reserved $1.00, left $8.00" in out.stdout
    assert "gold 3 at $1.00 ($3.00)" in out.stdout and "import the labels of batch #1" in out.stdout
    out = lm("project", "close", proj, "1")
    assert out.code == 0 and "$9.00 of the budget left" in out.stdout
    bad_label = tmp_path / "bad.csv"
    bad_label.write_text("id,label\nnope,yes\n")
    refusals = [
        (("project", "import", proj, str(bad_label)), "nothing imported, 1 problem(s)"),
        (("project", "import", proj, str(tmp_path / "absent.csv")), "does not exist"),
        (("project", "next", proj, "--source", "gold", "--n", "10"), "order at most 9"),
        (
            ("project", "next", proj, "--source", "gold", "--n", "2", "--strategy", "advisor"),
            "not available yet",
        ),
        (
            ("project", "next", proj, "--source", "gold", "--n", "2", "--labeler", "minilm"),
            "--labeler makes weak",
        ),
        (("project", "train", proj, "--method", "few_shot"), "trains nothing"),
        (("project", "status", str(tmp_path)), "not a labelmix project"),
        (
            ("project", "init", proj, "--data", data, "--budget", "5", "--weak-cost", "0.1"),
            "already",
        ),
    ]
    for args, match in refusals:
        out = lm(*args)
        assert out.code == 2, (args, out)
        assert match in out.stderr and out.stderr.count("\n") == 1, (args, out.stderr)
        assert "Traceback" not in out.stderr
    with Project.open(proj) as p:
        assert p.check() == [] and p.status().money["left"] == 9_000_000
