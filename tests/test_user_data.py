"""A user's own data end to end: a labelled file as a task, a run that saves its classifier, and
`labelmix predict` applying it to new texts with the same scores the run measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labelmix.classifier import Classifier
from labelmix.config import RunConfig
from labelmix.errors import ConfigError, DataError
from labelmix.run import cached_splits, execute_run
from labelmix.tasks import get_task, load_splits
from labelmix.tasks.splits import SplitSizes
from labelmix.train.schedule import Schedule

SIZES = SplitSizes(weak_train=40, pool=120, test=60)
FAST = Schedule(example_passes=200, batch_size=16, warmup_steps=2, lr=1e-2, max_steps=20)
WORDS = ["red", "blue", "cat", "dog", "sat", "ran", "big", "small", "the", "a"]


def _write_task(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, size=4))
        label = int("cat" in words)
        rows.append({"text": f"{words} {i}", "label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_file_task_loads_balanced_disjoint_splits(tmp_path: Path) -> None:
    spec = get_task(f"file:{_write_task(tmp_path / 'mine.jsonl')}")
    splits = load_splits(spec, None, SIZES, seed=0)
    for part in (splits.weak_train, splits.pool, splits.test):
        assert sum(e.label for e in part) * 2 == len(part)
    assert "carved" in " ".join(splits.notes)


def test_file_task_csv(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(200)))
    splits = load_splits(get_task(f"file:{path}"), None, SIZES, seed=0)
    assert len(splits.test) > 0


@pytest.mark.parametrize(
    "content,match",
    [
        ('{"text": "a", "label": 2}\n', "outside"),
        ('{"txt": "a", "label": 1}\n', "needs fields 'text' and 'label'"),
        ("{oops\n", "not JSON"),
    ],
)
def test_file_task_bad_rows(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        load_splits(get_task(f"file:{path}"), None, SIZES, seed=0)


def test_file_task_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        get_task("file:/no/such/file.jsonl")


@pytest.mark.parametrize("trainer", ["probe", "lora"])
def test_saved_classifier_reproduces_the_runs_test_scores(
    tiny_llama: Path, tmp_path: Path, trainer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = f"file:{_write_task(tmp_path / 'mine.jsonl')}"
    cfg = RunConfig(
        task=task,
        method="seq_sft_2shot" if trainer == "probe" else "seq_sft",
        budget=20.0,
        gold_frac=0.5,
        trainer=trainer,
        model=str(tiny_llama),
        weak_model=str(tiny_llama),
        split_sizes=SIZES,
        schedule=FAST,
    )
    r = execute_run(cfg, save_to=tmp_path / "clf")
    clf = Classifier.load(tmp_path / "clf")
    test = cached_splits(task, None, SIZES, 0).test
    probs = clf.predict_proba([e.text for e in test])
    labels = clf.predict([e.text for e in test])
    y = np.array([e.label for e in test])
    # the saved classifier gives exactly the run's test accuracy
    assert (labels == y).mean() == pytest.approx(r["accuracy"])
    assert ((probs > 0.5) == labels.astype(bool)).all()
    if trainer == "lora":
        # An adapter trained on a 4-bit base reloads on a 4-bit base (here: the clear error that
        # says what it needs), never silently on a full-precision one.
        manifest = tmp_path / "clf" / "labelmix_classifier.json"
        meta = json.loads(manifest.read_text())
        assert meta["load_in_4bit"] is False
        manifest.write_text(json.dumps({**meta, "load_in_4bit": True}))
        import labelmix.models.lora as lora_module

        asked: list[str] = []

        def no_4bit_here(device: str) -> None:  # the same on any machine, GPU or not
            asked.append(device)
            raise ConfigError("load_in_4bit needs bitsandbytes")

        monkeypatch.setattr(lora_module, "check_4bit_support", no_4bit_here)
        with pytest.raises(ConfigError, match="^load_in_4bit needs"):
            Classifier.load(tmp_path / "clf")
        assert len(asked) == 1


def test_predict_cli(tiny_llama: Path, tmp_path: Path) -> None:
    task = f"file:{_write_task(tmp_path / 'mine.jsonl')}"
    env = {**os.environ, "LABELMIX_PROGRESS": "0"}
    base = [sys.executable, "-m", "labelmix"]
    run = subprocess.run(
        [
            *base,
            "run",
            "--task",
            task,
            "--method",
            "gold_only",
            "--budget",
            "30",
            "--model",
            str(tiny_llama),
            "--weak-model",
            str(tiny_llama),
            "--weak-train",
            "40",
            "--pool",
            "120",
            "--test",
            "60",
            "--max-steps",
            "20",
            "--out",
            str(tmp_path / "runs"),
            "--save-model",
            str(tmp_path / "clf"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    new = tmp_path / "new.txt"
    new.write_text("the cat sat red\nblue dog ran big\n")
    pred = subprocess.run(
        [*base, "predict", str(tmp_path / "clf"), str(new)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert pred.returncode == 0, pred.stderr[-2000:]
    rows = [json.loads(line) for line in pred.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["the cat sat red", "blue dog ran big"]
    assert all(0 <= r["p_label_1"] <= 1 and r["label"] in (0, 1) for r in rows)
    bad = subprocess.run(
        [*base, "predict", str(tmp_path), str(new)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and "holds no labelmix classifier" in bad.stderr
