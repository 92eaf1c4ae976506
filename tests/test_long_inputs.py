"""Long inputs keep what decides the label: the task formatters put the passage first and the
question and proposed answer last, so every tokenizer labelmix loads cuts a too-long text from
the left. Checked on a long example in each trainer (features for the probe, the lora trainer,
the finetuned weak labeler) and in the feature cache's keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelmix.models.features import FeatureExtractor, text_hash
from labelmix.models.loading import load_tokenizer, resolve_model

TAIL = "\nQuestion: which city is in the north?\nAnswer: the city of Paris is in France."


def _long(start_word: str, n: int = 120) -> str:
    return "Passage: " + " ".join([start_word] * n) + TAIL


def _ends_with(row: list[int], tail: list[int]) -> bool:
    return len(row) >= len(tail) and row[-len(tail) :] == tail


def test_every_tokenizer_keeps_the_end_of_a_long_text(tiny_bert: Path, tiny_llama: Path) -> None:
    for folder in (tiny_bert, tiny_llama):
        tok = load_tokenizer(resolve_model(str(folder)))
        full = tok(_long("apple"), truncation=False)["input_ids"]
        cut = tok(_long("apple"), truncation=True, max_length=24)["input_ids"]
        assert len(full) > 24 and len(cut) == 24
        plain = tok(TAIL, add_special_tokens=False)["input_ids"]
        # The answer's last tokens survive (for BERT before its closing [SEP]).
        body = cut[:-1] if tok.sep_token_id is not None and cut[-1] == tok.sep_token_id else cut
        assert body[-8:] == plain[-8:]


@pytest.mark.parametrize("model", ["tiny_bert", "tiny_llama"])
def test_features_of_long_texts_depend_on_their_end_only(
    model: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELMIX_CACHE_DIR", str(tmp_path))
    ref = resolve_model(str(request.getfixturevalue(model)))
    fx = FeatureExtractor(ref, max_length=16)
    a, b = _long("apple"), _long("river")  # same last 16 tokens, different beginnings
    other = "Passage: apple apple\nQuestion: which city?\nAnswer: the city of Rome is in Peru."
    x = fx.features([a, b, other])
    assert np.allclose(x[0], x[1], atol=1e-6)
    assert not np.allclose(x[0], x[2], atol=1e-3)
    # A cut text is cached under its own key; a short one under its plain hash.
    short = "The city of Paris is in France."
    assert fx._key(short) == text_hash(short)
    assert fx._key(a) != text_hash(a)
    again = FeatureExtractor(ref, max_length=16).features([a, b, other])  # from the cache
    assert np.array_equal(again, x)


def test_lora_and_finetune_trainers_keep_the_end(tiny_llama: Path, tiny_bert: Path) -> None:
    from labelmix.models.lora import LoraLearner
    from labelmix.train.weak_finetune import FinetuneLearner

    ref = resolve_model(str(tiny_llama))
    lora = LoraLearner(ref, seed=0, max_length=20)
    tail = load_tokenizer(ref)(TAIL, add_special_tokens=False)["input_ids"][-8:]
    enc = lora.encode([_long("apple"), _long("river")])
    rows = [list(enc.ids[i, : enc.lengths[i]]) for i in range(2)]
    assert all(len(r) == 20 and _ends_with(r, tail) for r in rows)
    assert rows[0] == rows[1]  # the beginnings differ, the windows do not

    bert = resolve_model(str(tiny_bert))
    ft = FinetuneLearner(bert, seed=0, max_length=20)
    tok = load_tokenizer(bert)
    tail_b = tok(TAIL, add_special_tokens=False)["input_ids"][-8:]
    for row in ft.encode([_long("apple")]):
        body = row[:-1] if tok.sep_token_id is not None and row[-1] == tok.sep_token_id else row
        assert len(row) == 20 and body[-8:] == tail_b


def test_finetuned_labels_of_cut_texts_are_cached_apart(tiny_bert: Path) -> None:
    """The finetuned labeler's cache key says when its window cuts a text, so labels cached
    when the start was kept are not served for a long-text task; short-text tasks keep theirs."""
    from types import SimpleNamespace

    from labelmix.tasks.base import Example
    from labelmix.train.weak_labeler import _window_cuts

    ref = resolve_model(str(tiny_bert))
    short = [Example.make(f"The city of Town{i} is in France.", i % 2) for i in range(6)]
    fits = SimpleNamespace(weak_train=short, pool=short, test=short)
    cut = SimpleNamespace(weak_train=short, pool=[*short, Example.make(_long("apple"), 1)], test=[])
    assert not _window_cuts(ref, fits, 128)
    assert _window_cuts(ref, cut, 128)
    assert not _window_cuts(ref, cut, 100_000)
