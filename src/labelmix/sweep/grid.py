"""A sweep: a grid of runs read from TOML, validated before anything runs, expanded into RunConfigs.

A sweep file holds data only (no code): lists for the gridded axes and plain values for the rest.
Every key is checked at load, and so is every run the grid expands to, so a typo or an
unaffordable corner of the grid fails in a second instead of hours into a sweep."""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from labelmix.config import RunConfig
from labelmix.errors import BudgetError, ConfigError, DataError, UnaffordableError
from labelmix.methods import get_method
from labelmix.paths import read_text
from labelmix.tasks.splits import SplitSizes
from labelmix.train.schedule import LORA_SCHEDULE, PROBE_SCHEDULE, Schedule

# Each grid axis lists values of one RunConfig field.
AXES: dict[str, str] = {
    "tasks": "task",
    "methods": "method",
    "budgets": "budget",
    "gold_fracs": "gold_frac",
    "weak_costs": "weak_cost",
    "seeds": "seed",
}
GRID_KEYS = tuple(AXES)
# Every other RunConfig field is a setting shared by all runs of the sweep: the sweep file, the
# CLI overrides and the store's record of a sweep all read this one list.
SETTING_DEFAULTS: dict[str, Any] = {
    f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    for f in fields(RunConfig)
    if f.name not in AXES.values()
}
TABLE_KEYS = ("split_sizes", "schedule")
SCALAR_KEYS = tuple(k for k in SETTING_DEFAULTS if k not in TABLE_KEYS)
ALL_KEYS = GRID_KEYS + SCALAR_KEYS + TABLE_KEYS


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class SweepConfig:
    """The grid tasks x methods x budgets x gold_fracs x weak_costs x seeds, plus `settings`: the
    other RunConfig fields, shared by every run (defaults filled in). `source` (the file it came
    from) only makes error messages point somewhere."""

    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    budgets: tuple[float, ...]
    gold_fracs: tuple[float, ...]
    weak_costs: tuple[float, ...]
    seeds: tuple[int, ...]
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self._check_lists()
        unknown = sorted(set(self.settings) - set(SETTING_DEFAULTS))
        if unknown:
            raise self._err(unknown[0], f"unknown setting; valid: {', '.join(SETTING_DEFAULTS)}")
        # Read-only: the grid is expanded from these settings once, below.
        object.__setattr__(
            self, "settings", MappingProxyType({**SETTING_DEFAULTS, **self.settings})
        )
        # The grid is expanded once, here: every run validates itself (RunConfig) ...
        object.__setattr__(self, "_expanded", self._expand())
        check_affordable(self.runs(), where=self._where(None))  # ... and must buy its labels

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its constructor arguments (the read-only settings view cannot pickle)."""
        axes = tuple(getattr(self, k) for k in GRID_KEYS)
        return (type(self), (*axes, dict(self.settings), self.source))

    def __getattr__(self, name: str) -> Any:
        """Settings read like fields: `sweep.schedule`, `sweep.trainer`."""
        if name in SETTING_DEFAULTS:
            return self.__dict__.get("settings", SETTING_DEFAULTS)[name]
        raise AttributeError(f"'SweepConfig' has no attribute {name!r}")

    # -- validation -----------------------------------------------------------------------------

    def _where(self, key: str | None) -> str:
        parts = [p for p in (self.source, f"key {key!r}" if key else None) if p]
        return ": ".join(parts) + ": " if parts else ""

    def _err(self, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self._where(key)}{msg}")

    def _check_lists(self) -> None:
        for key in GRID_KEYS:
            values = getattr(self, key)
            if isinstance(values, list):
                values = tuple(dict.fromkeys(values))
                object.__setattr__(self, key, values)
            if not isinstance(values, tuple) or not values:
                raise self._err(key, "needs a non-empty list")
        from labelmix.tasks.registry import get_task

        for v in self.tasks:
            if not isinstance(v, str):
                raise self._err("tasks", f"{v!r} is not a task name")
            try:
                get_task(v)
            except ConfigError as e:
                raise self._err("tasks", str(e)) from None
        for v in self.methods:
            if not isinstance(v, str):
                raise self._err("methods", f"{v!r} is not a method name")
            try:
                get_method(v)
            except ConfigError as e:
                raise self._err("methods", str(e)) from None
        for v in self.budgets:
            if not (_is_number(v) and v > 0 and math.isfinite(v)):
                raise self._err("budgets", f"{v!r} must be a positive number of dollars")
        for v in self.gold_fracs:
            if not (_is_number(v) and 0.0 <= v <= 1.0):
                raise self._err("gold_fracs", f"gold fraction {v!r} must lie in [0, 1]")
        for v in self.weak_costs:
            if not (_is_number(v) and v > 0 and math.isfinite(v)):
                raise self._err("weak_costs", f"{v!r} must be a positive number of dollars")
        for v in self.seeds:
            if not (_is_int(v) and v >= 0):
                raise self._err("seeds", f"{v!r} must be an integer >= 0")
        for key in ("budgets", "gold_fracs", "weak_costs"):
            object.__setattr__(self, key, tuple(float(v) for v in getattr(self, key)))

    # -- expansion ------------------------------------------------------------------------------

    def runs(self) -> list[RunConfig]:
        return list(self._expanded[0])  # type: ignore[attr-defined]

    def unaffordable(self) -> list[str]:
        """Grid points skipped because the budget cannot pay for the method (e.g. few_shot's 8
        demonstrations at $4), each with the reason."""
        return list(self._expanded[1])  # type: ignore[attr-defined]

    def _expand(self) -> tuple[list[RunConfig], list[str]]:
        """The grid as RunConfigs, deduplicated by key, in a deterministic order (the order of the
        lists in the file, nested tasks > methods > budgets > gold_fracs > weak_costs > seeds).

        Methods that fix the split (weak_only, gold_only) and prompt-only methods (few_shot) do
        not depend on the gold fraction, so they appear once per (task, budget, weak cost, seed)."""
        out: dict[str, RunConfig] = {}
        skipped: dict[str, str] = {}
        grid = itertools.product(
            self.tasks, self.methods, self.budgets, self.gold_fracs, self.weak_costs, self.seeds
        )
        for task, method_name, budget, frac, weak_cost, seed in grid:
            method = get_method(method_name)
            # RunConfig fills in a method's fixed fraction; a prompt is scored, never trained.
            gold_frac = None if method.fixed_gold_frac is not None else float(frac)
            settings = dict(self.settings)
            if method.prompt_only:
                settings["trainer"] = "icl"
            try:
                cfg = RunConfig(
                    task=task,
                    method=method_name,
                    budget=float(budget),
                    gold_frac=gold_frac,
                    weak_cost=float(weak_cost),
                    seed=int(seed),
                    **settings,
                )
            except UnaffordableError as e:
                desc = describe(task, method_name, budget, gold_frac, seed)
                skipped.setdefault(desc, f"{desc}: {e}")
                continue
            except ConfigError as e:
                desc = describe(task, method_name, budget, gold_frac, seed)
                raise ConfigError(f"{self._where(None)}run {desc}: {e}") from None
            out.setdefault(cfg.key(), cfg)
        if not out:
            raise ConfigError(
                f"{self._where(None)}no run of the grid is affordable: "
                + "; ".join(list(skipped.values())[:3])
            )
        return list(out.values()), list(skipped.values())

    # -- loading --------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> SweepConfig:
        """Build from a TOML-shaped mapping; unknown keys are errors, not silently ignored."""
        where = f"{source}: " if source else ""
        unknown = sorted(set(data) - set(ALL_KEYS))
        if unknown:
            raise ConfigError(f"{where}unknown key(s) {unknown}; valid keys: {', '.join(ALL_KEYS)}")
        missing = [k for k in GRID_KEYS if k not in data]
        if missing:
            raise ConfigError(f"{where}missing key(s) {missing}: a sweep needs every grid axis")
        kw: dict[str, Any] = {"source": source}
        for key in GRID_KEYS:
            values = data[key]
            if not isinstance(values, list | tuple):
                values = [values]  # a single value is a one-element axis
            kw[key] = tuple(dict.fromkeys(values))  # drop repeats, keep order
        settings = {key: data[key] for key in SCALAR_KEYS if key in data}
        settings["split_sizes"] = _table(data, "split_sizes", SplitSizes, where) or SplitSizes()
        # A [schedule] table changes the named fields of the trainer's default schedule (probe
        # and lora differ, e.g. in learning rate), not of a generic one.
        trainer = data.get("trainer", "probe")
        base = LORA_SCHEDULE if trainer == "lora" else PROBE_SCHEDULE
        settings["schedule"] = _table(data, "schedule", Schedule, where, base)
        return cls(**kw, settings=settings)

    @classmethod
    def grid(cls, source: str | None = None, **values: Any) -> SweepConfig:
        """Axes and settings as keywords, e.g. `SweepConfig.grid(tasks=["cities"], ...,
        seeds=[0, 1], trainer="probe")`."""
        missing = [k for k in GRID_KEYS if k not in values]
        if missing:
            raise ConfigError(f"missing grid axis(es) {missing}: a sweep needs every grid axis")
        axes = {}
        for k in GRID_KEYS:
            v = values.pop(k)
            # a single value is a one-element axis (a string is one task, not its letters)
            axes[k] = tuple(v) if isinstance(v, list | tuple | range) else (v,)
        return cls(**axes, settings=values, source=source)

    @classmethod
    def load(cls, path: str | Path, overrides: Mapping[str, Any] | None = None) -> SweepConfig:
        """Read a TOML sweep file, then apply overrides (e.g. from CLI flags).

        Overrides map a key to a value; `None` means "not given". A dotted key sets one field of
        a table (`schedule.max_steps`). String values are parsed like the CLI writes them: lists
        as comma-separated items (`"16,32"`), numbers as numbers."""
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"sweep file {path} does not exist")
        try:
            data = tomllib.loads(read_text(path, "sweep file"))
        except DataError as e:  # a folder, unreadable, not UTF-8
            raise ConfigError(str(e)) from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        return cls.from_dict(apply_overrides(data, overrides or {}, str(path)), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, and `from_dict(to_dict())` gives the same sweep."""
        d: dict[str, Any] = {k: list(getattr(self, k)) for k in GRID_KEYS}
        for key in SCALAR_KEYS:
            d[key] = self.settings[key]
        d["split_sizes"] = asdict(self.settings["split_sizes"])
        schedule = self.settings["schedule"]
        d["schedule"] = asdict(schedule) if schedule is not None else None
        return {k: v for k, v in d.items() if v is not None}


