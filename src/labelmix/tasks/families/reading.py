"""Reading comprehension: multiple choice over a passage or a dialogue, made binary like the
multiple-choice family (correct answer = 1, random wrong answer = 0)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from labelmix.tasks.base import TaskSpec
from labelmix.tasks.families.classification import text_field
from labelmix.tasks.families.multiple_choice import answer_pair, choice_index, str_list


def _none_of_the_above(answer: str) -> bool:
    return answer.lower().startswith("none of the above")


def format_cosmos_qa(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    """Cosmos QA has "None of the above choices ." among its answers. Shown alone it cannot be
    judged, so it is never shown: when it is the right answer, the row gives a wrong answer with
    label 0 (every other answer is wrong), and otherwise it is not used as a distractor."""
    context = text_field(row, "context")
    question = text_field(row, "question")
    answers = [text_field(row, f"answer{j}") for j in range(4)]
    correct = choice_index(row["label"], "label", len(answers))  # -1 in the unlabelled Hub test
    others = [a for j, a in enumerate(answers) if j != correct and a and not _none_of_the_above(a)]
    if _none_of_the_above(answers[correct]):
        if not others:
            return None
        answer, label = rng.choice(others), 0
    else:
        pair = answer_pair([answers[correct], *others], 0, rng)
        if pair is None:
            return None
        answer, label = pair
    return f"Context: {context}\nQuestion: {question}\nAnswer: {answer}", label


def format_quail(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    # answers: 4 options, one of them often "not enough information"; correct_answer_id: 0..3
    passage = text_field(row, "context")
    question = text_field(row, "question")
    answers = str_list(row, "answers")
    correct = choice_index(row["correct_answer_id"], "correct_answer_id", len(answers))
    pair = answer_pair(answers, correct, rng)
    if pair is None:
        return None
    return f"Passage: {passage}\nQuestion: {question}\nAnswer: {pair[0]}", pair[1]


def format_dream(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    # dialogue: turns like "M: ...", "W: ..."; choice: 3 options; answer: the right option's text
    dialogue = "\n".join(str_list(row, "dialogue"))
    question = text_field(row, "question")
    choices = str_list(row, "choice")
    answer = text_field(row, "answer")
    if answer not in choices:
        raise ValueError(f"field 'answer' is {answer!r}: not one of the choices {choices}")
    pair = answer_pair(choices, choices.index(answer), rng)
    if pair is None:
        return None
    return f"Dialogue:\n{dialogue}\nQuestion: {question}\nAnswer: {pair[0]}", pair[1]


SPECS: list[TaskSpec] = [
    TaskSpec(
        name="cosmos_qa",
        description="Cosmos QA: is this the answer to the commonsense question about the story?",
        hub_id="allenai/cosmos_qa",
        train_splits=("train",),
        test_split="validation",  # Hub test labels are hidden (-1)
        formatter=format_cosmos_qa,
        required_fields=(
            "context",
            "question",
            "answer0",
            "answer1",
            "answer2",
            "answer3",
            "label",
        ),
    ),
    TaskSpec(
        name="quail",
        description="QuAIL: is this the answer to the question about the passage?",
        hub_id="textmachinelab/quail",
        train_splits=("train",),
        test_split="validation",  # `challenge` (556 questions) is left out
        formatter=format_quail,
        required_fields=("context", "question", "answers", "correct_answer_id"),
    ),
    TaskSpec(
        name="dream",
        description="DREAM: is this the answer to the question about the dialogue?",
        hub_id="dataset-org/dream",
        train_splits=("train",),
        test_split="test",
        formatter=format_dream,
        required_fields=("dialogue", "question", "choice", "answer"),
    ),
]
