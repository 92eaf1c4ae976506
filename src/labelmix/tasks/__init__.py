"""Binary tasks: registry, formatters, splits."""

from labelmix.tasks.base import Example, TaskSpec
from labelmix.tasks.loading import load_splits
from labelmix.tasks.registry import all_tasks, get_task
from labelmix.tasks.splits import Splits, SplitSizes

__all__ = ["Example", "TaskSpec", "Splits", "SplitSizes", "all_tasks", "get_task", "load_splits"]
