"""The lora trainer's speed-ups keep its answers: token ids made once give the logits of texts
tokenised directly, length-grouped epochs hold the same examples with less padding, gradient
checkpointing gives the same gradients, a stage still learns, 4-bit fails clearly without its
needs, and the GPU check script runs on a CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from labelmix.config import RunConfig
from labelmix.errors import ConfigError
from labelmix.models.loading import resolve_model
from labelmix.models.lora import LoraLearner, check_4bit_support
from labelmix.run import make_learner
from labelmix.train.loop import epoch_order, train_stage
from labelmix.train.schedule import Schedule

ROOT = Path(__file__).resolve().parents[1]
WORDS = "good bad city river happy sad film song day night the a of very really".split()


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine OpenMP's
    threads wait for each other (one stage took 52 s with 2 threads, 1 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _texts(n: int, seed: int = 0, lo: int = 1, hi: int = 30) -> list[str]:
    """Texts of widely varied length (lo..hi words)."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(lo, hi + 1)))) for _ in range(n)]


def _padded(lengths: np.ndarray, order: np.ndarray, batch: int) -> int:
    full = len(order) - len(order) % batch
    return sum(int(lengths[order[s : s + batch]].max()) * batch for s in range(0, full, batch))


def _direct_logodds(learner: LoraLearner, texts: list[str]) -> np.ndarray:
    """The pre-change path: tokenise the texts as one padded batch, with its attention mask."""
    enc = learner.tokenizer(
        texts, return_tensors="pt", padding=True, truncation=True, max_length=learner.max_length
    )
    with torch.no_grad():
        logits = learner.model(**enc).logits.double()
    return (logits[:, 1] - logits[:, 0]).numpy()


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_bert"])
def test_token_ids_made_once_give_the_logits_of_texts_tokenised_directly(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    learner = LoraLearner(resolve_model(str(request.getfixturevalue(fixture))), seed=0, rank=4)
    learner.train_mode(False)
    texts = _texts(37)
    encoded = learner.encode(texts)
    assert len(encoded) == 37 and encoded.lengths.min() >= 1
    expected = _direct_logodds(learner, texts)
    # predict sorts by length and batches: the answers come back in the texts' order
    np.testing.assert_allclose(learner.predict(encoded), expected, atol=1e-5)
    idx = np.array([5, 0, 36, 12])
    with torch.no_grad():
        got = learner.forward(encoded, idx).double().numpy()
    np.testing.assert_allclose(got, expected[idx], atol=1e-5)
    assert learner.predict(learner.encode([])).shape == (0,)


def test_truncation_to_max_length_matches_the_tokenizer(tiny_llama: Path) -> None:
    learner = LoraLearner(resolve_model(str(tiny_llama)), seed=0, rank=4, max_length=6)
    learner.train_mode(False)
    texts = _texts(9, seed=1, lo=8, hi=20)
    encoded = learner.encode(texts)
    assert encoded.lengths.max() == 6
    np.testing.assert_allclose(learner.predict(encoded), _direct_logodds(learner, texts), atol=1e-5)


def test_epoch_order_is_the_same_examples_with_less_padding(tiny_llama: Path) -> None:
    learner = LoraLearner(resolve_model(str(tiny_llama)), seed=0, rank=4)
    train = learner.encode(_texts(203, seed=2))
    order = np.random.default_rng(0).permutation(203)
    batch = 8
    out = learner.epoch_order(train, order, batch)
    assert sorted(out.tolist()) == list(range(203))
    # the examples an epoch trains on (all but the trailing remainder) are the ones it had
    full = 203 - 203 % batch
    assert set(out[:full].tolist()) == set(order[:full].tolist())
    assert out[full:].tolist() == order[full:].tolist()
    # grouped by length: far less padding
    assert _padded(train.lengths, out, batch) < 0.8 * _padded(train.lengths, order, batch)
    # the longest batch first; deterministic for an order, different for another
    assert train.lengths[out[:batch]].max() == train.lengths[out[:full]].max()
    np.testing.assert_array_equal(learner.epoch_order(train, order, batch), out)
    other = learner.epoch_order(train, np.random.default_rng(1).permutation(203), batch)
    assert not np.array_equal(other, out)
    # the stage loop calls it with the training set it encoded
    np.testing.assert_array_equal(epoch_order(learner, train, order, batch), out)


def test_epoch_order_leaves_a_tiny_epoch_alone(tiny_llama: Path) -> None:
    learner = LoraLearner(resolve_model(str(tiny_llama)), seed=0, rank=4)
    encoded = learner.encode(_texts(10))
    small = np.random.default_rng(0).permutation(10)
    np.testing.assert_array_equal(learner.epoch_order(encoded, small, 8), small)  # one batch


def test_a_lora_stage_learns_a_separable_task(tiny_llama: Path) -> None:
    rng = np.random.default_rng(3)
    texts, labels = [], []
    for i in range(80):
        label = i % 2
        words = " ".join(rng.choice(WORDS[2:], size=int(rng.integers(2, 12))))
        texts.append(f"{words} {'good' if label else 'bad'}")
        labels.append(float(label))
    y = np.array(labels)
    learner = LoraLearner(resolve_model(str(tiny_llama)), seed=0, rank=4)
    schedule = Schedule(
        example_passes=480, batch_size=8, warmup_steps=2, lr=1e-2, max_steps=60, eval_every=20
    )
    report, _ = train_stage(
        learner, texts[:64], y[:64], texts[64:], y[64:], schedule, "xent", seed=0
    )
    assert report.steps == 60 and report.loss_last < report.loss_first
    accuracy = float(((learner.predict(learner.encode(texts)) > 0) == (y > 0.5)).mean())
    assert accuracy > 0.9, (accuracy, report)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_llama: Path) -> None:
    ref = resolve_model(str(tiny_llama))
    texts = _texts(6, seed=4)
    grads = []
    for checkpointing in (False, True):
        learner = LoraLearner(ref, seed=0, rank=4, gradient_checkpointing=checkpointing)
        assert learner.model.base_model.model.model.gradient_checkpointing == checkpointing
        learner.train_mode(True)
        out = learner.forward(learner.encode(texts), np.arange(6))
        (out**2).sum().backward()
        grads.append(
            {n: p.grad.clone() for n, p in learner.model.named_parameters() if p.grad is not None}
        )
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 0
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, atol=1e-6, rtol=1e-5)


