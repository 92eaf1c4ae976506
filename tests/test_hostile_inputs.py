"""labelmix as a hostile user meets it: every bad input and fault in the table below gives one
line naming the problem and the fix, the expected exit code, no traceback and nothing written;
then the faults that need more than one command (damaged caches, failed sweeps, lost outputs,
workers of a killed sweep, a model folder with its own code, weak labels of a relabelled file).

The CLI runs in this process (labelmix.cli.main with sys.argv patched): a subprocess costs about
two seconds of imports, the whole table well under one."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import Out, lm

from labelmix.errors import ConfigError, DataError, LabelmixWarning

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------
# The files the table's cases point at
# ---------------------------------------------------------------------------------------------

GRID = (
    'tasks = ["cities"]\nmethods = ["seq_sft"]\nbudgets = [16]\ngold_fracs = [0.5]\n'
    "weak_costs = [0.1]\nseeds = [0]\n"
)


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _rows(n: int = 60) -> list[dict[str, Any]]:
    return [{"text": f"text number {i}", "label": i % 2} for i in range(n)]


def save_probe_head(folder: Path, d: int = 4, **tensors: Any) -> None:
    """A probe head of dimension d (weight, bias, mean, std); keyword tensors replace them."""
    import torch
    from safetensors.torch import save_file

    w = {
        "weight": torch.zeros(1, d),
        "bias": torch.zeros(1),
        "mean": torch.zeros(d),
        "std": torch.ones(d),
    }
    w.update(tensors)
    save_file(w, str(folder / "head.safetensors"))


def classifier_folder(t: Path, name: str, manifest: Any, head: bool = True, **tensors: Any) -> Path:
    folder = t / name
    folder.mkdir()
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (folder / "labelmix_classifier.json").write_text(text)
    if head:
        save_probe_head(folder, **tensors)
    return folder


PROBE = {"trainer": "probe", "model": "precomputed", "layer": None, "threshold": 0.0}


def make_files(t: Path) -> None:
    """Every bad (and one good) input the table names, in the folder `t`."""
    import torch

    from labelmix.sweep import Store

    (t / "afile").write_text("not a folder\n")
    (t / "adir").mkdir()
    (t / "adir.jsonl").mkdir()
    # task files
    (t / "good.jsonl").write_text(_jsonl(_rows()))
    (t / "latin1.jsonl").write_bytes(
        _jsonl(_rows(4)).replace("text", "t\xe9xt", 1).encode("cp1252")
    )
    (t / "latin1.csv").write_bytes("text,label\ncaf\xe9,1\n".encode("cp1252"))
    (t / "notes.txt").write_text("text,label\n")
    (t / "badjson.jsonl").write_text('{"text": "a", "label": 1}\n{"text": \n')
    (t / "nolabel.jsonl").write_text(_jsonl([{"text": "a"}]))
    (t / "label2.jsonl").write_text(_jsonl([{"text": "a", "label": 2}]))
    (t / "labelword.jsonl").write_text(_jsonl([{"text": "a", "label": "yes"}]))
    (t / "emptytext.jsonl").write_text(_jsonl([{"text": "  ", "label": 1}]))
    (t / "textnum.jsonl").write_text(_jsonl([{"text": 5, "label": 1}]))
    (t / "rowlist.jsonl").write_text("[1, 2]\n")
    (t / "conflict.jsonl").write_text(
        _jsonl(
            _rows() + [{"text": "text number 0", "label": 1}, {"text": "text number 1", "label": 0}]
        )
    )
    (t / "nolabel.csv").write_text("text,score\na,1\n")
    (t / "oneclass.jsonl").write_text(_jsonl([{"text": f"t{i}", "label": 1} for i in range(50)]))
    (t / "tiny.jsonl").write_text(_jsonl(_rows(4)))
    # sweep files
    (t / "latin1.toml").write_bytes((GRID + 'model = "caf\xe9"\n').encode("cp1252"))
    (t / "broken.toml").write_text("tasks = [\n")
    (t / "unknownkey.toml").write_text(GRID + "colour = 3\n")
    (t / "noseeds.toml").write_text(GRID.replace("seeds = [0]\n", ""))
    (t / "fracs.toml").write_text(GRID.replace("[0.5]", "[1.5]"))
    (t / "budgetstr.toml").write_text(GRID.replace("[16]", '["lots"]'))
    (t / "seedneg.toml").write_text(GRID.replace("seeds = [0]", "seeds = [-1]"))
    (t / "schedfloat.toml").write_text(GRID + "[schedule]\nmax_steps = 1.5\n")
    (t / "schedstr.toml").write_text(GRID + '[schedule]\nlr = "fast"\n')
    (t / "schedbool.toml").write_text(GRID + "[schedule]\ncarry_optimizer = 1\n")
    (t / "schedunknown.toml").write_text(GRID + "[schedule]\nspeed = 3\n")
    (t / "schednottable.toml").write_text(GRID + "schedule = 3\n")
    (t / "sizesstr.toml").write_text(GRID + '[split_sizes]\npool = "x"\n')
    (t / "task.toml").write_text(GRID.replace('["cities"]', '["nope"]'))
    (t / "method.toml").write_text(GRID.replace('["seq_sft"]', '["bogus"]'))
    (t / "poor.toml").write_text(
        GRID.replace('["seq_sft"]', '["gold_only"]').replace("[16]", "[0.5]")
    )
    (t / "model.toml").write_text(GRID + 'model = "bogusname"\n')
    (t / "trainer.toml").write_text(GRID + 'trainer = "svm"\n')
    (t / "ok.toml").write_text(GRID)
    # stores
    Store(t / "empty_store")  # the whole skeleton: reading it must add nothing
    # model folders
    (t / "noconfig").mkdir()
    (t / "noconfig" / "model.safetensors").write_bytes(b"")
    (t / "badconfig").mkdir()
    (t / "badconfig" / "config.json").write_text("{not json")
    # saved classifiers
    classifier_folder(t, "clf_ok", PROBE)
    classifier_folder(t, "clf_notjson", "{")
    classifier_folder(t, "clf_list", "[]")
    classifier_folder(t, "clf_trainer", {**PROBE, "trainer": "svm"})
    classifier_folder(t, "clf_nomodel", {"trainer": "probe"})
    classifier_folder(t, "clf_layer", {**PROBE, "layer": "top"})
    classifier_folder(t, "clf_threshold", {**PROBE, "threshold": "high"})
    classifier_folder(t, "clf_bank", {**PROBE, "k_shots": 2, "bank": "xx"})
    classifier_folder(t, "clf_bankshort", {**PROBE, "k_shots": 2, "bank": [["a", 1]]})
    classifier_folder(t, "clf_nohead", PROBE, head=False)
    classifier_folder(t, "clf_model", {**PROBE, "model": "bogusname"})
    classifier_folder(t, "clf_rightcut", {**PROBE, "truncation_side": "right"})
    classifier_folder(t, "clf_sidegarbage", {**PROBE, "truncation_side": 3})
    classifier_folder(t, "clf_shape", PROBE, mean=torch.zeros(3))
    classifier_folder(t, "clf_nan", PROBE, bias=torch.tensor([float("nan")]))
    garbage = classifier_folder(t, "clf_garbage", PROBE, head=False)
    (garbage / "head.safetensors").write_bytes(b"\x00garbage")
    # predict inputs
    (t / "empty.txt").write_text("")
    (t / "blank.txt").write_text("\n  \n\n")
    (t / "latin1.txt").write_bytes("caf\xe9\n".encode("cp1252"))
    (t / "in.txt").write_text("a text\n")
    (t / "badline.jsonl").write_text('{"text": "a"}\nnot json\n')
    (t / "notext.jsonl").write_text('{"body": "a"}\n')


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # {t}: the case's folder, {llama}: a tiny model folder
    fragment: str  # in the one-line message
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


def C(id: str, args: str, fragment: str, code: int = 2, **env: str) -> Case:
    return Case(id, tuple(args.split()), fragment, code, env)


# `run` cases start from a tiny model and small splits, so a case whose check failed to fire
# would still end in seconds (and the test would say so), never in a real run.
SAFE_RUN = (
    "--model {llama} --weak-model {llama} --weak-train 60 --pool 240 --test 100 --select 60 "
    "--max-steps 5 --out {t}/out"
)

CASES = [
    # -- budgets, prices, fractions, seeds --
    C("budget-negative", "run --budget -5", "budget -5.0 must be a positive number"),
    C("budget-zero", "run --budget 0", "must be a positive number"),
    C("budget-below-any-label", "run --budget 0.01", "cannot buy a single label"),
    C("budget-overflow", "run --budget 1e308", "is above $1e+09"),
    C("budget-nan", "run --budget nan", "budget nan must be a finite number"),
    C("budget-inf", "run --budget inf", "must be a finite number"),
    C(
        "budget-buys-no-gold",
        "run --method gold_only --budget 0.5",
        "its cheapest label (gold) costs $1; raise the budget to at least $1",
    ),
    C(
        "budget-buys-no-weak",
        "run --method weak_only --budget 0.58 --weak-cost 0.6 --gold-cost 0.55",
        "its cheapest label (weak) costs $0.6",
    ),
    C("seed-2-64", f"run --seed {2**64}", "must be below 2**32"),
    C("seed-negative", "run --seed -1", "seed -1 must be >= 0"),
    C("gold-frac-above-1", "run --gold-frac 1.5", "must lie in [0, 1]"),
    C("gold-frac-negative", "run --gold-frac -0.1", "must lie in [0, 1]"),
    C("gold-frac-fixed-method", "run --method weak_only --gold-frac 0.3", "drop the gold fraction"),
    C("weak-cost-negative", "run --weak-cost -1", "weak cost -1.0 must be a positive number"),
    C("weak-cost-zero", "run --weak-cost 0", "weak cost 0.0 must be a positive"),
    C("gold-cost-zero", "run --gold-cost 0", "gold cost 0.0 must be a positive"),
    # -- methods, trainers, shots --
    C("method-unknown", "run --method bogus", "unknown method 'bogus'; valid methods"),
    C("trainer-unknown", "run --trainer svm", "unknown trainer 'svm'; valid"),
    C("trainer-icl-trains", "run --trainer icl", "trainer 'icl' only scores prompts"),
    C("few-shot-unaffordable", "run --method few_shot --budget 4", "needs 8 gold labels"),
    C(
        "few-shot-save-model",
        "run --method few_shot --budget 16 --save-model {t}/m",
        "few_shot trains nothing",
    ),
    C("shots-negative", "run --shots -1", "shots -1 must be >= 0"),
    C("layer-out-of-range", "run --layer 99", "layer 99 outside 0..2"),
    # -- models --
    C("model-bare-unknown", "run --model bogusname", "unknown model 'bogusname'"),
    C("model-bare-legacy-hub-id", "run --model gpt2", "a Hub id owner/name"),
    C("model-missing-folder", "run --model /no/such/model/dir/", "unknown model"),
    C("model-too-many-slashes", "run --model a/b/c", "unknown model 'a/b/c'"),
    C("model-missing-gguf", "run --model {t}/missing.gguf", "missing.gguf does not exist"),
    C("model-folder-without-config", "run --model {t}/noconfig", "has no config.json"),
    C("model-folder-broken-config", "run --model {t}/badconfig", "cannot be loaded"),
    C(
        "model-hub-unreachable",
        "run --model nobody-labelmix/no-such-model",
        "cannot be fetched from the Hugging Face Hub",
        HF_OFFLINE="1",
    ),
    C("weak-model-bare-unknown", "run --weak-model bogusname", "unknown model 'bogusname'"),
    # -- tasks and task files --
    C("task-unknown", "run --task nope", "unknown task 'nope'; valid tasks"),
    C("task-file-missing", "run --task file:{t}/missing.jsonl", "missing.jsonl does not exist"),
    C("task-file-is-folder", "run --task file:{t}/adir.jsonl", "does not exist"),
    C("task-file-suffix", "run --task file:{t}/notes.txt", "must end in .jsonl or .csv"),
    C("task-file-not-utf8", "run --task file:{t}/latin1.jsonl", "is not UTF-8 text"),
    C("task-csv-not-utf8", "run --task file:{t}/latin1.csv", "save it as UTF-8"),
    C("task-file-bad-json", "run --task file:{t}/badjson.jsonl", "line 2: not JSON"),
    C("task-file-no-label", "run --task file:{t}/nolabel.jsonl", "needs fields 'text' and 'label'"),
    C("task-file-row-not-object", "run --task file:{t}/rowlist.jsonl", "needs fields 'text'"),
    C("task-file-label-2", "run --task file:{t}/label2.jsonl", "label 2 is outside {0, 1}"),
    C("task-file-label-word", "run --task file:{t}/labelword.jsonl", "label 'yes' is not 0 or 1"),
    C("task-file-empty-text", "run --task file:{t}/emptytext.jsonl", "non-empty string"),
    C("task-file-text-number", "run --task file:{t}/textnum.jsonl", "non-empty string"),
    C(
        "task-file-contradictory",
        "run --task file:{t}/conflict.jsonl",
        "2 text(s) appear with both labels 0 and 1 (e.g. rows 1 and 61)",
    ),
    C("task-csv-no-label", "run --task file:{t}/nolabel.csv", "needs fields 'text' and 'label'"),
    C("task-file-one-class", "run --task file:{t}/oneclass.jsonl", "too few examples"),
    C("task-file-too-small", "run --task file:{t}/tiny.jsonl", "too few examples"),
    C("data-dir-missing", "run --task cola --data-dir /nonexistent-dir", "does not exist"),
    C("data-dir-without-task", "run --task cola --data-dir {t}/adir", "is not in data dir"),
    # -- split sizes and schedule --
    C("split-pool-zero", "run --pool 0", "split size pool=0 must be an integer >= 2"),
    C("split-test-one", "run --test 1", "split size test=1"),
    C("max-steps-zero", "run --max-steps 0", "max_steps 0 must be >= 1"),
    C("lr-negative", "run --lr -1", "lr -1.0 must be a positive number"),
    C("lr-nan", "run --lr nan", "lr nan must be a positive number"),
    C("batch-size-zero", "run --batch-size 0", "batch_size 0 must be >= 1"),
    C("example-passes-zero", "run --example-passes 0", "example_passes 0 must be >= 1"),
    C("eval-every-zero", "run --eval-every 0", "eval_every 0 must be >= 1"),
    # -- output paths, checked before any work --
    C("out-is-a-file", "run --out {t}/afile", "--out {t}/afile is a file, not a folder"),
    C("out-under-a-file", "run --out {t}/afile/sub", "{t}/afile is a file, not a folder"),
    C("out-unwritable", "run --out /proc/labelmix-test/out", "cannot be written"),
    C("save-model-is-a-file", "run --save-model {t}/afile", "--save-model {t}/afile is a file"),
    C("save-model-unwritable", "run --save-model /proc/labelmix-test/m", "cannot be written"),
    C(
        "cache-dir-is-a-file",
        "run",
        "cache folder {t}/afile cannot be created",
        LABELMIX_CACHE_DIR="{t}/afile",
    ),
    # -- tasks / weak-labels commands --
    C("tasks-show-unknown", "tasks show nope", "unknown task 'nope'"),
    C("tasks-show-negative-n", "tasks show cities -n -1", "-n -1 must be >= 0"),
    C("tasks-show-not-utf8", "tasks show file:{t}/latin1.jsonl", "is not UTF-8 text"),
    C("tasks-show-contradictory", "tasks show file:{t}/conflict.jsonl", "both labels 0 and 1"),
    C("tasks-show-data-dir-missing", "tasks show cola --data-dir /nonexistent-dir", "not exist"),
    C("weak-labels-unknown-task", "weak-labels --task nope", "unknown task 'nope'"),
    C("weak-labels-bare-model", "weak-labels --weak-model bogusname", "unknown model 'bogus"),
    # -- sweeps --
    C("sweep-missing-file", "sweep {t}/no-such.toml --out {t}/s", "does not exist"),
    C("sweep-config-is-folder", "sweep {t}/adir --out {t}/s", "does not exist"),
    C("sweep-not-utf8", "sweep {t}/latin1.toml --out {t}/s", "is not UTF-8 text"),
    C("sweep-not-toml", "sweep {t}/broken.toml --out {t}/s", "not valid TOML"),
    C("sweep-unknown-key", "sweep {t}/unknownkey.toml --out {t}/s", "unknown key(s) ['colour']"),
    C("sweep-missing-axis", "sweep {t}/noseeds.toml --out {t}/s", "missing key(s) ['seeds']"),
    C("sweep-gold-frac", "sweep {t}/fracs.toml --out {t}/s", "key 'gold_fracs'"),
    C("sweep-budget-string", "sweep {t}/budgetstr.toml --out {t}/s", "key 'budgets'"),
    C("sweep-seed-negative", "sweep {t}/seedneg.toml --out {t}/s", "must be an integer >= 0"),
    C(
        "sweep-schedule-float",
        "sweep {t}/schedfloat.toml --out {t}/s",
        "schedule max_steps 1.5 must be an integer",
    ),
    C("sweep-schedule-string", "sweep {t}/schedstr.toml --out {t}/s", "lr 'fast' must be a num"),
    C("sweep-schedule-bool", "sweep {t}/schedbool.toml --out {t}/s", "must be true or false"),
    C("sweep-schedule-unknown", "sweep {t}/schedunknown.toml --out {t}/s", "unknown field(s)"),
    C("sweep-schedule-not-table", "sweep {t}/schednottable.toml --out {t}/s", "must be a table"),
    C("sweep-split-sizes-string", "sweep {t}/sizesstr.toml --out {t}/s", "split size pool='x'"),
    C("sweep-unknown-task", "sweep {t}/task.toml --out {t}/s", "unknown task 'nope'"),
    C("sweep-unknown-method", "sweep {t}/method.toml --out {t}/s", "unknown method 'bogus'"),
    C("sweep-unaffordable", "sweep {t}/poor.toml --out {t}/s", "cannot buy any label"),
    C("sweep-bare-model", "sweep {t}/model.toml --out {t}/s", "unknown model 'bogusname'"),
    C("sweep-unknown-trainer", "sweep {t}/trainer.toml --out {t}/s", "unknown trainer 'svm'"),
    C("sweep-override-budgets", "sweep {t}/ok.toml --budgets lots --out {t}/s", "budgets"),
    C("sweep-workers-zero", "sweep {t}/ok.toml --workers 0 --out {t}/s", "workers 0 must be >= 1"),
    C("sweep-address-local", "sweep {t}/ok.toml --address x:1 --out {t}/s", "--backend ray"),
    C("sweep-backend-unknown", "sweep {t}/ok.toml --backend slurm --out {t}/s", "unknown backend"),
    C("sweep-out-is-a-file", "sweep {t}/ok.toml --out {t}/afile", "as a sweep store"),
    # -- stores --
    C("report-not-a-store", "report {t}/adir", "not a sweep store (no runs/ folder)"),
    C("report-empty-store", "report {t}/empty_store", "has no finished runs yet"),
    C("report-out-is-a-file", "report {t}/empty_store --out {t}/afile", "is a file, not a folder"),
    C("recommend-empty-store", "recommend {t}/empty_store --budget 10", "no finished runs yet"),
    C("recommend-not-a-store", "recommend {t}/adir --budget 10", "not a sweep store"),
    C("merge-not-a-store", "merge {t}/m {t}/adir", "is not a sweep store"),
    C("merge-into-a-file", "merge {t}/afile {t}/empty_store", "as a sweep store"),
    C("merge-into-itself", "merge {t}/empty_store {t}/empty_store", "into itself"),
    # -- saved classifiers (tampered) and predict inputs --
    C("predict-no-classifier", "predict {t}/adir {t}/in.txt", "holds no labelmix classifier"),
    C("predict-manifest-not-json", "predict {t}/clf_notjson {t}/in.txt", "is damaged (not JSON"),
    C("predict-manifest-list", "predict {t}/clf_list {t}/in.txt", "JSON object expected"),
    C("predict-manifest-trainer", "predict {t}/clf_trainer {t}/in.txt", "field 'trainer'"),
    C("predict-manifest-no-model", "predict {t}/clf_nomodel {t}/in.txt", "no field 'model'"),
    C("predict-manifest-layer", "predict {t}/clf_layer {t}/in.txt", "field 'layer' is 'top'"),
    C("predict-manifest-threshold", "predict {t}/clf_threshold {t}/in.txt", "field 'threshold'"),
    C("predict-manifest-bank", "predict {t}/clf_bank {t}/in.txt", "field 'bank'"),
    C("predict-manifest-bank-short", "predict {t}/clf_bankshort {t}/in.txt", "field 'bank'"),
    C("predict-manifest-model", "predict {t}/clf_model {t}/in.txt", "unknown model 'bogusname'"),
    C(
        "predict-manifest-right-cut",
        "predict {t}/clf_rightcut {t}/in.txt",
        "cut long texts from the right",
    ),
    C(
        "predict-manifest-side",
        "predict {t}/clf_sidegarbage {t}/in.txt",
        "field 'truncation_side' is 3",
    ),
    C("predict-head-missing", "predict {t}/clf_nohead {t}/in.txt", "is damaged (missing)"),
    C("predict-head-garbage", "predict {t}/clf_garbage {t}/in.txt", "head.safetensors is damaged"),
    C("predict-head-shape", "predict {t}/clf_shape {t}/in.txt", "of the wrong shape"),
    C("predict-head-nan", "predict {t}/clf_nan {t}/in.txt", "NaN or infinite weights"),
    C("predict-input-missing", "predict {t}/clf_ok {t}/missing.txt", "does not exist"),
    C("predict-input-not-utf8", "predict {t}/clf_ok {t}/latin1.txt", "is not UTF-8 text"),
    C("predict-input-empty", "predict {t}/clf_ok {t}/empty.txt", "holds no texts"),
    C("predict-input-blank", "predict {t}/clf_ok {t}/blank.txt", "holds no texts"),
    C("predict-jsonl-not-json", "predict {t}/clf_ok {t}/badline.jsonl", "line 2: not JSON"),
    C("predict-jsonl-no-text", "predict {t}/clf_ok {t}/notext.jsonl", "string field 'text'"),
    C("predict-out-is-a-folder", "predict {t}/clf_ok {t}/in.txt --out {t}/adir", "is a folder"),
]


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def hostile_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    t = tmp_path / "t"
    t.mkdir()
    make_files(t)
    work = tmp_path / "work"  # the current folder: default outputs would land here
    work.mkdir()
    monkeypatch.chdir(work)
    return t


def test_the_table_is_large_and_its_ids_unique() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(
    case: Case, hostile_dir: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = hostile_dir

    def fill(s: str) -> str:
        return s.replace("{t}", str(t)).replace("{llama}", str(tiny_llama))

    args = [fill(a) for a in case.args]
    if args[0] == "run":
        args = ["run", *fill(SAFE_RUN).split(), *args[1:]]
    for k, v in case.env.items():
        if k == "HF_OFFLINE":  # read at call time, so no request is even tried
            monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
        else:
            monkeypatch.setenv(k, fill(v))
    before = _listing(t.parent)
    start = time.monotonic()
    out = lm(*args)
    assert out.code == case.code, out.text
    assert "Traceback" not in out.text
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, out.stderr
    assert fill(case.fragment) in errors[0], out.stderr
    assert _listing(t.parent) == before  # nothing written, nothing half-made
    assert time.monotonic() - start < 30  # refused before any real work


# ---------------------------------------------------------------------------------------------
# Silent wrong results
# ---------------------------------------------------------------------------------------------


def _weak_labels_cli(task_file: Path, bert: Path) -> Out:
    return lm(
        "weak-labels",
        "--task",
        f"file:{task_file}",
        "--weak-model",
        str(bert),
        "--weak-train",
        "40",
        "--pool",
        "60",
        "--test",
        "40",
    )


def test_weak_labels_of_a_relabelled_file_are_not_served_from_the_cache(
    tmp_path: Path, tiny_bert: Path
) -> None:
    """The weak-label cache is keyed by the labels too: after a file's labels change, the weak
    labels are recomputed (before, the old ones were served as `[cached]`)."""
    path = tmp_path / "mine.jsonl"
    rows = [{"text": f"The city of Paris{i} is in {'France' if i % 2 else 'Peru'}.", "label": i % 2}
            for i in range(200)]  # fmt: skip
    path.write_text(_jsonl(rows))
    first = _weak_labels_cli(path, tiny_bert)
    assert first.code == 0 and "[cached]" not in first.stdout, first.text
    assert "[cached]" in _weak_labels_cli(path, tiny_bert).stdout  # same data: the cache serves
    path.write_text(_jsonl([{**r, "label": 1 - r["label"]} for r in rows]))  # every label flipped
    again = _weak_labels_cli(path, tiny_bert)
    assert again.code == 0 and "[cached]" not in again.stdout, again.text


def test_run_refuses_a_budget_that_buys_no_label_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gold_only at $0.50 used to train nothing and report chance accuracy with exit 0."""
    import labelmix.run

    def no_work(*a: Any, **k: Any) -> Any:
        raise AssertionError("the run started")

    monkeypatch.setattr(labelmix.run, "run_config", no_work)
    monkeypatch.chdir(tmp_path)
    out = lm("run", "--method", "gold_only", "--budget", "0.5")
    assert out.code == 2 and "costs $1" in out.stderr and not list(tmp_path.iterdir())


