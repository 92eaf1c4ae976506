"""Examples, tasks and the deterministic helpers every task family shares."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labelmix.errors import DataError


@dataclass(frozen=True)
class Example:
    """One binary example. `id` is a stable hash of `text`, so the same text is the same example
    in every split, cache and run."""

    id: str
    text: str
    label: int

    @staticmethod
    def make(text: str, label: int) -> Example:
        if label not in (0, 1):
            raise DataError(f"label {label!r} is outside {{0, 1}} for text {text[:60]!r}")
        return Example(id=text_id(text), text=text, label=int(label))


def text_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# A formatter turns one row in the Hub's schema into (text, label), or None for a row the binary
# task deliberately leaves out (e.g. ANLI's neutral class). Multiple-choice formatters use `rng` to
# pick the correct answer or a distractor (50/50), so the output is deterministic per seed.
Formatter = Callable[[Mapping[str, Any], random.Random], tuple[str, int] | None]


@dataclass(frozen=True)
class TaskSpec:
    """How to get a binary task: a Hub dataset (or local mirror of it) plus a formatter, or a
    generator for tasks made from a package's data (like `cities`)."""

    name: str
    description: str
    hub_id: str | None = None
    config: str | None = None
    # Hub splits that feed weak_train + pool, and the held-out split that feeds test.
    train_splits: tuple[str, ...] = ("train",)
    test_split: str | None = "validation"
    formatter: Formatter | None = None
    generator: Callable[[int], list[Example]] | None = None
    required_fields: tuple[str, ...] = field(default=())
    # Where a generator's examples come from, for listings ("your file x.jsonl"); None: made here.
    origin: str | None = None

    @property
    def source(self) -> str:
        if self.generator is not None:
            return self.origin or "generated"
        return f"{self.hub_id}" + (f" ({self.config})" if self.config else "")

    @property
    def mirror_folder(self) -> str:
        """Folder name inside a local mirror: `<hub id with / -> __>/<config or default>`."""
        assert self.hub_id is not None
        return f"{self.hub_id.replace('/', '__')}/{self.config or 'default'}"


def format_rows(
    spec: TaskSpec, rows: Iterable[Mapping[str, Any]], seed: int, split: str
) -> list[Example]:
    """Apply the formatter to every row with a seeded rng; a row missing a field is a DataError
    naming the field, the split and the row number. Rows the formatter skips (None) are dropped."""
    assert spec.formatter is not None
    rng = random.Random(f"{spec.name}:{split}:{seed}")
    out: list[Example] = []
    for i, row in enumerate(rows):
        missing = [f for f in spec.required_fields if f not in row]
        if missing:
            raise DataError(
                f"task {spec.name!r}, split {split!r}, row {i}: missing field(s) {missing}; "
                f"expected the Hub schema of {spec.hub_id} with fields {list(spec.required_fields)}"
            )
        try:
            formatted = spec.formatter(row, rng)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise DataError(
                f"task {spec.name!r}, split {split!r}, row {i}: cannot format row ({e!r}); "
                f"check that the data follows the Hub schema of {spec.hub_id}"
            ) from None
        if formatted is None:
            continue
        text, label = formatted
        out.append(Example.make(text, label))
    return out


def dedupe(examples: Iterable[Example]) -> list[Example]:
    """Keep the first example of each id (same text = same example)."""
    seen: set[str] = set()
    out: list[Example] = []
    for ex in examples:
        if ex.id not in seen:
            seen.add(ex.id)
            out.append(ex)
    return out


def balance(examples: Sequence[Example], seed: int) -> list[Example]:
    """Undersample the majority class to 50/50, then shuffle; deterministic per seed."""
    rng = random.Random(f"balance:{seed}")
    pos = [e for e in examples if e.label == 1]
    neg = [e for e in examples if e.label == 0]
    k = min(len(pos), len(neg))
    pos = sorted(pos, key=lambda e: e.id)
    neg = sorted(neg, key=lambda e: e.id)
    rng.shuffle(pos)
    rng.shuffle(neg)
    out = pos[:k] + neg[:k]
    out.sort(key=lambda e: e.id)
    rng.shuffle(out)
    return out


def pick_distractor(answers: Sequence[str], correct: int, rng: random.Random) -> str:
    """A random wrong answer out of `answers`."""
    wrong = [a for j, a in enumerate(answers) if j != correct]
    if not wrong:
        raise ValueError("a multiple-choice row needs at least two answers")
    return rng.choice(wrong)


def choice_pair(answers: Sequence[str], correct: int, rng: random.Random) -> tuple[str, int]:
    """The binary view of a multiple-choice row: the correct answer (label 1) or a random
    distractor (label 0), 50/50."""
    if not 0 <= correct < len(answers):
        raise ValueError(f"answer index {correct} outside 0..{len(answers) - 1}")
    if rng.random() < 0.5:
        return answers[correct], 1
    return pick_distractor(answers, correct, rng), 0


def place_statements(
    places: Sequence[tuple[str, str]],
    countries: dict[str, str],
    template: str,
    rng: random.Random,
    exclude: Collection[str] = (),
) -> list[Example]:
    """True/false statements "`template` with the place's name and a country": its own country
    (label 1) or a random other one (label 0), 50/50, in the order of `places` ((name, country
    code) pairs). A name found in several countries would make two statements true, and a name in
    `exclude` reads as something else: both are left out."""
    by_name: dict[str, set[str]] = {}
    for name, code in places:
        by_name.setdefault(name, set()).add(code)
    country_names = sorted(set(countries.values()))
    out: list[Example] = []
    for name, code in places:
        if len(by_name[name]) > 1 or name in exclude:
            continue
        true_country = countries[code]
        if rng.random() < 0.5:
            out.append(Example.make(template.format(place=name, country=true_country), 1))
        else:
            other = rng.choice(country_names)
            while other == true_country:
                other = rng.choice(country_names)
            out.append(Example.make(template.format(place=name, country=other), 0))
    return out
