"""Weak labels from prompting a local causal LM: a few `weak_train` examples with their gold labels
as demonstrations, then each text; the score is the next-token log-odds of "1" against "0"
(labelmix.models.icl). Nothing is trained, so the raw scores carry the LM's own biases (a
preference for one digit, a scale of its own): the caller calibrates them on the rest of
weak_train's gold labels (labelmix.train.weak_labeler)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelmix.errors import ConfigError
from labelmix.models.loading import ModelRef, model_kind
from labelmix.prompts import build_prompt

PROMPT_SHOTS = 8  # demonstrations: enough to show the format and both labels, short prompts


def check_causal(ref: ModelRef) -> None:
    """Prompting needs a next-token model; a text embedder (e.g. minilm) has none."""
    if model_kind(ref) != "decoder":
        raise ConfigError(
            f"the prompt weak labeler scores the next token of a causal LM, and {ref.name!r} is "
            "an encoder (a text embedder): pass a causal LM as the weak model, e.g. smollm2"
        )


def prompt_scores(
    ref: ModelRef, demos: Sequence[tuple[str, int]], texts: Sequence[str]
) -> np.ndarray:
    """log p("1") - log p("0") after the demonstrations and each text (cached per prompt)."""
    from labelmix.models.icl import PromptScorer

    scorer = PromptScorer(ref)
    inputs = [f"{t}\n" for t in texts]
    if not demos:
        return scorer.score(inputs)
    prefix = build_prompt(list(demos), "")[: -len("\n")]  # each input adds "text\n"
    return scorer.score_shared(prefix, inputs)
