"""Losses on single-logit (log-odds) outputs against soft labels in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def xent(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy against soft targets (the weak labeler's probabilities or 0/1 gold)."""
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))


def logconf(logits: torch.Tensor, targets: torch.Tensor, aux_weight: float) -> torch.Tensor:
    """Log-confidence auxiliary loss (Burns et al. 2023): cross-entropy against a mix of the label
    and the model's own hardened prediction. The hardening threshold is the quantile of the
    model's probabilities that makes the share of hard positives match the batch's label prior,
    so the model can disagree with the weak labels without collapsing onto one class."""
    return F.binary_cross_entropy_with_logits(logits, logconf_targets(logits, targets, aux_weight))


def logconf_targets(logits: torch.Tensor, targets: torch.Tensor, aux_weight: float) -> torch.Tensor:
    """The log-confidence loss's (detached) targets: the labels mixed with the hardened predictions."""
    targets = targets.to(logits.dtype)
    probs = torch.sigmoid(logits.detach())
    prior = targets.mean()
    threshold = torch.quantile(probs, (1.0 - prior).clamp(0.0, 1.0))
    hard = (probs > threshold).to(logits.dtype)
    return (1.0 - aux_weight) * targets + aux_weight * hard


def logconf_weight(step: int, warmup_steps: int, max_weight: float = 0.5) -> float:
    """The auxiliary weight ramps linearly from 0 to `max_weight` over the warm-up."""
    if warmup_steps <= 0:
        return max_weight
    return max_weight * min(1.0, step / warmup_steps)
