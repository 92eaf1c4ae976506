"""`elements`: which of two chemical elements has the higher atomic number, generated from the
periodictable package (public domain), so the task needs no download.

Every unordered pair of the 118 elements (hydrogen to oganesson) gives one statement, "X has a
higher atomic number than Y.", with the pair's order drawn at random: true (label 1) when X is
the heavier element, else false (label 0), 50/50. A comparison is knowledge of a different
shape from `cities` (an order over names, not a lookup), so a text embedder's weak labels and
an LM's own knowledge can be compared on it."""

from __future__ import annotations

import random

from labelmix.tasks.base import Example, TaskSpec, balance, dedupe


def element_names() -> list[tuple[int, str]]:
    """(atomic number, capitalised name) of every element, hydrogen first (no neutron)."""
    import periodictable

    return sorted(
        (el.number, el.name.capitalize()) for el in periodictable.elements if el.number > 0
    )


def generate_elements(seed: int) -> list[Example]:
    elements = element_names()
    rng = random.Random(f"elements:{seed}")
    out: list[Example] = []
    for i, (_, lighter) in enumerate(elements):
        for _, heavier in elements[i + 1 :]:
            if rng.random() < 0.5:
                out.append(Example.make(f"{heavier} has a higher atomic number than {lighter}.", 1))
            else:
                out.append(Example.make(f"{lighter} has a higher atomic number than {heavier}.", 0))
    return balance(dedupe(out), seed)


SPECS = [
    TaskSpec(
        name="elements",
        description="'X has a higher atomic number than Y.' true or false; generated from "
        "periodictable (offline)",
        generator=generate_elements,
        test_split=None,
    )
]