def test_trainable_weights_are_fp32_and_survive_save_and_load(
    tiny_llama: Path, tmp_path: Path
) -> None:
    ref = resolve_model(str(tiny_llama))
    learner = LoraLearner(ref, seed=0, rank=4)
    assert all(p.dtype == torch.float32 for p in learner.parameters())
    with torch.no_grad():
        for p in learner.parameters():
            p.add_(0.05 * torch.randn_like(p))
    learner.train_mode(False)
    texts = _texts(12, seed=5)
    before = learner.predict(learner.encode(texts))
    meta = learner.save(tmp_path)
    loaded = LoraLearner.load(tmp_path, ref, **meta)  # type: ignore[arg-type]
    np.testing.assert_allclose(loaded.predict(loaded.encode(texts)), before, atol=1e-6)


def test_bf16_mixed_keeps_trainable_weights_and_log_odds_in_fp32(tiny_llama: Path) -> None:
    """The GPU default (bf16 base under autocast), run here on a CPU's autocast."""
    ref = resolve_model(str(tiny_llama))
    exact = LoraLearner(ref, seed=0, rank=4)
    mixed = LoraLearner(ref, seed=0, rank=4, precision="bf16-mixed")
    frozen = mixed.model.named_parameters()
    base = {p.dtype for n, p in frozen if not p.requires_grad and "original_module" not in n}
    assert base == {torch.bfloat16}  # all but the head's frozen original (fp32 like the head)
    assert {p.dtype for p in mixed.parameters()} == {torch.float32}
    lora_layers = [m for m in mixed.model.modules() if hasattr(m, "lora_A")]
    assert lora_layers and not any(m.cast_input_dtype_enabled for m in lora_layers)
    texts = _texts(16, seed=6)
    exact.train_mode(False)
    mixed.train_mode(False)
    want = exact.predict(exact.encode(texts))
    got = mixed.predict(mixed.encode(texts))
    np.testing.assert_allclose(got, want, atol=0.05)
    # the head computes in fp32: log-odds are not rounded to bf16's grid (which ties AUROC)
    assert (torch.tensor(got).bfloat16().double().numpy() != got).any()
    mixed.train_mode(True)
    out = mixed.forward(mixed.encode(texts), np.arange(8))
    assert out.dtype == torch.float32
    (out**2).mean().backward()
    grads = [p.grad for p in mixed.parameters()]
    assert all(g is not None and g.dtype == torch.float32 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    with pytest.raises(ConfigError, match="precision"):
        LoraLearner(ref, seed=0, precision="fp16")


def test_make_learner_passes_the_lora_options(tiny_llama: Path) -> None:
    cfg = RunConfig(
        trainer="lora",
        model=str(tiny_llama),
        weak_model=str(tiny_llama),
        gradient_checkpointing=True,
    )
    learner = make_learner(cfg, [])
    assert isinstance(learner, LoraLearner)
    assert learner.model.base_model.model.model.gradient_checkpointing


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_in_4bit_without_its_needs_is_one_clear_config_error(tiny_llama: Path) -> None:
    cfg = RunConfig(
        trainer="lora", model=str(tiny_llama), weak_model=str(tiny_llama), load_in_4bit=True
    )
    with pytest.raises(ConfigError) as info:
        make_learner(cfg, [])
    message = str(info.value)
    assert "\n" not in message and message.startswith("load_in_4bit needs")
    assert "a CUDA GPU" in message
    if not _has_bitsandbytes():
        assert "pip install bitsandbytes" in message
        with pytest.raises(ConfigError) as on_gpu:  # a GPU without the package: only that
            check_4bit_support("cuda")
        assert "pip install bitsandbytes" in str(on_gpu.value)
        assert "CUDA" not in str(on_gpu.value)


def _has_bitsandbytes() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


def test_gpu_check_runs_tiny_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "LABELMIX_CACHE_DIR": str(tmp_path / "cache"), "LABELMIX_PROGRESS": "0"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--tiny", "--device", "cpu"]
    cmd += ["--threads", "1", "--peak-flops", "1e11", "--budget-s", "100", "--json", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    sections = record["sections"]
    failed = {k: v.get("error") for k, v in sections.items() if not v["ok"]}
    assert not failed, failed
    for name in ("labelmix", "hf_trainer", "labelmix_gc"):
        assert sections[name]["tokens_per_s"] > 0
        assert sections[name]["mfu"] > 0
    assert sections["labelmix"]["padding_share"] < sections["hf_trainer"]["padding_share"]
    assert sections["e2e"]["checks"] and all(sections["e2e"]["checks"].values())
    four = sections["4bit"]
    assert four["trained"] or four["config_error"].startswith("load_in_4bit needs")
    assert record["summary"]["ratio_labelmix_vs_hf"] > 0
    assert "4 N + 2 N_trainable" in record["mfu_formula"]


def test_throughput_benchmark_runs_tiny(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import lora_throughput
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = tmp_path / "t.json"
    args = ["--tiny", "--steps", "4", "--rounds", "1", "--device", "cpu", "--threads", "1"]
    args += ["--json", str(out)]
    assert lora_throughput.main(args) == 0
    record = json.loads(out.read_text())
    assert record["labelmix_examples_per_s"] > 0 and record["hf_trainer_examples_per_s"] > 0
    assert record["padding_share_grouped"] <= record["padding_share_random"]
