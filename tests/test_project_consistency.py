"""A project driven by a scripted annotator trains the classifier of the simulated run it mirrors.

The simulation (execute_run / run_config) splits a real dataset, draws its pool's order with the
run seed, buys n_weak weak labels and then n_gold gold labels in that order (gold chosen by the
model's uncertainty for seq_sft_active), and trains. The project gets the same pool as its
unlabelled items and the same seed, so its order is the simulation's; it buys the same
allocation in the same order of sources, from a scripted weak source that answers what the
simulation's weak labeler answers and a scripted gold annotator that answers the dataset's
labels through a batch file and an import; then it trains. Same items, same labels, same seed:
the classifier must be the same, to float rounding (features extracted in another batch or with
another thread count differ in the last bits)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from labelmix.config import RunConfig
from labelmix.project import Project
from labelmix.run import cached_splits, cached_weak_labeler, run_config
from labelmix.tasks.base import text_id
from labelmix.tasks.splits import SplitSizes
from labelmix.train.schedule import Schedule

DATA_DIR = (
    Path(os.environ["LABELMIX_DATA_DIR"])
    if os.environ.get("LABELMIX_DATA_DIR")
    else Path(__file__).resolve().parents[2] / "shared" / "data"
)
if not (DATA_DIR / "nyu-mll__glue" / "cola").is_dir():
    pytest.skip(
        f"CoLA of ../shared/data not found under {DATA_DIR} (set LABELMIX_DATA_DIR; CI has it)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.shared_data
FAST = Schedule(example_passes=300, batch_size=16, warmup_steps=2, lr=1e-2, max_steps=40)


@pytest.mark.parametrize("method", ["seq_sft", "seq_sft_active"])
def test_a_scripted_project_trains_the_simulated_runs_classifier(
    tmp_path: Path, tiny_llama: Path, tiny_bert: Path, method: str
) -> None:
    cfg = RunConfig(
        task="cola",
        data_dir=str(DATA_DIR),
        method=method,
        budget=20.0,
        gold_frac=0.5,
        weak_cost=0.1,
        model=str(tiny_llama),
        weak_model=str(tiny_bert),
        split_sizes=SplitSizes(weak_train=60, pool=200, test=100, select=40),
        schedule=FAST,
        seed=3,
    )
    before = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # the weak labeler's tiny steps: seconds, not half a minute, on a busy CPU
    try:
        simulated = run_config(cfg)
    finally:
        torch.set_num_threads(before)
    splits = cached_splits(cfg.task, cfg.data_dir, cfg.split_sizes, cfg.split_seed)
    weak = cached_weak_labeler(
        cfg.task, cfg.data_dir, cfg.split_sizes, cfg.split_seed, cfg.weak_model
    )
    gold_truth = {e.id: e.label for e in splits.pool}  # the dataset's labels: the annotator
    items = tmp_path / "unlabelled.jsonl"
    items.write_text("".join(json.dumps({"text": e.text}) + "\n" for e in splits.pool))
    alloc = cfg.allocation()
    assert alloc.n_weak + alloc.n_gold < len(splits.pool)  # the simulation bought it all

    project = Project.init(
        tmp_path / "proj", items, budget=cfg.budget, weak_cost=cfg.weak_cost, seed=cfg.seed
    )

    def scripted_weak_source(texts: list[str]) -> np.ndarray:
        return weak.peek([text_id(t) for t in texts])

    project.buy_machine_weak_labels(alloc.n_weak, scripted_weak_source)
    if method == "seq_sft_active":  # the model after the weak stage picks the gold items
        project.train("weak_only", model=cfg.model, schedule=FAST, folds=0)
        batch = project.next_batch("gold", alloc.n_gold, strategy="uncertainty")
    else:
        batch = project.next_batch("gold", alloc.n_gold)
    with batch.files[0].open(newline="") as f:
        rows = list(csv.DictReader(f))
    answered = tmp_path / "answered.csv"
    answered.write_text("id,label\n" + "".join(f"{r['id']},{gold_truth[r['id']]}\n" for r in rows))
    assert project.import_labels(answered).new == alloc.n_gold
    trained = project.train(method, model=cfg.model, schedule=FAST)

    texts = [e.text for e in splits.test + splits.select]
    expected = simulated.classifier.logits(texts)
    np.testing.assert_allclose(trained.classifier.logits(texts), expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(project.classifier().logits(texts), expected, rtol=0, atol=1e-4)
    keys = ("source", "n_train", "n_val", "steps", "best_step")
    assert [{k: s[k] for k in keys} for s in trained.stages] == [
        {k: s[k] for k in keys} for s in simulated.record["stages"]
    ]
    for ours, theirs in zip(trained.stages, simulated.record["stages"], strict=True):
        np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=0, atol=1e-4)
    status = project.status()
    assert status.money["spent"] == round(simulated.record["spent"] * 1e6)
    assert (status.counts["weak"], status.counts["gold"]) == (
        simulated.record["n_weak"],
        simulated.record["n_gold"],
    )
    assert project.check() == []
