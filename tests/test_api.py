"""The library API: own data in memory, own weak labels, a custom method, precomputed features,
a classifier that predicts, saves and loads; and the README's example run as written."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

import labelmix as lm
from labelmix.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]


def _toy(n: int = 400, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts, labels and features where feature 0 carries the label (known answer: separable)."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    x[:, 0] += 3.0 * (2 * y - 1)
    texts = [f"item {i}" for i in range(n)]
    return texts, y, x


FAST = lm.Schedule(example_passes=2000, batch_size=32, warmup_steps=5, lr=3e-2, max_steps=200)
SIZES = lm.SplitSizes(weak_train=60, pool=200, test=80, select=60)


def test_fit_on_arrays_with_own_weak_labels_custom_method_and_features(tmp_path: Path) -> None:
    texts, y, x = _toy()
    task = lm.Task.from_records(texts, y, name="toy")
    flip = np.random.default_rng(1).random(len(y)) < 0.2
    weak = lm.WeakLabels.from_array(task, np.where(flip, 1 - y, y))
    method = lm.Method(
        "weak_then_uncertain_gold",
        stages=[lm.StageSpec("weak"), lm.StageSpec("gold", sampling="uncertainty")],
    )
    result = lm.fit(
        method,
        task,
        budget=20,
        weak_cost=0.1,
        gold_frac=0.5,
        weak=weak,
        features=x,
        split_sizes=SIZES,
        schedule=FAST,
    )
    assert result.method == "weak_then_uncertain_gold"
    assert (result.n_weak, result.n_gold) == (100, 10)
    assert result.spent <= 20 + 1e-9 and result.ledger["spent_gold"] == 10
    assert result.accuracy > 0.9  # the label is in feature 0
    # the record says what trained it; the classifier scores feature rows like the run did
    assert result.record["weak_label_test_accuracy"] == pytest.approx(0.8, abs=0.12)
    clf = result.classifier
    assert clf is not None and clf.model == "precomputed"
    p = clf.predict_proba(x)
    assert ((p > 0.5) == y.astype(bool)).mean() > 0.9
    np.testing.assert_array_equal(clf.predict(x), (p > 0.5).astype(int))
    # save and load: the same scores
    clf.save(tmp_path / "clf")
    manifest = json.loads((tmp_path / "clf" / "labelmix_classifier.json").read_text())
    assert manifest["truncation_side"] == "left"  # long texts keep their end
    again = lm.Classifier.load(tmp_path / "clf")
    np.testing.assert_allclose(again.predict_proba(x), p, rtol=1e-6)
    with pytest.raises(ConfigError, match="precomputed features"):
        again.predict_proba(["item 1"])


def test_same_seed_same_result_and_seed_changes_it() -> None:
    texts, y, x = _toy(seed=3)
    task = lm.Task.from_records(texts, y, name="toy_seed")
    weak = lm.WeakLabels.from_array(task, y)
    kw = dict(
        budget=8,
        weak_cost=0.1,
        gold_frac=0.5,
        weak=weak,
        features=x,
        split_sizes=SIZES,
        schedule=FAST,
    )
    a = lm.fit("seq_sft", task, seed=0, **kw)
    b = lm.fit("seq_sft", task, seed=0, **kw)
    c = lm.fit("seq_sft", task, seed=1, **kw)
    assert a.record["test_correct"] == b.record["test_correct"]
    assert a.record["key"] != c.record["key"]


def test_task_from_dataset_and_dataframe() -> None:
    import datasets
    import pandas as pd

    texts, y, _ = _toy(40)
    from_ds = lm.Task.from_dataset(datasets.Dataset.from_dict({"t": texts, "y": y}), "t", "y")
    from_df = lm.Task.from_dataset(pd.DataFrame({"text": texts, "label": y}))
    assert from_ds.texts == from_df.texts == tuple(texts)
    assert from_ds.labels == tuple(int(v) for v in y)
    with pytest.raises(DataError, match="name them with text="):
        lm.Task.from_dataset(pd.DataFrame({"sentence": texts, "label": y}))


@pytest.mark.parametrize(
    ("texts", "labels", "match"),
    [
        (["a", "b"], [0], "2 texts but 1 labels"),
        (["a", "a", "b"], [0, 1, 1], "both labels 0 and 1"),
        (["a", "b"], [0, 2], "outside"),
        (["a", ""], [0, 1], "non-empty string"),
        (["a", "b"], ["yes", 1], "not 0 or 1"),
    ],
)
def test_bad_records_are_refused(texts: list[str], labels: list[object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        lm.Task.from_records(texts, labels)


def test_bad_arrays_and_names_are_refused() -> None:
    texts, y, x = _toy(40)
    task = lm.Task.from_records(texts, y, name="toy_bad")
    with pytest.raises(DataError, match="one per text"):
        lm.WeakLabels.from_array(task, y[:-1])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        lm.WeakLabels.from_array(task, y * 2.0)
    with pytest.raises(ConfigError, match="one row per text"):
        lm.fit(
            "weak_only",
            task,
            budget=2,
            weak=lm.WeakLabels.from_array(task, y),
            features=x[:-1],
            split_sizes=SIZES,
        )
    with pytest.raises(ConfigError, match="is a built-in method"):
        lm.fit(lm.Method("seq_sft", stages=[lm.StageSpec("gold")]), task, budget=2)
    with pytest.raises(ConfigError, match="no stages"):
        lm.fit(lm.Method("empty"), task, budget=2)


def test_import_labelmix_is_cheap_and_lists_its_api() -> None:
    import subprocess
    import sys

    code = "import labelmix, sys; print(labelmix.__all__); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, torch_loaded = out.stdout.strip().splitlines()
    assert "fit" in names and "Task" in names and "Classifier" in names
    assert torch_loaded == "False"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lm.nope  # noqa: B018


def test_every_public_name_is_listed_and_resolves() -> None:
    from labelmix import _EXPORTS

    assert sorted(_EXPORTS) == sorted(lm.__all__)  # nothing exported unlisted, or listed unexported
    for name in lm.__all__:
        assert getattr(lm, name) is not None
    assert lm.signal_check.__name__ == "signal_check" and lm.advise.__name__ == "advise"


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its library example (marked <!-- api-example -->)"
    return m.group(1)


def test_readme_library_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABELMIX_PROGRESS", os.environ.get("LABELMIX_PROGRESS", "0"))
    exec(compile(_readme_example(), "README.md", "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    acc = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))  # type: ignore[union-attr]
    assert acc > 0.55  # above chance on cities with MiniLM features and 8 gold labels
    assert (tmp_path / "my_classifier" / "labelmix_classifier.json").is_file()


def test_task_from_file_keeps_the_file_order(tmp_path: Path) -> None:
    import json

    rows = [{"text": f"row {i}", "label": int(i % 3 == 0)} for i in range(14)]  # imbalanced
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = lm.Task.from_file(path)
    assert task.texts == tuple(r["text"] for r in rows)
    assert task.labels == tuple(r["label"] for r in rows)


def test_weak_labels_of_another_task_are_refused() -> None:
    texts, y, x = _toy(40)
    a = lm.Task.from_records(texts, y, name="toy_a")
    b = lm.Task.from_records(texts[::-1], y[::-1], name="toy_b")
    with pytest.raises(ConfigError, match="follow the texts of task"):
        lm.fit("weak_only", b, budget=2, weak=lm.WeakLabels.from_array(a, y), features=x)


def test_features_with_a_text_prefix_are_refused_up_front() -> None:
    texts, y, x = _toy(40)
    task = lm.Task.from_records(texts, y, name="toy_prefix")
    weak = lm.WeakLabels.from_array(task, y)
    with pytest.raises(ConfigError, match="2-shot text prefix"):
        lm.fit("seq_sft_2shot", task, budget=8, weak=weak, features=x)
    with pytest.raises(ConfigError, match="method that trains"):
        lm.fit("few_shot", task, budget=8, weak=weak, features=x)


def test_custom_methods_one_stage_per_source_and_redefinable() -> None:
    texts, y, x = _toy(40)
    task = lm.Task.from_records(texts, y, name="toy_methods")
    twice = lm.Method("gold_twice", stages=[lm.StageSpec("gold"), lm.StageSpec("gold")])
    with pytest.raises(ConfigError, match="two stages of the same source"):
        lm.fit(twice, task, budget=8, features=x, weak=lm.WeakLabels.from_array(task, y))
    from labelmix.methods import get_method, register_method

    register_method(lm.Method("mine", stages=[lm.StageSpec("gold")]))
    register_method(lm.Method("mine", stages=[lm.StageSpec("weak")]))  # a notebook redefinition
    assert get_method("mine").sources == ("weak",)


def test_a_pickled_task_fits_after_re_registering() -> None:
    import pickle

    from labelmix.tasks import registry

    texts, y, x = _toy(400, seed=5)
    task = lm.Task.from_records(texts, y, name="toy_pickle")
    again = pickle.loads(pickle.dumps(task))
    registry._REGISTERED.pop(task.name)  # as in a fresh worker process
    r = lm.fit(
        "weak_only",
        again,
        budget=10,
        weak=lm.WeakLabels.from_array(again, y),
        features=x,
        split_sizes=SIZES,
        schedule=FAST,
    )
    assert r.task == task.name and r.n_weak == 100 and r.accuracy > 0.8
    assert r.record["model"] == "precomputed features"


def test_few_shot_through_fit_has_no_classifier_and_says_its_threshold(tiny_llama: Path) -> None:
    texts, y, _ = _toy(200, seed=7)
    task = lm.Task.from_records(texts, y, name="toy_fewshot")
    r = lm.fit(
        "few_shot",
        task,
        budget=8,
        model=str(tiny_llama),
        weak=lm.WeakLabels.from_array(task, y),
        split_sizes=SIZES,
    )
    assert r.classifier is None and r.n_gold == 8
    assert r.threshold.startswith("prior-matched")
    # any texts, including a numpy array of them, go to a trained classifier as texts
    fitted = lm.fit(
        "gold_only",
        task,
        budget=20,
        model=str(tiny_llama),
        weak=lm.WeakLabels.from_array(task, y),
        split_sizes=SIZES,
        schedule=FAST,
    )
    assert fitted.classifier is not None
    as_list = fitted.classifier.predict_proba(list(texts[:3]))
    np.testing.assert_allclose(fitted.classifier.predict_proba(np.array(texts[:3])), as_list)