def test_library_fit_refuses_a_budget_that_buys_no_label() -> None:
    from labelmix.config import RunConfig
    from labelmix.errors import BudgetError
    from labelmix.run import run_config

    with pytest.raises(BudgetError, match=r"cheapest label \(gold\) costs \$1"):
        run_config(RunConfig(method="gold_only", gold_frac=None, budget=0.5))


def test_contradictory_duplicates_in_a_file_are_refused_with_their_count(tmp_path: Path) -> None:
    from labelmix.tasks.user_file import file_examples

    path = tmp_path / "d.csv"
    path.write_text("text,label\na,1\nb,0\na,0\nb,1\nc,1\nc,1\n")
    with pytest.raises(DataError, match=r"2 text\(s\) appear with both labels 0 and 1"):
        file_examples(path)
    path.write_text("text,label\na,1\nb,0\na,1\n")  # exact repeats are one example
    assert [(e.text, e.label) for e in file_examples(path)] == [("a", 1), ("b", 0)]


def test_tasks_show_calls_a_users_file_theirs(hostile_dir: Path) -> None:
    out = lm("tasks", "show", f"file:{hostile_dir}/good.jsonl", "-n", "1")
    assert out.code == 0, out.text
    assert f"source: your file {hostile_dir}/good.jsonl" in out.stdout
    assert "generated" not in out.stdout