def _table(data: Mapping[str, Any], key: str, cls: type, where: str, base: Any = None) -> Any:
    table = data.get(key)
    if table is None:
        return None
    if isinstance(table, cls):
        return table
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}key {key!r}: must be a table, got {table!r}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"{where}key {key!r}: unknown field(s) {unknown}; valid: {valid}")
    try:
        return replace(base, **table) if base is not None else cls(**table)
    except (ConfigError, TypeError) as e:
        raise ConfigError(f"{where}key {key!r}: {e}") from None


def _parse_scalar(text: str) -> Any:
    """A CLI string as TOML would read it (numbers, booleans), else the string itself."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(
    data: Mapping[str, Any], overrides: Mapping[str, Any], source: str | None = None
) -> dict[str, Any]:
    """The sweep data with overrides applied; unknown keys are errors naming the key."""
    where = f"{source}: " if source else ""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    for raw_key, value in overrides.items():
        if value is None:
            continue
        key = raw_key.replace("-", "_")
        table, _, sub = key.partition(".")
        if sub:
            if table not in TABLE_KEYS:
                raise ConfigError(f"{where}override {raw_key!r}: {table!r} is not a table")
            parsed = _parse_scalar(value) if isinstance(value, str) else value
            out.setdefault(table, {})
            out[table] = {**out[table], sub: parsed}
            continue
        if key not in ALL_KEYS:
            raise ConfigError(
                f"{where}override {raw_key!r}: unknown key; valid keys: {', '.join(ALL_KEYS)}"
            )
        if key in GRID_KEYS and isinstance(value, str):
            value = [_parse_scalar(v) for v in value.split(",") if v.strip()]
        elif key in GRID_KEYS and not isinstance(value, list | tuple):
            value = [value]
        elif key in GRID_KEYS:
            value = list(value)
        elif isinstance(value, str) and key not in ("model", "weak_model", "data_dir", "trainer"):
            value = _parse_scalar(value)
        out[key] = value
    return out


def expand(sweep: SweepConfig) -> list[RunConfig]:
    """The sweep's runs (see `SweepConfig.runs`)."""
    return sweep.runs()


