"""All known tasks by name. Each family module exposes `SPECS: list[TaskSpec]`."""

from __future__ import annotations

from labelmix.errors import ConfigError
from labelmix.tasks.base import TaskSpec


def _collect() -> dict[str, TaskSpec]:
    from labelmix.tasks import cities, city_sizes, continents, countries, elements, regions
    from labelmix.tasks.families import (
        classification,
        multiple_choice,
        reading,
    )

    specs: dict[str, TaskSpec] = {}
    for module in (
        cities,
        city_sizes,
        continents,
        countries,
        elements,
        regions,
        classification,
        multiple_choice,
        reading,
    ):
        for spec in module.SPECS:
            if spec.name in specs:
                raise RuntimeError(f"task {spec.name} registered twice")
            specs[spec.name] = spec
    return dict(sorted(specs.items()))


_TASKS: dict[str, TaskSpec] | None = None
# Tasks a library caller made in this process (labelmix.api.Task): in-memory data, no file.
_REGISTERED: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> None:
    """Make an in-memory task runnable by name in this process. Its name must carry a digest of
    its data (labelmix.api.Task does): a name is a cache key."""
    if spec.name in all_tasks():
        raise ConfigError(f"task name {spec.name!r} is a built-in task; pick another name")
    _REGISTERED[spec.name] = spec


def all_tasks() -> dict[str, TaskSpec]:
    global _TASKS
    if _TASKS is None:
        _TASKS = _collect()
    return _TASKS


def get_task(name: str) -> TaskSpec:
    """A registered task, or `file:PATH` for a user's own .jsonl/.csv of text and label."""
    from labelmix.tasks.user_file import PREFIX, file_task

    if name.startswith(PREFIX):
        return file_task(name)
    if name in _REGISTERED:
        return _REGISTERED[name]
    tasks = all_tasks()
    if name not in tasks:
        raise ConfigError(
            f"unknown task {name!r}; valid tasks: {', '.join(tasks)}, or file:PATH.jsonl|csv"
        )
    return tasks[name]
