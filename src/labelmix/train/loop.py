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

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class SteppedLearner(Learner, Protocol):
    """A learner that takes its own optimisation step (gradient written out, its own optimizer)
    instead of autograd + torch.optim: the probe, whose head is too small for either to pay."""

    def make_optimizer(self, lr: float, beta2: float, weight_decay: float) -> Any: ...

    def train_step(
        self,
        encoded: Any,
        idx: np.ndarray,
        targets: torch.Tensor,
        aux_weight: float | None,
        anchor: float,
        start: list[torch.Tensor],
        optimizer: Any,
    ) -> torch.Tensor: ...


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `n` for the block (None: unchanged), then restored."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _stepped(learner: Any, *args: Any) -> torch.Tensor:
    return learner.train_step(*args)


def epoch_order(learner: Learner, encoded: Any, order: np.ndarray, batch: int) -> np.ndarray:
    """The learner may rearrange an epoch's shuffled order of its `encoded` training set (the same
    examples, e.g. in batches of similar length so less padding is computed) through an optional
    `epoch_order(encoded, order, batch)`."""
    rearrange = getattr(learner, "epoch_order", None)
    if rearrange is None:
        return order
    out = np.asarray(rearrange(encoded, order, batch))
    if sorted(out.tolist()) != sorted(order.tolist()):
        raise ValueError("a learner's epoch_order must return the same examples, reordered")
    return out


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


def make_optimizer(learner: Learner, schedule: Schedule) -> Any:
    """AdamW over the learner's trainable parameters (a stepped learner brings its own)."""
    if isinstance(learner, SteppedLearner):
        return learner.make_optimizer(schedule.lr, schedule.beta2, schedule.weight_decay)
    return torch.optim.AdamW(
        learner.parameters(),
        lr=schedule.lr,
        betas=(0.9, schedule.beta2),
        weight_decay=schedule.weight_decay,
    )


def _autograd_step(
    learner: Learner,
    encoded: Any,
    idx: np.ndarray,
    targets: torch.Tensor,
    aux_weight: float | None,
    anchor: float,
    start: list[torch.Tensor],
    optimizer: torch.optim.Optimizer,
) -> torch.Tensor:
    logits = learner.forward(encoded, idx)
    y = targets.to(logits.device)
    value = xent(logits, y) if aux_weight is None else logconf(logits, y, aux_weight)
    if anchor > 0:
        pull = sum(((p - p0) ** 2).sum() for p, p0 in zip(learner.parameters(), start, strict=True))
        value = value + 0.5 * anchor * pull
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    optimizer.step()
    return value.detach()


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
    optimizer: Any = None,
    desc: str = "stage",
    start_competes: bool = False,
    earlier_val: tuple[Sequence[str], np.ndarray] | None = None,
) -> tuple[StageReport, Any]:
    """Train on (texts, soft targets); evaluate every `eval_every` steps on the validation split
    (hard targets at 0.5 for AUROC) and keep the best weights; with `start_competes` (a later
    stage) the weights the stage started from are a candidate too, the stage guard applies
    (module docstring) and `earlier_val` holds the earlier stages' validation labels. Returns
    the optimizer so a caller can carry its state into the next stage."""
    stepped = isinstance(learner, SteppedLearner)
    # dropout and any other torch randomness of the stage; a stepped learner's steps are tiny,
    # so one thread (no OpenMP hand-offs, no fighting with other runs over the cores)
    with torch_seeded(seed), torch_threads(1 if stepped else None):
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
            optimizer = make_optimizer(learner, schedule)
        else:
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr
                group["initial_lr"] = schedule.lr

        step_fn = _stepped if stepped else _autograd_step
        best_score, best_step, best_state, kind = -math.inf, 0, None, "none"
        losses: list[float] = []
        window: list[torch.Tensor] = []
        order = epoch_order(learner, enc_train, gen.permutation(n), batch)
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
                    order = epoch_order(learner, enc_train, gen.permutation(n), batch)
                    cursor = 0
                idx = order[cursor : cursor + batch]
                cursor += batch
                for group in optimizer.param_groups:
                    group["lr"] = schedule.lr * lr_factor(step, schedule.warmup_steps, total)
                weight = (
                    logconf_weight(step, schedule.logconf_warmup) if loss == "logconf" else None
                )
                value = step_fn(
                    learner, enc_train, idx, targets[idx], weight, anchor, start, optimizer
                )
                window.append(value)
                bar.update(1)
                last = step == total - 1
                if (step + 1) % eval_every == 0 or last:
                    # One host sync per window, not per step (a GPU would stall on each).
                    values = torch.stack(window).double().cpu()
                    bad = (~torch.isfinite(values)).nonzero()
                    if len(bad):
                        i = int(bad[0])
                        raise TrainingError(
                            f"{desc}: the loss became {float(values[i])} at step "
                            f"{step + 2 - len(window) + i} of {total} (learning rate "
                            f"{schedule.lr:g}): training diverged; lower the learning rate"
                        )
                    losses.append(float(values.mean()))
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
