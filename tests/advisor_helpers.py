"""An advisor prior written down, not fitted (fitting one takes seconds), shared by the advisor
and pilot-reuse tests."""

from __future__ import annotations

import math

from labelmix.analysis.advisor import AdvisorPrior, TaskFit


def hand_prior(tasks: tuple[str, ...] = ("other",), model: str | None = None) -> AdvisorPrior:
    extra = {} if model is None else {"model": model}
    return AdvisorPrior(
        tasks=tuple(TaskFit(t, 0.8, 100.0, 0.7, 0.01, 10) for t in tasks),
        gamma=0.0,
        log_delta=(math.log(0.3), 0.35),
        log_speed=(math.log(100.0), 0.5),
        method_offset=(),
        sigma=0.02,
        methods=("weak_only", "gold_only", "seq_sft"),
        gold_fracs=(0.2, 0.8),
        **extra,
    )