# ---------------------------------------------------------------------------------------------
# Lost work: outputs that fail only after training
# ---------------------------------------------------------------------------------------------


class _FakeClassifier:
    """Saves a marker file; refuses the folder `refuse`, as a full disk would."""

    def __init__(self, refuse: Path) -> None:
        self.refuse = refuse

    def save(self, folder: Path) -> Path:
        if Path(folder) == self.refuse:
            raise OSError(28, "No space left on device")
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "labelmix_classifier.json").write_text("{}")
        return Path(folder)


def _fake_run_output(clf: Any) -> Any:
    from labelmix.run import RunOutput

    sys.path.insert(0, str(TESTS))
    try:
        from sweep_helpers import fake_run
    finally:
        sys.path.remove(str(TESTS))
    from labelmix.config import RunConfig

    record = fake_run(RunConfig(budget=16.0))
    record.update(accuracy_ci_low=0.5, accuracy_ci_high=0.9)
    return RunOutput(record, clf)


def test_a_finished_run_is_kept_when_its_outputs_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out and --save-model pass the early checks, then the disk fills up during training: the
    result and the classifier are kept in temp places, and the message says where."""
    import labelmix.atomic
    import labelmix.run

    out_dir, model_dir = tmp_path / "out", tmp_path / "model"
    clf = _FakeClassifier(refuse=model_dir)
    monkeypatch.setattr(labelmix.run, "run_config", lambda cfg: _fake_run_output(clf))
    real_write = labelmix.atomic.atomic_write_json

    def full_disk(path: Path, obj: Any) -> None:
        if Path(path).parent == out_dir:
            raise OSError(28, "No space left on device")
        real_write(path, obj)

    monkeypatch.setattr(labelmix.atomic, "atomic_write_json", full_disk)
    out = lm("run", "--budget", "16", "--out", str(out_dir), "--save-model", str(model_dir))
    assert out.code == 2 and "Traceback" not in out.text
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("error: ")][0]
    assert "No space left on device" in line
    kept_result = Path(line.split("it is kept in ")[-1])
    kept_model = Path(line.split("it is kept in ")[1].split(";")[0])
    try:
        assert json.loads(kept_result.read_text())["saved_classifier"] == str(kept_model)
        assert (kept_model / "labelmix_classifier.json").is_file()
        assert f"result: {kept_result}" in out.stdout
    finally:
        kept_result.unlink(missing_ok=True)
        for p in kept_model.glob("*"):
            p.unlink()
        kept_model.rmdir()


def test_output_checks_create_nothing_and_leave_no_probe(tmp_path: Path) -> None:
    from labelmix.paths import check_output_dir

    check_output_dir(tmp_path / "a" / "b", "--out")
    assert list(tmp_path.iterdir()) == []
    if os.geteuid() != 0:  # root writes anywhere; /proc covers it in the table
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(ConfigError, match="cannot be written"):
            check_output_dir(ro / "out", "--out")


# ---------------------------------------------------------------------------------------------
# Damaged caches
# ---------------------------------------------------------------------------------------------


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "bitflip":
        i = len(data) // 2  # inside the stored array
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "pickle":  # an object array: loading it would need a pickle
        with open(path, "wb") as f:
            np.savez(f, ids=np.array(["a"], dtype=object), x=np.zeros((1, 2), np.float32))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncate", "bitflip", "empty", "pickle"])
def test_a_damaged_feature_shard_is_removed_and_recomputed(tmp_path: Path, how: str) -> None:
    from labelmix.cache import VectorCache

    cache = VectorCache(tmp_path / "c")
    cache.put(["a", "b"], np.arange(2000, dtype=np.float32).reshape(2, 1000))
    (shard,) = (tmp_path / "c").glob("*.npz")
    _damage(shard, how)
    fresh = VectorCache(tmp_path / "c")  # a later run
    with pytest.warns(LabelmixWarning, match="was damaged.*recomputed"):
        assert fresh.missing(["a", "b"]) == ["a", "b"]
    assert not shard.exists()
    fresh.put(["a", "b"], np.ones((2, 1000), np.float32))
    assert VectorCache(tmp_path / "c").missing(["a", "b"]) == []


def test_feature_extraction_recovers_from_a_damaged_shard(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labelmix.models.features import FeatureExtractor
    from labelmix.models.loading import resolve_model

    monkeypatch.setenv("LABELMIX_CACHE_DIR", str(tmp_path))  # damage a cache of its own

    texts = ["a damaged shard", "must not fail", "every later run"]
    first = FeatureExtractor(resolve_model(str(tiny_bert))).features(texts)
    extractor = FeatureExtractor(resolve_model(str(tiny_bert)))
    for shard in extractor.folder.glob("*.npz"):
        _damage(shard, "truncate")
    with pytest.warns(LabelmixWarning, match="cache shard"):
        again = extractor.features(texts)
    np.testing.assert_allclose(again, first, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("how", ["truncate", "bitflip", "empty"])
def test_a_damaged_weak_label_cache_is_removed_and_recomputed(
    tiny_bert: Path, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import labelmix.train.weak_labeler as wl
    from labelmix.tasks import get_task, load_splits
    from labelmix.tasks.splits import SplitSizes

    monkeypatch.setenv("LABELMIX_CACHE_DIR", str(tmp_path))  # damage a cache of its own

    monkeypatch.setattr(wl, "WEAK_SCHEDULE", wl.WEAK_SCHEDULE.__class__(example_passes=200))
    splits = load_splits(get_task("cities"), None, SplitSizes(40, 60, 40, 20), seed=7)
    first = wl.train_weak_labeler("cities", str(tiny_bert), splits, price=0.1, seed=7)
    (path,) = (wl.cache_dir() / "weak_labels").glob(f"cities-*-n{len(splits.weak_train)}-s7-*")
    assert wl.train_weak_labeler("cities", str(tiny_bert), splits, 0.1, 7).report.cached
    _damage(path, how)
    with pytest.warns(LabelmixWarning, match="weak-label cache file .* was damaged"):
        again = wl.train_weak_labeler("cities", str(tiny_bert), splits, price=0.1, seed=7)
    assert again.report is not None and not again.report.cached
    ids = [e.id for e in splits.pool]
    np.testing.assert_allclose(again.peek(ids), first.peek(ids), rtol=1e-5)
    assert path.exists()  # written again, whole


# ---------------------------------------------------------------------------------------------
# Sweeps: failures exit non-zero, nothing made before validation, workers die with the parent
# ---------------------------------------------------------------------------------------------


SMALL = (
    'tasks = ["cities"]\nmethods = ["weak_only", "gold_only", "seq_sft"]\nbudgets = [16, 64]\n'
    "gold_fracs = [0.5, 0.2]\nweak_costs = [0.1]\nseeds = [0, 1]\n"
)


def test_a_sweep_with_failed_runs_exits_1_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import labelmix.sweep.backends as backends

    sys.path.insert(0, str(TESTS))
    try:
        from sweep_helpers import flaky_run
    finally:
        sys.path.remove(str(TESTS))
    monkeypatch.setattr(backends, "default_run_fn", lambda: flaky_run)
    (tmp_path / "s.toml").write_text(SMALL)
    store = tmp_path / "store"
    out = lm("sweep", str(tmp_path / "s.toml"), "--out", str(store), "--no-report")
    assert out.code == 1, out.text
    assert "Traceback" not in out.text
    assert "12 done, 0 already done, 4 failed of 16 runs" in out.stdout
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("error: ")][0]
    assert f"4 of 16 runs failed; their errors and tracebacks are in {store}/failed/" in line
    assert "RuntimeError: synthetic failure" in line
    assert len(list((store / "failed").glob("*.json"))) == 4


def test_a_store_is_not_the_first_casualty_of_a_bad_option(tmp_path: Path) -> None:
    """Validation first: a refused sweep leaves no store skeleton behind."""
    (tmp_path / "s.toml").write_text(SMALL)
    for extra in (["--workers", "0"], ["--address", "x:1"], ["--workers", "-3"]):
        out = lm("sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "store"), *extra)
        assert out.code == 2 and not (tmp_path / "store").exists(), out.text


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; its reaper may be slow


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_die_with_a_killed_sweep(tmp_path: Path) -> None:
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
        "SWEEP_HELPER_PIDS": str(pids_dir),
        "SWEEP_HELPER_DELAY": "120",
        "LABELMIX_PROGRESS": "0",
    }
    root = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-c", f"import sweep_helpers; sweep_helpers.pool_main({str(root)!r})"],
        env=env,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while len(workers) < 2:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.1)
            workers = [int(p.name) for p in pids_dir.iterdir()]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "workers outlived their sweep"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:  # never leave them behind, even when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# Security: a model folder's own code never runs, and nothing ever prompts
# ---------------------------------------------------------------------------------------------


EVIL_CODE = """
from pathlib import Path
Path({marker!r}).write_text("custom code ran")
from transformers import PretrainedConfig, PreTrainedModel

