"""The stage loop shared by every trainer: AdamW, warm-up then cosine decay, seeded batches,
early stopping on validation AUROC with the best weights restored.

Stage guard. A later stage (one that starts from an earlier stage's weights) must not undo that
stage on the strength of a few labels. Two rules, both settings of the Schedule:
- its checkpoints, the starting weights among them, are scored on the union of its own
  validation labels and those of every earlier stage (`guard="union"`), so a gold stage too
  small to hold any validation labels is still checked, against the earlier weak ones;
- an L2 pull toward the starting weights of strength anchor / n (L2-SP), so n labels move the
  weights about as far as n labels justify."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from labelmix.errors import TrainingError
from labelmix.metrics import auroc
from labelmix.progress import progress
from labelmix.seeds import torch_seeded
from labelmix.train.losses import logconf, logconf_weight, xent
from labelmix.train.schedule import Schedule


class Learner(Protocol):
    """What a trainer must offer the loop. `encode` turns texts into whatever `forward` indexes
    (features for the probe, token ids for lora)."""

    def encode(self, texts: Sequence[str]) -> Any: ...

    def forward(self, encoded: Any, idx: np.ndarray) -> torch.Tensor: ...

    def predict(self, encoded: Any) -> np.ndarray: ...

    def parameters(self) -> list[torch.nn.Parameter]: ...

    def snapshot(self) -> dict[str, torch.Tensor]: ...

    def restore(self, state: dict[str, torch.Tensor]) -> None: ...

    def train_mode(self, on: bool) -> None: ...


@dataclass
class StageReport:
    n_train: int
    n_val: int
    n_scored: int  # validation labels that scored the checkpoints (the stage's own + earlier)
    steps: int
    best_step: int
    best_val_auroc: float | None
    early_stopping: str
    loss_first: float | None
    loss_last: float | None
    losses: list[float] = field(default_factory=list)  # mean loss per eval window
    time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0 at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress_ = min(1.0, (step - warmup) / span)
    return 0.5 * (1.0 + math.cos(math.pi * progress_))


def make_optimizer(params: list[torch.nn.Parameter], schedule: Schedule) -> torch.optim.AdamW:
    return torch.optim.AdamW(
        params, lr=schedule.lr, betas=(0.9, schedule.beta2), weight_decay=schedule.weight_decay
    )


def _val_score(labels: np.ndarray, logits: np.ndarray) -> tuple[float, str]:
    """AUROC on the validation split; with a single class there, the negative cross-entropy."""
    a = auroc(labels, logits)
    if not math.isnan(a):
        return a, "auroc"
    t = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.float64)
    return -float(xent(t, y)), "neg_xent"


def _guarded_score(
    labels: np.ndarray, logits: np.ndarray, n_own: int, earlier_weight: float | None
) -> tuple[float, str]:
    """The stage guard's score: AUROC on the stage's own validation labels (the first `n_own`)
    and on the earlier stages' (the rest), averaged with weights n_own and `earlier_weight`:
    the earlier labels, however many, count as `earlier_weight` of the stage's own, so they
    decide for a stage too small to hold its own and step aside for one that holds many.
    `earlier_weight` None: one AUROC over all of them pooled."""
    if earlier_weight is None or n_own == len(labels):
        return _val_score(labels, logits)
    a_own = auroc(labels[:n_own], logits[:n_own]) if n_own else float("nan")
    a_early = auroc(labels[n_own:], logits[n_own:])
    w_own = 0.0 if math.isnan(a_own) else float(n_own)
    w_early = 0.0 if math.isnan(a_early) else float(earlier_weight)
    if w_own + w_early == 0:
        return _val_score(labels, logits)
    own_part = w_own * a_own if w_own else 0.0
    early_part = w_early * a_early if w_early else 0.0
    return (own_part + early_part) / (w_own + w_early), "auroc"


def train_stage(
    learner: Learner,
    train_texts: Sequence[str],
    train_targets: np.ndarray,
    val_texts: Sequence[str],
    val_targets: np.ndarray,
    schedule: Schedule,
    loss: str,
    seed: int,
    optimizer: torch.optim.AdamW | None = None,
    desc: str = "stage",
    start_competes: bool = False,
    earlier_val: tuple[Sequence[str], np.ndarray] | None = None,
) -> tuple[StageReport, torch.optim.AdamW]:
    """Train on (texts, soft targets); evaluate every `eval_every` steps on the validation split
    (hard targets at 0.5 for AUROC) and keep the best weights; with `start_competes` (a later
    stage) the weights the stage started from are a candidate too, the stage guard applies
    (module docstring) and `earlier_val` holds the earlier stages' validation labels. Returns
    the optimizer so a caller can carry its state into the next stage."""
    with torch_seeded(seed):  # dropout and any other torch randomness of the stage
        t0 = time.perf_counter()
        n = len(train_texts)
        if n == 0:
            raise ValueError("a stage needs at least one training example")
        gen = np.random.default_rng(seed)
        enc_train = learner.encode(train_texts)
        val_texts = list(val_texts)
        n_val_own = len(val_texts)
        val_targets = np.asarray(val_targets, dtype=float)
        if start_competes and schedule.guard == "union" and earlier_val is not None:
            val_texts = val_texts + list(earlier_val[0])
            val_targets = np.concatenate([val_targets, np.asarray(earlier_val[1], dtype=float)])
        enc_val = learner.encode(val_texts) if len(val_texts) else None
        targets = torch.as_tensor(np.asarray(train_targets, dtype=np.float32))
        val_hard = (val_targets > 0.5).astype(float)

        def score(logits: np.ndarray) -> tuple[float, str]:
            return _guarded_score(val_hard, logits, n_val_own, schedule.guard_weight)

        anchor = schedule.anchor / n if start_competes else 0.0
        start = [p.detach().clone() for p in learner.parameters()] if anchor > 0 else []
        total = schedule.steps_for(n)
        batch = min(schedule.batch_size, n)
        eval_every = schedule.eval_every or max(1, total // 20)
        if optimizer is None:
            optimizer = make_optimizer(learner.parameters(), schedule)
        else:
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr
                group["initial_lr"] = schedule.lr

        best_score, best_step, best_state, kind = -math.inf, 0, None, "none"
        losses: list[float] = []
        window: list[float] = []
        order = gen.permutation(n)
        cursor = 0
        if enc_val is not None and start_competes:
            # After an earlier stage the starting weights compete too: this stage may only hurt.
            learner.train_mode(False)
            best_score, kind = score(learner.predict(enc_val))
            best_state = learner.snapshot()
        learner.train_mode(True)
        with progress(total=total, desc=desc) as bar:
            for step in range(total):
                if cursor + batch > n:
                    order = gen.permutation(n)
                    cursor = 0
                idx = order[cursor : cursor + batch]
                cursor += batch
                for group in optimizer.param_groups:
                    group["lr"] = schedule.lr * lr_factor(step, schedule.warmup_steps, total)
                logits = learner.forward(enc_train, idx)
                y = targets[idx].to(logits.device)
                if loss == "logconf":
                    value = logconf(logits, y, logconf_weight(step, schedule.logconf_warmup))
                else:
                    value = xent(logits, y)
                if anchor > 0:
                    pull = sum(
                        ((p - p0) ** 2).sum()
                        for p, p0 in zip(learner.parameters(), start, strict=True)
                    )
                    value = value + 0.5 * anchor * pull
                if not torch.isfinite(value.detach()):
                    raise TrainingError(
                        f"{desc}: the loss became {float(value.detach())} at step {step + 1} of "
                        f"{total} (learning rate {schedule.lr:g}): training diverged; lower the "
                        "learning rate"
                    )
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()
                window.append(float(value.detach()))
                bar.update(1)
                last = step == total - 1
                if (step + 1) % eval_every == 0 or last:
                    losses.append(float(np.mean(window)))
                    window = []
                    if enc_val is not None:
                        learner.train_mode(False)
                        value_now, kind = score(learner.predict(enc_val))
                        learner.train_mode(True)
                        if value_now > best_score:
                            best_score, best_step, best_state = (
                                value_now,
                                step + 1,
                                learner.snapshot(),
                            )
        learner.train_mode(False)
        if best_state is not None:
            learner.restore(best_state)
        else:
            best_step = total
        report = StageReport(
            n_train=n,
            n_val=n_val_own,
            n_scored=len(val_texts),
            steps=total,
            best_step=best_step,
            best_val_auroc=best_score if kind == "auroc" else None,
            early_stopping=kind if enc_val is not None else "none (no validation labels)",
            loss_first=losses[0] if losses else None,
            loss_last=losses[-1] if losses else None,
            losses=[round(v, 5) for v in losses],
            time_s=time.perf_counter() - t0,
        )
        return report, optimizer
