"""`regions`: which country a region belongs to (an ISO 3166-2 subdivision: state, province,
county, parish, ...), generated from the pycountry package (LGPL-2.1; its data is Debian's
iso-codes), so the task needs no download.

"The region of X is in Y." names the region's country (label 1) or a random other country
(label 0), 50/50, as `cities` does for cities. A name shared by regions of several countries
would make two statements true, and a region named like a country reads as that country: both
are left out."""

from __future__ import annotations

import random

from labelmix.tasks.base import Example, TaskSpec, balance, dedupe, place_statements


def _country_names() -> dict[str, str]:
    """ISO alpha-2 code -> the country's common name ("Bolivia", not "Bolivia, Plurinational
    State of") where pycountry has one."""
    import pycountry

    return {c.alpha_2: getattr(c, "common_name", c.name) for c in pycountry.countries}


def generate_regions(seed: int) -> list[Example]:
    import pycountry

    countries = _country_names()
    regions = sorted(
        (s.name, s.country_code) for s in pycountry.subdivisions if s.country_code in countries
    )
    out = place_statements(
        sorted(set(regions)),
        countries,
        "The region of {place} is in {country}.",
        random.Random(f"regions:{seed}"),
        exclude=set(countries.values()),  # a region named like a country reads as that country
    )
    return balance(dedupe(out), seed)


SPECS = [
    TaskSpec(
        name="regions",
        description="'The region of X is in Y.' true or false; generated from pycountry (offline)",
        generator=generate_regions,
        test_split=None,
    )
]
