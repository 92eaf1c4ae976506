"""A sequence classifier with LoRA adapters (peft), target modules chosen per architecture.

Where the time goes, and what this module does about it:
- texts are tokenised once per stage (`encode` returns token ids), never again per step;
- an epoch's batches hold texts of similar length (`epoch_order`), so little padding is computed;
- evaluation runs under inference mode, sorted by length, in larger batches on a GPU;
- a training step never waits for the GPU: batches are built from host-side lengths, and a
  causal decoder gets no attention mask (its padding sits after every real token, where causal
  attention cannot see it; a mask would also make transformers check it on the host).
On a GPU the frozen base is held in bf16 and run under bf16 autocast, while the LoRA weights,
the classification head and so the optimizer state stay fp32; the head also computes in fp32,
so log-odds keep their precision (bf16 logits would tie in AUROC). On a CPU all is fp32."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelmix.errors import ConfigError
from labelmix.models.loading import (
    ModelRef,
    load_config,
    load_tokenizer,
    model_kind,
    model_load_error,
    pick_device,
)
from labelmix.seeds import torch_seeded

ADAPTER_DIR = "adapter"

# All attention and MLP projections for decoder families (the paper's choice), BERT-style
# query/value; anything else falls back to every linear layer.
LORA_TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "deberta-v2": ["query_proj", "value_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
}

# Batches of an epoch are grouped by length within chunks of this many batches: long enough to
# remove most padding, short enough that an epoch still mixes lengths from batch to batch.
GROUP_BATCHES = 50
EVAL_BATCH_CPU = 32
EVAL_BATCH_CUDA = 128  # inference keeps no activations: a GPU is only busy with large batches
PRECISIONS = ("fp32", "bf16-mixed")


def lora_targets(model_type: str) -> list[str] | str:
    return LORA_TARGETS.get(model_type, "all-linear")


@dataclass(frozen=True)
class TokenIds:
    """Texts tokenised once: right-padded ids (n, longest) and each text's length."""

    ids: np.ndarray  # int32, pad-filled after each text's own tokens
    lengths: np.ndarray  # int64, >= 1

    def __len__(self) -> int:
        return len(self.lengths)


def check_4bit_support(device: str) -> None:
    """4-bit base weights need bitsandbytes and a CUDA GPU: one clear line when either is absent,
    before any weights load."""
    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("the bitsandbytes package (`pip install bitsandbytes`)")
    if device != "cuda":
        missing.append(f"a CUDA GPU (this run's device is {device})")
    if missing:
        raise ConfigError(
            f"load_in_4bit needs {' and '.join(missing)}; install what is missing or turn "
            "load_in_4bit off"
        )