class EvilConfig(PretrainedConfig):
    model_type = "labelmix_evil"

class EvilModel(PreTrainedModel):
    config_class = EvilConfig
"""


@pytest.fixture
def evil_model(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A model folder whose config.json maps the Auto classes to its own evil.py, which writes a
    marker file when imported."""
    folder, marker = tmp_path / "evil_model", tmp_path / "MARKER"
    folder.mkdir()
    auto = {k: "evil.EvilModel" for k in ("AutoModel", "AutoModelForCausalLM")}
    auto |= {
        "AutoConfig": "evil.EvilConfig",
        "AutoModelForSequenceClassification": "evil.EvilModel",
    }
    (folder / "config.json").write_text(
        json.dumps({"model_type": "labelmix_evil", "auto_map": auto, "num_hidden_layers": 2})
    )
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"auto_map": {"AutoTokenizer": ["evil.EvilTokenizer", None]}})
    )
    (folder / "evil.py").write_text(EVIL_CODE.format(marker=str(marker)))
    yield folder, marker


def _never_prompt(*args: Any, **kwargs: Any) -> str:
    raise AssertionError(f"transformers prompted: {args}")


def test_a_model_folders_own_code_never_runs(
    evil_model: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from labelmix.models.features import FeatureExtractor
    from labelmix.models.icl import PromptScorer
    from labelmix.models.loading import load_config, load_tokenizer, model_kind, resolve_model
    from labelmix.models.lora import LoraLearner

    folder, marker = evil_model
    monkeypatch.setattr("builtins.input", _never_prompt)
    ref = resolve_model(str(folder))
    loaders: list[Callable[[], object]] = [
        lambda: load_config(ref),
        lambda: model_kind(ref),
        lambda: load_tokenizer(ref),
        lambda: FeatureExtractor(ref),
        lambda: PromptScorer(ref),
        lambda: LoraLearner(ref, seed=0),
    ]
    for load in loaders:
        with pytest.raises(ConfigError, match="needs its own Python code"):
            load()
    monkeypatch.chdir(tmp_path)
    out = lm("run", "--model", str(folder), "--weak-model", str(folder))
    assert out.code == 2 and "labelmix never runs a model's code" in out.stderr, out.text
    assert not marker.exists()


def test_the_planted_code_is_real(evil_model: tuple[Path, Path]) -> None:
    """The control: with trust_remote_code=True transformers does run it, so the test above
    proves something."""
    from transformers import AutoConfig

    folder, marker = evil_model
    AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
    assert marker.read_text() == "custom code ran"


def test_every_from_pretrained_call_says_whether_to_trust_code() -> None:
    """Every Auto*/model from_pretrained call in the package passes trust_remote_code, so
    transformers never falls back to asking on a terminal. (PeftModel loads an adapter onto a
    base model already loaded: no code to trust.)"""
    missing = []
    for path in (ROOT / "src" / "labelmix").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "from_pretrained":
                continue
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "PeftModel":
                continue
            if not any(k.arg == "trust_remote_code" for k in node.keywords):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert missing == []


def test_caches_and_classifiers_never_unpickle(tmp_path: Path) -> None:
    """An object array in a cache shard is damage (np.load refuses pickles), and a classifier's
    weights are safetensors only."""
    from labelmix.cache import load_npz

    path = tmp_path / "x.npz"
    with open(path, "wb") as f:
        np.savez(f, ids=np.array([{"a": 1}], dtype=object), x=np.zeros((1, 1)))
    with pytest.raises(ValueError, match="pickle"):
        load_npz(path, ("ids", "x"))
    src = (ROOT / "src" / "labelmix").rglob("*.py")
    text = "\n".join(p.read_text() for p in src)
    assert "allow_pickle=True" not in text and "pickle.load" not in text
    assert "torch.load(" not in text


# ---------------------------------------------------------------------------------------------
# Progress: bars on a terminal only, a line every few seconds otherwise
# ---------------------------------------------------------------------------------------------


class _Stderr(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_is_plain_lines_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from labelmix import progress as pg

    monkeypatch.delenv("LABELMIX_PROGRESS", raising=False)
    fake = _Stderr(tty=False)
    monkeypatch.setattr(sys, "stderr", fake)
    assert pg.progress_mode() == "lines" and not pg.progress_enabled()
    clock = iter(np.arange(0.0, 1000.0, 0.5))  # each update takes half a second
    monkeypatch.setattr(pg.time, "monotonic", lambda: float(next(clock)))
    with pg.progress(total=1000, desc="features") as bar:
        for _ in range(100):  # 50 s
            bar.update(10)
    lines = fake.getvalue().splitlines()
    assert "\r" not in fake.getvalue()
    assert 4 <= len(lines) <= 6  # one per 10 s, and the end
    assert lines[0].startswith("features: ") and lines[-1].endswith("done")
    fake_tty = _Stderr(tty=True)
    monkeypatch.setattr(sys, "stderr", fake_tty)
    assert pg.progress_mode() == "bars"
    monkeypatch.setenv("LABELMIX_PROGRESS", "0")
    assert pg.progress_mode() == "off"


def test_a_short_loop_off_a_terminal_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from labelmix import progress as pg

    monkeypatch.delenv("LABELMIX_PROGRESS", raising=False)
    fake = _Stderr(tty=False)
    monkeypatch.setattr(sys, "stderr", fake)
    with pg.progress(total=5000, desc="quick") as bar:
        for _ in range(5000):
            bar.update(1)
    assert fake.getvalue() == ""


# ---------------------------------------------------------------------------------------------
# Library-level guards behind the CLI lines
# ---------------------------------------------------------------------------------------------


def test_store_on_a_file_is_a_data_error(tmp_path: Path) -> None:
    from labelmix.sweep import Store

    (tmp_path / "f").write_text("")
    with pytest.raises(DataError, match="cannot use .* as a sweep store"):
        Store(tmp_path / "f")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"max_steps": 1.5}, "max_steps 1.5 must be an integer"),
        ({"example_passes": "many"}, "example_passes 'many' must be an integer"),
        ({"lr": "fast"}, "lr 'fast' must be a number"),
        ({"batch_size": True}, "batch_size True must be an integer"),
        ({"carry_optimizer": "yes"}, "carry_optimizer 'yes' must be true or false"),
        ({"guard": 1}, "guard 1 must be a string"),
        ({"guard_weight": "x"}, "guard_weight 'x' must be a number or left out"),
    ],
)
def test_schedule_checks_types_first(changes: dict[str, Any], match: str) -> None:
    from labelmix.train.schedule import Schedule

    with pytest.raises(ConfigError, match=match):
        Schedule(**changes)