def describe(task: str, method: str, budget: float, gold_frac: float | None, seed: int) -> str:
    """A short human label for a run: task/method/$budget/gold fraction/seed."""
    frac = "-" if gold_frac is None else f"{gold_frac:g}"
    return f"{task}/{method}/${budget:g}/g={frac}/s={seed}"


def describe_run(cfg: RunConfig) -> str:
    return describe(cfg.task, cfg.method, cfg.budget, cfg.gold_frac, cfg.seed)


def check_affordable(runs: Iterable[RunConfig], where: str = "") -> None:
    """Refuse runs whose allocation buys none of the labels their method uses (e.g. gold_only
    with a budget below one gold label): they could only fail, after everything else ran."""
    bad = [cfg for cfg in runs if sum(cfg.labels_used()) == 0]
    if not bad:
        return
    shown = "; ".join(
        f"{describe_run(c)} (weak ${c.weak_cost:g}, gold ${c.gold_cost:g})" for c in bad[:5]
    )
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    raise BudgetError(
        f"{where}{len(bad)} run(s) cannot buy any label their method uses: {shown}{more}; "
        "raise those budgets or drop them from the grid"
    )


PLAN_COLUMNS = (
    "key",
    "task",
    "method",
    "trainer",
    "budget",
    "gold_frac",
    "weak_cost",
    "seed",
    "n_weak",
    "n_gold",
    "dollars",
    "note",
)


