"""Single-text and sentence-pair tasks whose Hub rows already carry a binary (or binarisable) label.

Also holds the small row readers the other families share, so every formatter rejects a bad value
with a message that names the field (format_rows turns it into a DataError naming the row)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from labelmix.tasks.base import TaskSpec


def text_field(row: Mapping[str, Any], name: str) -> str:
    """The stripped string in `row[name]`; a null or non-string value is an error naming the field
    (a JSON mirror with a missing key gives None there, not a missing key)."""
    value = row[name]
    if not isinstance(value, str):
        raise TypeError(f"field {name!r} must be a string, got {type(value).__name__} {value!r}")
    return value.strip()


def binary_label(value: object, name: str = "label") -> int:
    """0 or 1 from an int or bool label; anything else (e.g. -1, the Hub's hidden test label) is an
    error rather than a silently wrong example."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    hint = " (-1 marks a hidden test label on the Hub: use a labelled split)" if value == -1 else ""
    raise ValueError(f"field {name!r} must be 0 or 1, got {value!r}{hint}")


def format_cola(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int]:
    # label: 1 = acceptable, 0 = unacceptable
    sentence = text_field(row, "sentence")
    return f"Sentence: {sentence}\nIs this sentence grammatical?", binary_label(row["label"])


def format_sst2(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int]:
    # label: 1 = positive, 0 = negative; GLUE's sentences end with a space, stripped here
    sentence = text_field(row, "sentence")
    return f"Review: {sentence}\nIs the sentiment of this review positive?", binary_label(
        row["label"]
    )


def format_amazon_polarity(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int]:
    # label: 1 = positive, 0 = negative; some titles are empty
    title = text_field(row, "title")
    content = text_field(row, "content")
    head = f"Title: {title}\n" if title else ""
    return f"{head}Review: {content}\nIs this review positive?", binary_label(row["label"])


def format_paws(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int]:
    # label: 1 = paraphrase, 0 = not a paraphrase
    s1 = text_field(row, "sentence1")
    s2 = text_field(row, "sentence2")
    text = f"Sentence 1: {s1}\nSentence 2: {s2}\nDo these two sentences mean the same thing?"
    return text, binary_label(row["label"])


def format_ethics_deontology(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int]:
    # scenario: a request or a role; excuse: an exemption or a duty; label 1 = reasonable
    scenario = text_field(row, "scenario")
    excuse = text_field(row, "excuse")
    text = (
        f"Scenario: {scenario}\nResponse: {excuse}\nIs this response a reasonable excuse or duty?"
    )
    return text, binary_label(row["label"])


def format_ethics_justice(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int]:
    # label 1 = reasonable (just), 0 = unreasonable
    scenario = text_field(row, "scenario")
    return f"Statement: {scenario}\nIs this reasonable and just?", binary_label(row["label"])


# facebook/anli labels: 0 entailment, 1 neutral, 2 contradiction.
_ANLI_BINARY = {0: 1, 2: 0}
_ANLI_NEUTRAL = 1


def format_anli(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    """Entailment (1) vs contradiction (0); neutral rows are skipped, so both labels are decidable
    from the pair alone."""
    premise = text_field(row, "premise")
    hypothesis = text_field(row, "hypothesis")
    label = row["label"]
    if isinstance(label, bool) or not isinstance(label, int) or label not in (0, 1, 2):
        raise ValueError(
            f"field 'label' must be 0 (entailment), 1 (neutral) or 2 (contradiction), got {label!r}"
        )
    if label == _ANLI_NEUTRAL:
        return None
    text = f"Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise entail the hypothesis?"
    return text, _ANLI_BINARY[label]


def format_boolq(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int]:
    # answer: bool; questions are lower-case and have no question mark on the Hub
    passage = text_field(row, "passage")
    question = text_field(row, "question")
    if not question.endswith("?"):
        question += "?"
    return f"Passage: {passage}\nQuestion: {question}\nIs the answer yes?", binary_label(
        row["answer"], "answer"
    )


SPECS: list[TaskSpec] = [
    TaskSpec(
        name="cola",
        description="CoLA: is the sentence grammatically acceptable?",
        hub_id="nyu-mll/glue",
        config="cola",
        train_splits=("train",),
        test_split="validation",  # Hub test labels are hidden (-1)
        formatter=format_cola,
        required_fields=("sentence", "label"),
    ),
    TaskSpec(
        name="sst2",
        description="SST-2: is the movie review sentence positive?",
        hub_id="stanfordnlp/sst2",
        train_splits=("train",),
        test_split="validation",  # Hub test labels are hidden (-1)
        formatter=format_sst2,
        required_fields=("sentence", "label"),
    ),
    TaskSpec(
        name="amazon_polarity",
        description="Amazon reviews: is the review positive?",
        hub_id="fancyzhx/amazon_polarity",  # formerly `amazon_polarity`; the Hub redirects
        train_splits=("train",),
        test_split="test",
        formatter=format_amazon_polarity,
        required_fields=("title", "content", "label"),
    ),
    TaskSpec(
        name="paws",
        description="PAWS (labeled_final): are the two sentences paraphrases?",
        hub_id="google-research-datasets/paws",  # formerly `paws`
        config="labeled_final",
        train_splits=("train",),
        test_split="test",
        formatter=format_paws,
        required_fields=("sentence1", "sentence2", "label"),
    ),
    TaskSpec(
        name="ethics_deontology",
        description="ETHICS deontology: is the excuse or duty reasonable in the scenario?",
        hub_id="hendrycks/ethics",
        config="deontology",
        train_splits=("train",),
        # Hub `validation` is ETHICS' normal test set; Hub `test` is the adversarial test_hard.
        test_split="validation",
        formatter=format_ethics_deontology,
        required_fields=("scenario", "excuse", "label"),
    ),
    TaskSpec(
        name="ethics_justice",
        description="ETHICS justice: is the statement reasonable and just?",
        hub_id="hendrycks/ethics",
        config="justice",
        train_splits=("train",),
        test_split="validation",  # as for ethics_deontology: `test` is test_hard
        formatter=format_ethics_justice,
        required_fields=("scenario", "label"),
    ),
    TaskSpec(
        name="anli_r2",
        description="ANLI round 2: does the premise entail the hypothesis? (neutral dropped)",
        hub_id="facebook/anli",
        train_splits=("train_r2",),
        test_split="test_r2",
        formatter=format_anli,
        required_fields=("premise", "hypothesis", "label"),
    ),
    TaskSpec(
        name="boolq",
        description="BoolQ: is the answer to the question about the passage yes?",
        hub_id="google/boolq",
        train_splits=("train",),
        test_split="validation",  # BoolQ's test labels are not public
        formatter=format_boolq,
        required_fields=("question", "passage", "answer"),
    ),
]
