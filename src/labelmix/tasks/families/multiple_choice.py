"""Question + answers tasks made binary: the text shows the question with either the correct answer
(label 1) or a random wrong one (label 0), 50/50 from the seeded rng that format_rows passes in."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from labelmix.tasks.base import TaskSpec, choice_pair
from labelmix.tasks.families.classification import text_field


def str_list(row: Mapping[str, Any], name: str) -> list[str]:
    """The stripped strings of a list field (answers, endings, dialogue turns)."""
    value = row[name]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"field {name!r} must be a list of strings, got {value!r}")
    return [v.strip() for v in value]


def choice_index(value: object, name: str, n_choices: int, offset: int = 0) -> int:
    """A 0-based answer index from an int or a digit string (social_i_qa and hellaswag store the
    index as a string; social_i_qa counts from 1, hence `offset`), checked against the number of
    choices so an out-of-range label is an error naming the field."""
    if isinstance(value, bool):
        raise TypeError(f"field {name!r} must be an answer index, got {value!r}")
    if isinstance(value, int):
        index = value - offset
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        index = int(value) - offset
    else:
        raise ValueError(f"field {name!r} must be an answer index, got {value!r}")
    if not 0 <= index < n_choices:
        raise ValueError(
            f"field {name!r} is {value!r}: outside the {n_choices} choices "
            f"({offset}..{n_choices - 1 + offset})"
        )
    return index


def keyed_choices(row: Mapping[str, Any], key_field: str = "answerKey") -> tuple[list[str], int]:
    """Answer texts and the correct index from `choices: {text: [...], label: ["A", ...]}` plus a
    letter key (openbookqa, quartz)."""
    choices = row["choices"]
    if not isinstance(choices, Mapping):
        raise TypeError(
            f"field 'choices' must be {{'text': [...], 'label': [...]}}, got {choices!r}"
        )
    texts = str_list(choices, "text")
    labels = str_list(choices, "label")
    key = text_field(row, key_field)
    if len(texts) != len(labels) or key not in labels:
        raise ValueError(f"field {key_field!r} is {key!r}: not one of the choice labels {labels}")
    return texts, labels.index(key)


def _norm(answer: str) -> str:
    return " ".join(answer.lower().split()).rstrip(".")


def answer_pair(answers: Sequence[str], correct: int, rng: random.Random) -> tuple[str, int] | None:
    """`choice_pair` over the answers, leaving out empty answers and wrong answers that read the same
    as the correct one (they would give one text two labels). None when no distinct wrong answer is
    left, so the row is skipped."""
    if not 0 <= correct < len(answers):
        raise ValueError(f"answer index {correct} outside 0..{len(answers) - 1}")
    right = answers[correct]
    if not right:
        return None
    wrong = [a for j, a in enumerate(answers) if j != correct and a and _norm(a) != _norm(right)]
    wrong = list(dict.fromkeys(wrong))
    if not wrong:
        return None
    return choice_pair([right, *wrong], 0, rng)


# HellaSwag's WikiHow items carry markup tokens on the Hub; the local text dump has them removed.
_TITLE_BREAK = re.compile(r"(?<=[^\s.!?:;])\s*\[title\]")
_MARKUP = re.compile(r"\[(?:header|title|step|substeps)\]")


def clean_hellaswag(text: str) -> str:
    """Drop `[header]`/`[title]`/`[step]`/`[substeps]`; a `[title]` ends a sentence (as in the
    official text dump, where " [title]" became ". ")."""
    text = _TITLE_BREAK.sub(".", text)
    text = _MARKUP.sub(" ", text)
    return " ".join(text.split())


def format_hellaswag(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    # label: the index of the right ending as a string "0".."3" ("" in the unlabelled Hub test)
    activity = clean_hellaswag(row.get("activity_label") or "")
    ctx = clean_hellaswag(text_field(row, "ctx"))
    endings = [clean_hellaswag(e) for e in str_list(row, "endings")]
    pair = answer_pair(endings, choice_index(row["label"], "label", len(endings)), rng)
    if pair is None:
        return None
    ending, label = pair
    head = f"Activity: {activity}\n" if activity else ""
    return f"{head}Context: {ctx}\nContinuation: {ending}", label


def format_sciq(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    question = text_field(row, "question")
    answers = [
        text_field(row, f) for f in ("correct_answer", "distractor1", "distractor2", "distractor3")
    ]
    pair = answer_pair(answers, 0, rng)
    if pair is None:
        return None
    return f"Question: {question}\nAnswer: {pair[0]}", pair[1]


def format_social_i_qa(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    # label: "1", "2" or "3" for answerA/B/C
    context = text_field(row, "context")
    question = text_field(row, "question")
    answers = [text_field(row, f) for f in ("answerA", "answerB", "answerC")]
    correct = choice_index(row["label"], "label", len(answers), offset=1)
    pair = answer_pair(answers, correct, rng)
    if pair is None:
        return None
    return f"Context: {context}\nQuestion: {question}\nAnswer: {pair[0]}", pair[1]


_LETTERS = "ABCDEFGH"


def format_mmlu(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    """The options are listed because some refer to each other ("All of the above", "Both A and
    B"); the label is about the proposed answer on the last line."""
    question = text_field(row, "question")
    choices = str_list(row, "choices")
    if len(choices) > len(_LETTERS):
        raise ValueError(f"field 'choices' has {len(choices)} options, at most {len(_LETTERS)}")
    pair = answer_pair(choices, choice_index(row["answer"], "answer", len(choices)), rng)
    if pair is None:
        return None
    subject = row.get("subject")
    head = f"Subject: {subject.replace('_', ' ')}\n" if isinstance(subject, str) and subject else ""
    options = "\n".join(f"{_LETTERS[j]}. {c}" for j, c in enumerate(choices))
    letter = _LETTERS[choices.index(pair[0])]
    text = f"{head}Question: {question}\nOptions:\n{options}\nAnswer: {letter}. {pair[0]}"
    return text, pair[1]


def format_piqa(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    # label: 0 = sol1, 1 = sol2 (-1 in the unlabelled Hub test)
    goal = text_field(row, "goal")
    solutions = [text_field(row, "sol1"), text_field(row, "sol2")]
    pair = answer_pair(solutions, choice_index(row["label"], "label", 2), rng)
    if pair is None:
        return None
    return f"Goal: {goal}\nSolution: {pair[0]}", pair[1]


def format_openbookqa(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    question = text_field(row, "question_stem")
    texts, correct = keyed_choices(row)
    pair = answer_pair(texts, correct, rng)
    if pair is None:
        return None
    return f"Question: {question}\nAnswer: {pair[0]}", pair[1]


def format_quartz(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
    # para: the qualitative fact the question is about; two choices
    fact = text_field(row, "para")
    question = text_field(row, "question")
    texts, correct = keyed_choices(row)
    pair = answer_pair(texts, correct, rng)
    if pair is None:
        return None
    return f"Fact: {fact}\nQuestion: {question}\nAnswer: {pair[0]}", pair[1]


SPECS: list[TaskSpec] = [
    TaskSpec(
        name="hellaswag",
        description="HellaSwag: is this the right continuation of the context?",
        hub_id="Rowan/hellaswag",
        train_splits=("train",),
        test_split="validation",  # Hub test labels are empty
        formatter=format_hellaswag,
        required_fields=("ctx", "endings", "label"),
    ),
    TaskSpec(
        name="sciq",
        description="SciQ: is this the answer to the science question?",
        hub_id="allenai/sciq",
        train_splits=("train",),
        test_split="test",
        formatter=format_sciq,
        required_fields=("question", "correct_answer", "distractor1", "distractor2", "distractor3"),
    ),
    TaskSpec(
        name="social_i_qa",
        description="Social IQa: is this the answer to the question about the social situation?",
        hub_id="allenai/social_i_qa",
        train_splits=("train",),
        test_split="validation",  # no labelled test split on the Hub
        formatter=format_social_i_qa,
        required_fields=("context", "question", "answerA", "answerB", "answerC", "label"),
    ),
    TaskSpec(
        name="mmlu",
        description="MMLU (all subjects): is the proposed option the right one?",
        hub_id="cais/mmlu",
        config="all",
        # MMLU has no in-distribution train split: `auxiliary_train` is other datasets (ARC,
        # OBQA, RACE, MCTest). Its 14k-question `test` plus the 5-shot `dev` feed weak_train and
        # pool; `validation` (1,531 questions) is held out as test. Numbers are therefore not
        # comparable with MMLU benchmark scores.
        train_splits=("test", "dev"),
        test_split="validation",
        formatter=format_mmlu,
        required_fields=("question", "choices", "answer"),
    ),
    TaskSpec(
        name="piqa",
        description="PIQA: does this solution achieve the physical goal?",
        # The authors' repo (canonical id). Its default revision is a loading script that
        # datasets>=4 no longer runs; read it from a local mirror (ybisk__piqa/default/) there.
        hub_id="ybisk/piqa",
        train_splits=("train",),
        test_split="validation",  # Hub test labels are hidden (-1)
        formatter=format_piqa,
        required_fields=("goal", "sol1", "sol2", "label"),
    ),
    TaskSpec(
        name="openbookqa",
        description="OpenBookQA (main): is this the answer to the science question?",
        hub_id="allenai/openbookqa",
        config="main",
        train_splits=("train",),
        test_split="test",
        formatter=format_openbookqa,
        required_fields=("question_stem", "choices", "answerKey"),
    ),
    TaskSpec(
        name="quartz",
        description="QuaRTz: is this the answer to the qualitative question about the fact?",
        hub_id="allenai/quartz",
        train_splits=("train",),
        test_split="test",
        formatter=format_quartz,
        required_fields=("question", "choices", "answerKey", "para"),
    ),
]