def _enable_checkpointing(model: Any) -> None:
    """Recompute activations in the backward pass, non-reentrant, with the embeddings' output
    requiring grad as peft recommends (the newer transformers call enables that itself)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # gradient_... is deprecated there
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        model.enable_input_require_grads()


def _fp32_head(module: torch.nn.Module, device_type: str) -> None:
    """Run a (tiny) classification head in fp32 outside autocast, on its fp32 weights."""
    module.float()
    inner = module.forward

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        with torch.autocast(device_type=device_type, enabled=False):
            return inner(x.float(), *args, **kwargs)

    module.forward = forward  # type: ignore[method-assign]


class LoraLearner:
    """LoRA SFT of a 2-way sequence classifier; its log-odds is logit[1] - logit[0]."""

    def __init__(
        self,
        ref: ModelRef,
        seed: int,
        rank: int = 8,
        max_length: int = 256,
        batch_size_eval: int | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
        adapter_dir: str | None = None,
        gradient_checkpointing: bool = False,
        load_in_4bit: bool = False,
        precision: str | None = None,
    ) -> None:
        """`precision`: "bf16-mixed" (bf16 base under autocast, fp32 trainable weights; the
        default on a GPU) or "fp32" (the default on a CPU, where bf16 is slower)."""
        from peft import LoraConfig, PeftModel, TaskType, get_peft_model
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils import ModulesToSaveWrapper
        from transformers import AutoModelForSequenceClassification

        self.device = pick_device(device)[0]
        if precision is None:
            precision = "bf16-mixed" if self.device == "cuda" else "fp32"
        if precision not in PRECISIONS:
            raise ConfigError(f"precision {precision!r} must be one of {', '.join(PRECISIONS)}")
        self.mixed = precision == "bf16-mixed"
        dtype = torch.bfloat16 if self.mixed else torch.float32
        if load_in_4bit:
            check_4bit_support(self.device)
        self.tokenizer = load_tokenizer(ref, trust_remote_code)
        self.tokenizer.padding_side = "right"
        config = load_config(ref, trust_remote_code)
        config.num_labels = 2
        config.pad_token_id = self.tokenizer.pad_token_id
        self.pad_id = int(self.tokenizer.pad_token_id)
        # Right padding after every real token: a causal decoder needs no mask (module doc).
        self.causal = model_kind(ref, trust_remote_code) == "decoder"
        kwargs: dict[str, Any] = {"config": config, "dtype": dtype}
        if self.device == "cuda":
            kwargs["attn_implementation"] = "sdpa"
        if load_in_4bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=torch.bfloat16,
                bnb_4bit_use_double_quant=True,
            )
            kwargs["device_map"] = {"": torch.cuda.current_device()}
        with torch_seeded(seed):  # head and LoRA initialisation
            try:
                base = AutoModelForSequenceClassification.from_pretrained(
                    ref.location, trust_remote_code=trust_remote_code, **kwargs
                )
            except Exception as e:  # missing or damaged weights, custom code
                raise model_load_error(ref, e) from None
            if load_in_4bit:
                from peft import prepare_model_for_kbit_training

                base = prepare_model_for_kbit_training(
                    base,
                    use_gradient_checkpointing=gradient_checkpointing,
                    gradient_checkpointing_kwargs={"use_reentrant": False},
                )
            elif gradient_checkpointing:
                _enable_checkpointing(base)
            lora = LoraConfig(
                task_type=TaskType.SEQ_CLS,
                r=rank,
                lora_alpha=2 * rank,
                lora_dropout=0.0,
                target_modules=lora_targets(config.model_type),
            )
            if adapter_dir is not None:  # a saved classifier: its trained adapter and head
                model = PeftModel.from_pretrained(base, adapter_dir)
            else:
                model = get_peft_model(base, lora)
        if not load_in_4bit:  # a quantised model is placed while it loads
            model = model.to(self.device)
        # Trainable weights (and so AdamW's state) in fp32 whatever the base's dtype.
        for p in model.parameters():
            if p.requires_grad and p.dtype != torch.float32:
                p.data = p.data.float()
        if self.mixed:
            for module in model.modules():
                if isinstance(module, ModulesToSaveWrapper):
                    _fp32_head(module, self.device)
                elif isinstance(module, BaseTunerLayer):
                    # autocast picks the matmul dtype: peft's cast of every LoRA input to the
                    # fp32 of the LoRA weights would only copy it (peft's documented switch)
                    module.cast_input_dtype_enabled = False
        self.model = model
        self.max_length = max_length
        self.load_in_4bit = load_in_4bit  # a saved adapter reloads on the same kind of base
        default_eval = EVAL_BATCH_CUDA if self.device == "cuda" else EVAL_BATCH_CPU
        self.batch_size_eval = batch_size_eval or default_eval

    # ---- tokens ----

    def encode(self, texts: Sequence[str]) -> TokenIds:
        """Tokenise once (truncated to max_length); forward and predict only index the ids."""
        texts = list(texts)
        rows: list[list[int]] = (
            self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
            if texts
            else []
        )
        lengths = np.array([max(1, len(r)) for r in rows], dtype=np.int64)
        ids = np.full((len(rows), int(lengths.max()) if len(rows) else 0), self.pad_id, np.int32)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        encoded = TokenIds(ids=ids, lengths=lengths)
        return encoded

    def _batch(self, encoded: TokenIds, idx: np.ndarray) -> dict[str, torch.Tensor]:
        """Inputs of one batch, padded to its own longest text; built on the host, copied without
        waiting."""
        lengths = encoded.lengths[idx]
        width = int(lengths.max())
        arrays = {"input_ids": encoded.ids[idx, :width].astype(np.int64)}
        if not self.causal:
            arrays["attention_mask"] = (np.arange(width)[None, :] < lengths[:, None]).astype(
                np.int64
            )
        out = {}
        for name, a in arrays.items():
            t = torch.from_numpy(a)
            if self.device == "cuda":
                t = t.pin_memory().to(self.device, non_blocking=True)
            out[name] = t
        return out

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.mixed:
            return torch.autocast(device_type=self.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _logodds(self, encoded: TokenIds, idx: np.ndarray) -> torch.Tensor:
        with self._autocast():
            logits = self.model(**self._batch(encoded, idx)).logits.float()
        return logits[:, 1] - logits[:, 0]

    # ---- the stage loop's interface (labelmix.train.loop.Learner) ----

    def forward(self, encoded: TokenIds, idx: np.ndarray) -> torch.Tensor:
        return self._logodds(encoded, np.asarray(idx))

    def predict(self, encoded: TokenIds) -> np.ndarray:
        """Log-odds of every text, in batches of similar length."""
        n = len(encoded)
        if n == 0:
            return np.zeros(0)
        order = np.argsort(encoded.lengths, kind="stable")
        parts: list[torch.Tensor] = []
        with torch.inference_mode():
            for s in range(0, n, self.batch_size_eval):
                parts.append(self._logodds(encoded, order[s : s + self.batch_size_eval]))
            values = torch.cat(parts).cpu().numpy().astype(np.float64)  # one wait, at the end
        out = np.empty(n, dtype=np.float64)
        out[order] = values
        return out

    def epoch_order(self, encoded: TokenIds, order: np.ndarray, batch: int) -> np.ndarray:
        """The epoch's examples (the same ones, the same trailing remainder left out) in batches
        of similar length: each chunk of GROUP_BATCHES batches is sorted by length and cut into
        batches, and the batches are shuffled, seeded from `order` so runs stay deterministic;
        the batch holding the longest text goes first, so memory runs out at once if it must."""
        order = np.asarray(order)
        if batch <= 1 or len(order) < 2 * batch:
            return order
        n_full = len(order) - len(order) % batch
        lengths = encoded.lengths
        chunk = batch * GROUP_BATCHES
        batches: list[np.ndarray] = []
        for s in range(0, n_full, chunk):
            part = order[s : min(s + chunk, n_full)]
            part = part[np.argsort(lengths[part], kind="stable")]
            batches += [part[i : i + batch] for i in range(0, len(part), batch)]
        rng = np.random.default_rng([int(i) for i in order[:32]])
        batches = [batches[i] for i in rng.permutation(len(batches))]
        longest = int(np.argmax([lengths[b].max() for b in batches]))
        batches.insert(0, batches.pop(longest))
        return np.concatenate([*batches, order[n_full:]])

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}

    def restore(self, state: dict[str, Any]) -> None:
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for n, v in state.items():
                params[n].copy_(v)

    def train_mode(self, on: bool) -> None:
        self.model.train(on)

    # ---- a saved classifier ----

    def save(self, folder: Path) -> dict[str, object]:
        """The adapter and the classification head (peft saves both for SEQ_CLS)."""
        self.model.save_pretrained(str(folder / ADAPTER_DIR))
        return {"max_length": self.max_length, "load_in_4bit": self.load_in_4bit}

    @classmethod
    def load(
        cls, folder: Path, ref: ModelRef, max_length: int = 256, load_in_4bit: bool = False
    ) -> LoraLearner:
        learner = cls(
            ref,
            seed=0,
            max_length=max_length,
            adapter_dir=str(folder / ADAPTER_DIR),
            load_in_4bit=load_in_4bit,
        )
        learner.train_mode(False)
        return learner
