"""labelmix: spend a labelling budget well (Mallen & Belrose 2024, arXiv 2410.13215).

The public API (see labelmix.api and the README):

    import labelmix as lm
    task = lm.Task.from_records(texts, labels, name="reviews")
    result = lm.fit("seq_sft", task, budget=64, weak_cost=0.1, gold_frac=0.2)
    result.classifier.predict_proba(["a new text"])

Names load on first use, so `import labelmix` stays cheap (torch loads when a fit needs it)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from labelmix.analysis.advisor import advise
    from labelmix.analysis.signal import signal_check, verdict_over_seeds
    from labelmix.api import FitResult, Task, WeakLabels, fit
    from labelmix.classifier import Classifier
    from labelmix.config import RunConfig
    from labelmix.errors import LabelmixError
    from labelmix.methods import METHODS, Method, StageSpec
    from labelmix.run import execute_run
    from labelmix.tasks.splits import SplitSizes
    from labelmix.train.schedule import Schedule

_EXPORTS: dict[str, str] = {
    "Task": "labelmix.api",
    "WeakLabels": "labelmix.api",
    "fit": "labelmix.api",
    "FitResult": "labelmix.api",
    "Classifier": "labelmix.classifier",
    "RunConfig": "labelmix.config",
    "execute_run": "labelmix.run",
    "advise": "labelmix.analysis.advisor",
    "signal_check": "labelmix.analysis.signal",
    "verdict_over_seeds": "labelmix.analysis.signal",
    "LabelmixError": "labelmix.errors",
    "METHODS": "labelmix.methods",
    "Method": "labelmix.methods",
    "StageSpec": "labelmix.methods",
    "SplitSizes": "labelmix.tasks.splits",
    "Schedule": "labelmix.train.schedule",
    "Project": "labelmix.project",
}
__all__ = [
    "METHODS",
    "Classifier",
    "FitResult",
    "LabelmixError",
    "Method",
    "Project",
    "RunConfig",
    "Schedule",
    "SplitSizes",
    "StageSpec",
    "Task",
    "WeakLabels",
    "advise",
    "execute_run",
    "fit",
    "signal_check",
    "verdict_over_seeds",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'labelmix' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*__all__, "__version__"]
