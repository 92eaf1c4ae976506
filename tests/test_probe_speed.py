"""The probe's fast path and the sweep's prefetch: each must compute what the slow, obvious way
computes (torch's AdamW and autograd; features extracted run by run), only cheaper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelmix import run as run_module
from labelmix.config import RunConfig
from labelmix.metrics import _resampled_auroc, auroc, bootstrap_ci
from labelmix.models.features import FeatureExtractor
from labelmix.prefetch import prefetch
from labelmix.run import STANDARDIZE_N, cached_splits, execute_run, inputs_featurized
from labelmix.seeds import run_rng
from labelmix.tasks.splits import SplitSizes
from labelmix.train.losses import logconf, xent
from labelmix.train.probe import FlatAdamW, ProbeLearner
from labelmix.train.schedule import Schedule

SMALL = SplitSizes(weak_train=60, pool=600, test=100, select=60)
FAST = Schedule(example_passes=300, batch_size=16, warmup_steps=2, lr=1e-2, max_steps=40)


class ArrayFeatures:
    layer = None

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def features(self, texts, desc=None):  # texts are row numbers, as strings
        return self.x[[int(t) for t in texts]]


def test_flat_adamw_matches_torch_adamw_step_for_step():
    rng = np.random.default_rng(0)
    p_ours = torch.as_tensor(rng.normal(size=7), dtype=torch.float32)
    p_torch = torch.nn.Parameter(p_ours.clone())
    ours = FlatAdamW(p_ours, lr=3e-3, betas=(0.9, 0.95), weight_decay=0.01)
    ref = torch.optim.AdamW([p_torch], lr=3e-3, betas=(0.9, 0.95), weight_decay=0.01)
    for step in range(50):
        lr = 3e-3 * (1 - step / 50)
        ours.param_groups[0]["lr"] = lr
        ref.param_groups[0]["lr"] = lr
        g = torch.as_tensor(rng.normal(size=7), dtype=torch.float32)
        ours.step(g)
        p_torch.grad = g.clone()
        ref.step()
    assert torch.allclose(p_ours, p_torch.detach(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", ["xent", "logconf"])
@pytest.mark.parametrize("anchor", [0.0, 0.5])
def test_probe_step_follows_the_autograd_gradient(loss, anchor):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    learner = ProbeLearner(ArrayFeatures(x), [str(i) for i in range(40)], seed=0)
    learner.theta.copy_(torch.as_tensor(rng.normal(size=6), dtype=torch.float32))
    start = [learner.theta.clone() + 0.1]
    enc = learner.encode([str(i) for i in range(40)])
    idx = np.arange(0, 40, 3)
    y = torch.as_tensor(rng.random(len(idx)), dtype=torch.float32)
    aux = 0.3 if loss == "logconf" else None

    theta = learner.theta.clone().requires_grad_(True)
    logits = enc[torch.as_tensor(idx)] @ theta
    value = xent(logits, y) if aux is None else logconf(logits, y, aux)
    value = value + 0.5 * anchor * ((theta - start[0]) ** 2).sum()
    value.backward()

    class Capture:
        param_groups = [{"lr": 0.0}]

        def step(self, grad):
            self.grad = grad.clone()

    opt = Capture()
    ours = learner.train_step(enc, idx, y, aux, anchor, start, opt)
    assert torch.allclose(ours, value.detach(), atol=1e-6)
    assert torch.allclose(opt.grad, theta.grad, atol=1e-6)


def test_saved_probe_predicts_as_trained(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    learner = ProbeLearner(ArrayFeatures(x), [str(i) for i in range(30)], seed=0)
    learner.theta.copy_(torch.arange(5, dtype=torch.float32) / 5)
    learner.save(tmp_path)
    again = ProbeLearner.load(tmp_path, ArrayFeatures(x))
    texts = [str(i) for i in range(30)]
    assert np.allclose(learner.predict(learner.encode(texts)), again.predict(again.encode(texts)))


def test_vectorised_bootstrap_auroc_equals_the_loop_with_ties_and_one_class_resamples():
    rng = np.random.default_rng(3)
    for n in (3, 12, 200):
        y = rng.random(n) < 0.3
        s = np.round(rng.normal(size=n), 1)
        idx = rng.integers(0, n, size=(300, n))
        loop = np.array([auroc(y[i], s[i]) for i in idx])
        fast = _resampled_auroc(y, s, idx)
        assert np.array_equal(np.isnan(loop), np.isnan(fast))
        assert np.allclose(loop[~np.isnan(loop)], fast[~np.isnan(fast)], atol=1e-12)
    lo, hi = bootstrap_ci(y.astype(float), s, "auroc", seed=0)
    assert lo <= auroc(y, s) <= hi


def _cfg(tiny_llama, **kw) -> RunConfig:
    base = dict(
        task="cities",
        model=str(tiny_llama),
        weak_model=str(tiny_llama),
        split_sizes=SMALL,
        schedule=FAST,
        budget=8.0,
        gold_frac=0.5,
    )
    return RunConfig(**(base | kw))


def test_inputs_featurized_follow_the_runs_draw(tiny_llama):
    random_run = _cfg(tiny_llama, method="seq_sft", budget=1000.0)  # 100 weak + 500 gold: all
    small = _cfg(tiny_llama, method="weak_only", gold_frac=None, budget=2.0)  # 20 weak
    active = _cfg(tiny_llama, method="seq_sft_active")
    prefixed = _cfg(tiny_llama, method="seq_sft_2shot", budget=16.0)
    splits = cached_splits("cities", None, SMALL, 0)
    order = run_rng(0).permutation(len(splits.pool))
    head = {splits.pool[i].text for i in order[:STANDARDIZE_N]}
    fixed = {e.text for e in splits.select + splits.test}
    assert set(inputs_featurized(small, splits)) == fixed | head
    assert set(inputs_featurized(active, splits)) == fixed | {e.text for e in splits.pool}
    assert set(inputs_featurized(random_run, splits)) == fixed | {e.text for e in splits.pool}
    assert inputs_featurized(prefixed, splits) == []


def _fresh_caches(monkeypatch, folder) -> None:
    monkeypatch.setenv("LABELMIX_CACHE_DIR", str(folder))
    for fn in (run_module._splits, run_module._weak_labeler, run_module._extractor):
        fn.cache_clear()


def test_after_prefetch_runs_extract_nothing_and_give_the_same_results(
    tiny_llama, tmp_path, monkeypatch
):
    tiny = SplitSizes(weak_train=40, pool=120, test=60, select=40)
    runs = [
        _cfg(tiny_llama, method="weak_only", gold_frac=None, budget=4.0, split_sizes=tiny),
        _cfg(tiny_llama, method="seq_sft_active", split_sizes=tiny),
        _cfg(tiny_llama, method="seq_sft", seed=1, split_sizes=tiny),
    ]
    _fresh_caches(monkeypatch, tmp_path / "plain")
    plain = [execute_run(c) for c in runs]

    _fresh_caches(monkeypatch, tmp_path / "prefetched")
    report = prefetch(runs)
    assert report.data_draws == 2 and report.strong_texts > 0

    def refuse(self, texts, desc):
        raise AssertionError(f"{len(texts)} inputs extracted after the prefetch")

    monkeypatch.setattr(FeatureExtractor, "_compute", refuse)
    _fresh_caches(monkeypatch, tmp_path / "prefetched")  # the runs read the disk caches
    again = [execute_run(c) for c in runs]
    for a, b in zip(plain, again, strict=True):
        assert a["accuracy"] == b["accuracy"]
        assert a["test_correct"] == b["test_correct"]
        assert a["selection_accuracy"] == b["selection_accuracy"]
