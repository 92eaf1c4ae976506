"""Few-shot prompts: the text format of a k-shot prompt, shared by prompting (icl) and the k-shot
prefix that some SFT methods put in front of every input."""

from __future__ import annotations

from collections.abc import Sequence

from labelmix.seeds import prefix_rng
from labelmix.tasks.base import Example


def format_shot(text: str, label: int) -> str:
    """One demonstration: text, newline, label, blank line."""
    return f"{text}\n{label}\n\n"


def build_prompt(shots: Sequence[tuple[str, int]], text: str) -> str:
    return "".join(format_shot(t, y) for t, y in shots) + f"{text}\n"


class Prefixer:
    """Puts a k-shot prefix in front of an input. The demonstrations are drawn, per input, from a
    bank of labelled examples with an rng keyed by (seed, example id): the same input gets the
    same prefix in training, validation and test, and across allocations that share the bank."""

    def __init__(self, bank: list[tuple[Example, int]], k: int, seed: int) -> None:
        self.bank = bank
        self.k = k
        self.seed = seed

    def __call__(self, ex: Example) -> str:
        if self.k == 0:
            return ex.text
        choices = [b for b in self.bank if b[0].id != ex.id]
        rng = prefix_rng(self.seed, ex.id)
        pick = rng.choice(len(choices), size=self.k, replace=False)
        return build_prompt([(choices[i][0].text, choices[i][1]) for i in pick], ex.text)
