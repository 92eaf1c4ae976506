"""The four weak labelers (probe, finetune, prompt, column), their calibration and quality
measures, and how a run, the cache and the CLI reach them. Models are the tiny ones of
conftest.py, so nothing here needs the bundled weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import lm

from labelmix.config import RunConfig
from labelmix.errors import ConfigError, DataError
from labelmix.labels.weak import brier_score, expected_calibration_error, parse_labeler
from labelmix.tasks import get_task, load_splits
from labelmix.tasks.splits import SplitSizes
from labelmix.train.weak_labeler import (
    column_weak_labeler,
    finetune_weak_labeler,
    make_weak_labeler,
    platt_apply,
    platt_fit,
    prompt_weak_labeler,
)

TINY = SplitSizes(weak_train=40, pool=60, test=40, select=20)


def _task_file(path: Path, n: int = 200, flip_every: int = 4) -> Path:
    """A file task whose `weak_label` is the gold label, wrong on every `flip_every`-th row."""
    rows = []
    for i in range(n):
        label = i % 2
        weak = 1 - label if i % flip_every == 0 else label
        text = f"The city of Town{i} is in {'France' if label else 'Peru'}."
        rows.append({"text": text, "label": label, "weak_label": weak})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---- calibration and quality measures ----


def test_platt_fit_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-(2.0 * x - 1.0)))).astype(float)
    a, b = platt_fit(x, y)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)


def test_platt_fit_is_finite_on_separable_scores_and_can_flip_a_sign() -> None:
    x = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    a, b = platt_fit(x, np.array([0, 0, 0, 1, 1, 1.0]))
    assert np.isfinite([a, b]).all() and a > 0
    p = platt_apply(x, (a, b))
    assert (p[:3] < 0.5).all() and (p[3:] > 0.5).all() and (p < 1).all()
    a_flipped, _ = platt_fit(x, np.array([1, 1, 1, 0, 0, 0.0]))  # scores that point the wrong way
    assert a_flipped < 0


def test_platt_fit_refuses_too_few_labels_of_a_class() -> None:
    with pytest.raises(DataError, match="both classes"):
        platt_fit(np.arange(10.0), np.ones(10))


def test_brier_and_ece_on_known_values() -> None:
    y = np.array([1, 0, 1, 0.0])
    assert brier_score(y, np.full(4, 0.5)) == pytest.approx(0.25)
    assert brier_score(y, y) == 0.0
    assert expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.0)  # 50% is right
    assert expected_calibration_error(y, np.array([0.9, 0.9, 0.9, 0.9])) == pytest.approx(0.4)


# ---- names and run keys ----


def test_labeler_names_are_checked_when_a_config_is_made(tmp_path: Path) -> None:
    assert parse_labeler("column:my_field") == ("column", "my_field")
    with pytest.raises(ConfigError, match="unknown weak labeler 'bogus'"):
        RunConfig(weak_labeler="bogus")
    with pytest.raises(ConfigError, match="unknown weak labeler"):
        RunConfig(weak_labeler="prompt:x")
    with pytest.raises(ConfigError, match="needs a causal LM and 'minilm' is a text embedder"):
        RunConfig(weak_labeler="prompt")  # the default weak model cannot be prompted
    assert RunConfig(weak_labeler="prompt", weak_model="smollm2").weak_model == "smollm2"
    with pytest.raises(ConfigError, match=r"not one; name a file of weak labels"):
        RunConfig(task="cities", weak_labeler="column")
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig(task="cities", weak_labeler=f"column:{tmp_path / 'nope.jsonl'}")
    data = _task_file(tmp_path / "d.jsonl")
    assert RunConfig(task=f"file:{data}", weak_labeler="column").weak_labeler == "column"


def test_the_default_labeler_keeps_stored_run_keys() -> None:
    """`weak_labeler` is key-neutral at "probe": every stored run keeps its key."""
    base = RunConfig()
    assert base.weak_labeler == "probe"
    assert RunConfig(weak_labeler="probe").key() == base.key()
    assert RunConfig(weak_labeler="finetune").key() != base.key()
    prompt = RunConfig(weak_labeler="prompt", weak_model="smollm2")
    assert RunConfig.from_dict(prompt.to_dict()).key() == prompt.key()


# ---- column: the user's own weak labels ----


def test_column_labels_of_a_file_task_reach_a_run_as_given(tmp_path: Path, tiny_bert: Path) -> None:
    from labelmix.run import run_config

    data = _task_file(tmp_path / "d.jsonl")
    task = f"file:{data}"
    cfg = RunConfig(
        task=task,
        method="weak_only",
        gold_frac=None,
        budget=4.0,
        weak_cost=0.1,
        model=str(tiny_bert),
        weak_labeler="column",
        split_sizes=TINY,
        seed=3,
    )
    r = run_config(cfg).record
    splits = load_splits(get_task(task), None, TINY, 3)
    given = {json.loads(line)["text"]: json.loads(line)["weak_label"] for line in data.open()}
    expected = np.mean([given[e.text] == e.label for e in splits.test])
    assert r["weak_label_test_accuracy"] == pytest.approx(expected)
    assert r["config"]["weak_labeler"] == "column" and r["n_weak"] > 0


def test_column_from_a_file_of_its_own_by_text_and_missing_labels_refused(tmp_path: Path) -> None:
    splits = load_splits(get_task("cities"), None, TINY, 0)
    own = tmp_path / "weak.csv"
    lines = ["text,score"] + [
        f'"{e.text}",{0.8 if e.label else 0.3}' for e in splits.pool + splits.test
    ]
    own.write_text("\n".join(lines) + "\n")
    weak = column_weak_labeler("cities", f"{own}:score", splits, price=0.1)
    assert weak.report is not None and weak.report.pool_accuracy == 1.0
    assert weak.report.pool_brier == pytest.approx(
        np.mean([0.04 if e.label else 0.09 for e in splits.pool])
    )
    own.write_text("\n".join(lines[:-3]) + "\n")  # the last test examples lose theirs
    with pytest.raises(DataError, match=r"no weak label in 'score' for 3 of the task's"):
        column_weak_labeler("cities", f"{own}:score", splits, price=0.1)
    own.write_text("text,score\nsomething,1.5\n")
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        column_weak_labeler("cities", f"{own}:score", splits, price=0.1)


def test_an_edited_weak_label_file_is_not_served_from_memory(tmp_path: Path) -> None:
    import os

    from labelmix.run import cached_weak_labeler

    splits = load_splits(get_task("cities"), None, TINY, 0)
    own = tmp_path / "weak.jsonl"

    def write(p: float) -> None:
        own.write_text(
            "".join(
                json.dumps({"text": e.text, "weak_label": p}) + "\n"
                for e in splits.pool + splits.test
            )
        )

    write(0.2)
    first = cached_weak_labeler("cities", None, TINY, 0, "minilm", f"column:{own}")
    write(0.7)
    os.utime(own, ns=(own.stat().st_atime_ns, own.stat().st_mtime_ns + 10**9))
    again = cached_weak_labeler("cities", None, TINY, 0, "minilm", f"column:{own}")
    ids = [splits.pool[0].id]
    assert first.peek(ids)[0] == pytest.approx(0.2) and again.peek(ids)[0] == pytest.approx(0.7)


# ---- finetune and prompt, on tiny models ----


def test_finetune_labeler_trains_calibrates_and_caches(tiny_bert: Path) -> None:
    splits = load_splits(get_task("cities"), None, TINY, 5)
    weak = finetune_weak_labeler("cities", str(tiny_bert), splits, price=0.1, seed=5)
    ids = [e.id for e in splits.pool + splits.test]
    p = weak.peek(ids)
    assert weak.report is not None and not weak.report.cached
    assert ((p > 0) & (p < 1)).all() and "finetuned" in weak.report.labeler
    assert weak.report.n_val == 6 and weak.report.n_train == len(splits.weak_train) - 6
    again = make_weak_labeler("finetune", "cities", str(tiny_bert), splits, price=0.1, seed=5)
    assert again.report is not None and again.report.cached
    np.testing.assert_allclose(again.peek(ids), p, rtol=1e-6)


def test_prompt_labeler_scores_calibrates_and_refuses_an_encoder(
    tiny_llama: Path, tiny_bert: Path
) -> None:
    splits = load_splits(get_task("cities"), None, TINY, 0)
    weak = prompt_weak_labeler("cities", str(tiny_llama), splits, price=0.1, seed=0)
    p = weak.peek([e.id for e in splits.pool])
    assert weak.report is not None and weak.report.n_train == 8
    assert weak.report.n_val == len(splits.weak_train) - 8
    assert ((p > 0) & (p < 1)).all() and "prompted with 8" in weak.report.labeler
    # Platt on weak_train: the mean probability sits near weak_train's share of positives
    assert abs(float(p.mean()) - 0.5) < 0.2
    cached = prompt_weak_labeler("cities", str(tiny_llama), splits, price=0.1, seed=0)
    assert cached.report is not None and cached.report.cached
    with pytest.raises(ConfigError, match="causal LM"):
        prompt_weak_labeler("cities", str(tiny_bert), splits, price=0.1, seed=0)


# ---- the command ----


def test_weak_labels_command_reports_accuracy_auroc_and_calibration(tmp_path: Path) -> None:
    data = _task_file(tmp_path / "d.jsonl")
    args = [
        "weak-labels",
        "--task",
        f"file:{data}",
        "--labeler",
        "column",
        "--weak-train",
        "40",
        "--pool",
        "60",
        "--test",
        "40",
    ]
    code, out, err = lm(*args)
    assert code == 0, err
    assert "your weak labels: field 'weak_label'" in out
    pool_line = next(line for line in out.splitlines() if line.startswith("pool ("))
    assert "what a budget buys" in pool_line and "Brier" in pool_line and "ECE" in pool_line
    assert "never chosen on" in next(line for line in out.splitlines() if line.startswith("test ("))
    code, _, err = lm("weak-labels", "--task", "cities", "--labeler", "column:weak_label")
    assert code == 2 and err.startswith("error: weak labeler 'column' reads the field")


# ---- choosing a labeler for a run: CLI, library, report ----


def test_run_command_takes_a_weak_labeler_and_records_it(tmp_path: Path, tiny_bert: Path) -> None:
    data = _task_file(tmp_path / "d.jsonl")
    common = ["run", "--task", f"file:{data}", "--method", "weak_only", "--budget", "4"]
    common += ["--weak-cost", "0.1", "--model", str(tiny_bert), "--weak-train", "40"]
    common += ["--pool", "60", "--test", "40", "--select", "20", "--max-steps", "5"]
    code, out, err = lm(*common, "--weak-labeler", "column", "--out", str(tmp_path / "r"))
    assert code == 0, err
    (path,) = (tmp_path / "r").glob("*.json")
    record = json.loads(path.read_text())
    assert record["weak_labeler"] == "column" and record["config"]["weak_labeler"] == "column"
    # The column labels are the file's: wrong on every 4th row, so about 0.75 on test.
    splits = load_splits(get_task(f"file:{data}"), None, TINY, 0)
    given = {json.loads(line)["text"]: json.loads(line)["weak_label"] for line in data.open()}
    assert record["weak_label_test_accuracy"] == pytest.approx(
        np.mean([given[e.text] == e.label for e in splits.test])
    )
    code, _, err = lm(*common, "--weak-labeler", "prompt", "--weak-model", "minilm")
    assert code == 2 and "needs a causal LM" in err
    code, _, err = lm(*common, "--weak-labeler", "oracle")
    assert code == 2 and "unknown weak labeler 'oracle'" in err


def test_fit_takes_a_weak_labeler(tmp_path: Path, tiny_bert: Path) -> None:
    import labelmix as lm_api

    data = _task_file(tmp_path / "d.jsonl")
    r = lm_api.fit(
        "weak_only",
        f"file:{data}",
        budget=4.0,
        weak_cost=0.1,
        weak=lm_api.WeakLabels.from_column("weak_label"),
        model=str(tiny_bert),
        split_sizes=TINY,
        seed=3,
    )
    assert r.record["weak_labeler"] == "column:weak_label" and r.n_weak > 0
    with pytest.raises(ConfigError, match="needs a causal LM"):
        lm_api.WeakLabels.from_model("minilm", labeler="prompt")
    with pytest.raises(ConfigError, match="from_column"):
        lm_api.WeakLabels.from_model(labeler="column")
    assert lm_api.WeakLabels.from_model(labeler="prompt").model == "smollm2"


def test_the_report_never_pools_runs_of_different_weak_labelers() -> None:
    import pandas as pd

    from labelmix.analysis.report import _separate_settings

    df = pd.DataFrame(
        {
            "task": ["cities"] * 3,
            "model": ["smollm2"] * 3,
            "trainer": ["probe"] * 3,
            "weak_model": ["minilm"] * 3,
            "weak_labeler": [None, "probe", "finetune"],  # None: a record from before the field
        }
    )
    tasks = list(_separate_settings(df)["task"])
    assert tasks[0] == tasks[1] != tasks[2]
    assert tasks[2].endswith("finetune]") and "weak minilm" in tasks[2]
    same = df.assign(weak_labeler=[None, "probe", "probe"])
    assert list(_separate_settings(same)["task"]) == ["cities"] * 3
