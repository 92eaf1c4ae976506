"""A sequence classifier with LoRA adapters (peft), target modules chosen per architecture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelmix.models.loading import (
    ModelRef,
    load_config,
    load_tokenizer,
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


def lora_targets(model_type: str) -> list[str] | str:
    return LORA_TARGETS.get(model_type, "all-linear")


class LoraLearner:
    """LoRA SFT of a 2-way sequence classifier; its log-odds is logit[1] - logit[0]."""

    def __init__(
        self,
        ref: ModelRef,
        seed: int,
        rank: int = 8,
        max_length: int = 256,
        batch_size_eval: int = 32,
        device: str | None = None,
        trust_remote_code: bool = False,
        adapter_dir: str | None = None,
    ) -> None:
        from peft import LoraConfig, PeftModel, TaskType, get_peft_model
        from transformers import AutoModelForSequenceClassification

        self.device, dtype = pick_device(device)
        self.tokenizer = load_tokenizer(ref, trust_remote_code)
        self.tokenizer.padding_side = "right"
        config = load_config(ref, trust_remote_code)
        config.num_labels = 2
        config.pad_token_id = self.tokenizer.pad_token_id
        with torch_seeded(seed):  # head and LoRA initialisation
            try:
                base = AutoModelForSequenceClassification.from_pretrained(
                    ref.location, config=config, dtype=dtype, trust_remote_code=trust_remote_code
                )
            except Exception as e:  # missing or damaged weights, custom code
                raise model_load_error(ref, e) from None
            lora = LoraConfig(
                task_type=TaskType.SEQ_CLS,
                r=rank,
                lora_alpha=2 * rank,
                lora_dropout=0.0,
                target_modules=lora_targets(config.model_type),
            )
            if adapter_dir is not None:  # a saved classifier: its trained adapter and head
                self.model = PeftModel.from_pretrained(base, adapter_dir).to(self.device)
            else:
                self.model = get_peft_model(base, lora).to(self.device)
        self.max_length = max_length
        self.batch_size_eval = batch_size_eval

    def encode(self, texts: Sequence[str]) -> list[str]:
        return list(texts)

    def _logodds(self, texts: list[str]) -> torch.Tensor:
        enc = self.tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
        ).to(self.device)
        logits = self.model(**enc).logits.float()
        return logits[:, 1] - logits[:, 0]

    def forward(self, encoded: list[str], idx: np.ndarray) -> torch.Tensor:
        return self._logodds([encoded[i] for i in idx])

    def predict(self, encoded: list[str]) -> np.ndarray:
        out: list[np.ndarray] = []
        with torch.no_grad():
            for s in range(0, len(encoded), self.batch_size_eval):
                out.append(self._logodds(encoded[s : s + self.batch_size_eval]).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

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

    def save(self, folder: Path) -> dict[str, object]:
        """The adapter and the classification head (peft saves both for SEQ_CLS)."""
        self.model.save_pretrained(str(folder / ADAPTER_DIR))
        return {"max_length": self.max_length}

    @classmethod
    def load(cls, folder: Path, ref: ModelRef, max_length: int = 256) -> LoraLearner:
        learner = cls(ref, seed=0, max_length=max_length, adapter_dir=str(folder / ADAPTER_DIR))
        learner.train_mode(False)
        return learner
