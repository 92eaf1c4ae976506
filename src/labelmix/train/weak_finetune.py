"""The paper's weak model: a small pretrained model with every weight trained as a 2-way sequence
classifier on `weak_train`, early-stopped on a held-out part of it.

It runs through the shared stage loop (labelmix.train.loop: AdamW, warm-up then cosine decay,
early stopping on validation AUROC with the best weights restored), so only the learner is new
here. Slow on a CPU (a few minutes for a thousand examples with MiniLM); the caller caches its
labels on disk (labelmix.train.weak_labeler)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
from labelmix.tasks.base import Example
from labelmix.train.loop import StageReport, train_stage
from labelmix.train.schedule import Schedule


@dataclass(frozen=True)
class FinetuneSettings:
    """The recipe (part of the weak-label cache key): the usual full-finetuning settings for a
    BERT-sized model, a few epochs, evaluated twice an epoch."""

    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    warmup_frac: float = 0.1
    weight_decay: float = 0.01

    def schedule(self, n_train: int) -> Schedule:
        batch = min(self.batch_size, n_train)
        steps_per_epoch = max(1, math.ceil(n_train / batch))
        total = steps_per_epoch * self.epochs
        return Schedule(
            example_passes=self.epochs * n_train,
            batch_size=self.batch_size,
            warmup_steps=int(self.warmup_frac * total),
            lr=self.lr,
            weight_decay=self.weight_decay,
            beta2=0.999,
            eval_every=max(1, steps_per_epoch // 2),
        )


class FinetuneLearner:
    """Every weight of a sequence classifier trained; its log-odds is logit[1] - logit[0]. Texts
    are tokenised once (`encode`), each batch padded to its own longest text."""

    def __init__(
        self, ref: ModelRef, seed: int, max_length: int = 128, batch_size_eval: int = 64
    ) -> None:
        from transformers import AutoModelForSequenceClassification

        self.device = pick_device()[0]
        self.tokenizer = load_tokenizer(ref)
        config = load_config(ref)
        config.num_labels = 2
        config.pad_token_id = self.tokenizer.pad_token_id
        with torch_seeded(seed):  # the new classification head
            try:
                model = AutoModelForSequenceClassification.from_pretrained(
                    ref.location, config=config, dtype=torch.float32, trust_remote_code=False
                )
            except Exception as e:  # missing or damaged weights, custom code
                raise model_load_error(ref, e) from None
        self.model = model.to(self.device)
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.max_length = max_length
        self.batch_size_eval = batch_size_eval

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return [row if row else [self.pad_id] for row in ids["input_ids"]]

    def _batch(self, encoded: list[list[int]], idx: np.ndarray) -> dict[str, torch.Tensor]:
        rows = [encoded[int(i)] for i in idx]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def forward(self, encoded: list[list[int]], idx: np.ndarray) -> torch.Tensor:
        logits = self.model(**self._batch(encoded, idx)).logits.float()
        return logits[:, 1] - logits[:, 0]

    def predict(self, encoded: list[list[int]]) -> np.ndarray:
        out = np.zeros(len(encoded), dtype=np.float64)
        order = np.argsort([len(r) for r in encoded], kind="stable")  # little padding
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            for s in range(0, len(order), self.batch_size_eval):
                idx = order[s : s + self.batch_size_eval]
                out[idx] = self.forward(encoded, idx).cpu().numpy()
        self.model.train(was_training)
        return out

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def train_mode(self, on: bool) -> None:
        self.model.train(on)


def finetune_logits(
    ref: ModelRef,
    fit: Sequence[Example],
    val: Sequence[Example],
    texts: Sequence[str],
    seed: int,
    settings: FinetuneSettings,
) -> tuple[np.ndarray, np.ndarray, StageReport]:
    """Train on `fit`, early-stop on `val` (gold labels of weak_train), and return the trained
    model's log-odds for `val` (for calibration) and for `texts`, with the stage's report."""
    learner = FinetuneLearner(ref, seed, max_length=settings.max_length)
    y_val = np.array([e.label for e in val], np.float32)
    report, _ = train_stage(
        learner,
        [e.text for e in fit],
        np.array([e.label for e in fit], np.float32),
        [e.text for e in val],
        y_val,
        settings.schedule(len(fit)),
        "xent",
        seed,
        desc="weak labeler (finetune)",
    )
    val_logits = learner.predict(learner.encode([e.text for e in val]))
    logits = learner.predict(learner.encode(texts))
    return val_logits, logits, report