def plan_table(runs: Sequence[RunConfig]) -> list[dict[str, Any]]:
    """One row per run with the labels it buys and their price, then a total row (key 'total').

    Raises BudgetError if any run cannot buy a label it uses."""
    check_affordable(runs)
    rows: list[dict[str, Any]] = []
    for cfg in runs:
        n_weak, n_gold = cfg.labels_used()
        dollars = n_weak * cfg.weak_cost + n_gold * cfg.gold_cost
        notes = []
        method = get_method(cfg.method)
        if not method.prompt_only:
            empty = [
                s for s, n in (("weak", n_weak), ("gold", n_gold)) if s in method.sources and n == 0
            ]
            if empty:
                notes.append(f"no {' or '.join(empty)} labels at this budget")
        if n_weak + n_gold > cfg.split_sizes.pool:
            notes.append(f"more labels than the pool holds ({cfg.split_sizes.pool})")
        rows.append(
            {
                "key": cfg.key(),
                "task": cfg.task,
                "method": cfg.method,
                "trainer": cfg.trainer,
                "budget": cfg.budget,
                "gold_frac": cfg.gold_frac,
                "weak_cost": cfg.weak_cost,
                "seed": cfg.seed,
                "n_weak": n_weak,
                "n_gold": n_gold,
                "dollars": round(dollars, 6),
                "note": "; ".join(notes),
            }
        )
    total = dict.fromkeys(PLAN_COLUMNS)
    total.update(
        key="total",
        task=f"{len(rows)} runs",
        n_weak=sum(r["n_weak"] for r in rows),
        n_gold=sum(r["n_gold"] for r in rows),
        dollars=round(sum(r["dollars"] for r in rows), 6),
        note="",
    )
    rows.append(total)
    return rows
