"""Shared fixtures: a per-session cache folder, and tiny models built from configs.

No machine here reaches the Hugging Face Hub, so the tiny models (2 layers, hidden size 32) and
their tokenizer are made locally: a byte-level BPE tokenizer trained on a few hundred words (every
byte, so the digits "0" and "1", is a single token, and any text encodes without unknowns), saved
with randomly initialised weights to a folder `from_pretrained` and `resolve_model` accept.

Environment, set once when pytest starts (before anything reads it):
- LABELMIX_CACHE_DIR: a fresh temp folder, removed at the end, unless already set (CI points it
  at a shared folder so the bundled GGUF conversion is reused between runs).
- LABELMIX_PROGRESS=0: no progress bars in test output.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_OWN_CACHE_DIR: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _OWN_CACHE_DIR
    if not os.environ.get("LABELMIX_CACHE_DIR"):
        _OWN_CACHE_DIR = tempfile.mkdtemp(prefix="labelmix-test-cache-")
        os.environ["LABELMIX_CACHE_DIR"] = _OWN_CACHE_DIR
    os.environ["LABELMIX_PROGRESS"] = "0"


# The quick tier (`make test-fast`, `-m "not slow"`) leaves these out: the bundled models run
# end to end, Ray, subprocess CLIs and the bootstrap power studies. `make test` runs everything.
SLOW_TESTS = {
    "test_bundled_defaults_known_answer",
    "test_bundled_smollm2_features",
    "test_bundled_smollm2_few_shot_ranks_true_above_false",
    "test_ray_backend_gives_the_local_table",
    "test_ray_backend_matches_local",
    "test_cli_sweep_then_report_then_recommend",
    "test_predict_cli",
    "test_saved_classifier_reproduces_the_runs_test_scores",
    "test_readme_library_example_runs_as_written",
    "test_all_equal_says_mixed_rarely",
    "test_all_equal_rarely_calls_an_end_either",
    "test_a_truly_better_mixed_point_is_found",
    "test_sigkill_halfway_then_resume",
    "test_a_run_leaves_torchs_global_generator_as_it_found_it",
    "test_lora_trainer_loss_falls",
    "test_weak_labels_of_a_relabelled_file_are_not_served_from_the_cache",
    "test_after_prefetch_runs_extract_nothing_and_give_the_same_results",
    "test_readme_label_your_own_data_walkthrough",
    "test_kill9_at_random_moments_of_a_series_of_imports",
    "test_train_with_the_lora_trainer",
    "test_gpu_check_runs_tiny_on_cpu",
    "test_throughput_benchmark_runs_tiny",
    "test_the_built_in_prior_matches_the_committed_store",
    "test_advise_on_cities_with_tiny_models",
    "test_advise_cli_refusals_and_a_file_task",
}
SLOW_MODULES = {"test_tasks_shared_data.py"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seen = set()
    for item in items:
        name = getattr(item, "originalname", None) or item.name
        seen.add(name)
        if name in SLOW_TESTS or item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    every_file = {p.name for p in Path(__file__).parent.glob("test_*.py")}
    if {item.path.name for item in items} == every_file and not config.option.keyword:
        stale = sorted(SLOW_TESTS - seen)
        if stale:  # a renamed slow test would otherwise join the quick tier unnoticed
            raise pytest.UsageError(f"SLOW_TESTS names tests that do not exist: {stale}")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _OWN_CACHE_DIR
    if _OWN_CACHE_DIR is not None:
        if os.environ.get("LABELMIX_CACHE_DIR") == _OWN_CACHE_DIR:
            del os.environ["LABELMIX_CACHE_DIR"]
        shutil.rmtree(_OWN_CACHE_DIR, ignore_errors=True)
        _OWN_CACHE_DIR = None


# ---------------------------------------------------------------------------------------------
# Tiny tokenizer and models
# ---------------------------------------------------------------------------------------------

TINY_HIDDEN = 32
TINY_LAYERS = 2
TINY_SEED = 0

_WORDS = """
the a an of in on at to from by with for and or not is are was were be been has have had do does
did this that these those it its he she they we you i me my our your their his her them us who
what which where when why how all some any many much more most few less one two three four five
six seven eight nine ten first last next new old big small long short high low good bad great
awful true false yes no right wrong best worst nice poor happy sad fine kind cruel fast slow hot
cold warm cool dark light early late easy hard open closed full empty rich clean dirty strong weak
city country town village river mountain lake sea ocean island capital state region north south
east west coast border land road bridge street house home school market church park station port
paris france berlin germany madrid spain rome italy london england tokyo japan cairo egypt lima
peru moscow russia delhi india beijing china ottawa canada mexico brazil chile norway sweden
poland greece turkey kenya ghana nigeria vienna austria lisbon portugal dublin ireland oslo athens
cat dog bird fish horse cow sheep lion tiger bear wolf fox mouse rabbit snake frog duck goat pig
man woman child boy girl king queen friend teacher doctor farmer student writer singer player
eat drink sleep run walk talk read write sing play work think know see hear like love hate want
go come make take give find tell ask use try leave call keep help show move live believe bring
movie film book song story game food water bread wine coffee tea music art news word name time
day night year week month morning evening today tomorrow yesterday always never often sometimes
very really quite too also just only still even again here there now then well so but because
label answer question statement example sentence review plot acting script ending scene actor
""".split()


def tiny_corpus(n: int = 400, seed: int = TINY_SEED) -> list[str]:
    """Sentences from the word list, some in the shape of the `cities` task, some with labels."""
    rng = random.Random(seed)
    out = [" ".join(_WORDS), " ".join(w.capitalize() for w in _WORDS), "0 1 2 3 4 5 6 7 8 9"]
    for i in range(n):
        words = rng.choices(_WORDS, k=rng.randint(4, 12))
        text = " ".join(words).capitalize() + "."
        if i % 3 == 0:
            text = f"The city of {rng.choice(_WORDS).capitalize()} is in {rng.choice(_WORDS)}."
        out.append(f"{text}\n{i % 2}\n" if i % 2 else text)
    return out


def build_tiny_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE `PreTrainedTokenizerFast` with <pad>, <eos> (also BOS) and <unk>; it adds no
    special tokens when encoding and returns only input_ids and attention_mask."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<eos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tiny_corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<eos>",
        unk_token="<unk>",
        model_max_length=512,
        model_input_names=["input_ids", "attention_mask"],
    )


def _save_tiny(model: Any, tokenizer: Any, folder: Path) -> Path:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _decoder_kwargs(tokenizer: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": TINY_HIDDEN,
        "intermediate_size": 2 * TINY_HIDDEN,
        "num_hidden_layers": TINY_LAYERS,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "initializer_range": 0.1,
        "tie_word_embeddings": False,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }


def build_tiny_llama(folder: Path, tokenizer: Any, num_hidden_layers: int = TINY_LAYERS) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(**{**_decoder_kwargs(tokenizer), "num_hidden_layers": num_hidden_layers})
    with torch.random.fork_rng():
        torch.manual_seed(TINY_SEED)
        model = LlamaForCausalLM(cfg)
    return _save_tiny(model, tokenizer, folder)


def build_tiny_qwen2(folder: Path, tokenizer: Any) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(**_decoder_kwargs(tokenizer))
    with torch.random.fork_rng():
        torch.manual_seed(TINY_SEED + 1)
        model = Qwen2ForCausalLM(cfg)
    return _save_tiny(model, tokenizer, folder)


def build_tiny_bert(folder: Path, tokenizer: Any) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=TINY_HIDDEN,
        intermediate_size=2 * TINY_HIDDEN,
        num_hidden_layers=TINY_LAYERS,
        num_attention_heads=4,
        max_position_embeddings=512,
        initializer_range=0.1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(TINY_SEED + 2)
        model = BertModel(cfg)
    return _save_tiny(model, tokenizer, folder)


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    """The byte-level BPE tokenizer the tiny models share (a `PreTrainedTokenizerFast`)."""
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Any) -> Iterator[Path]:
    """Folder of a 2-layer Llama causal LM (hidden 32, 4 heads, 2 KV heads) and its tokenizer;
    `resolve_model(str(tiny_llama))` accepts it. Decoder: last-token features, LoRA, prompting."""
    yield build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"), tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Any) -> Iterator[Path]:
    """Folder of a 2-layer Qwen2 causal LM (hidden 32, q/k/v biases) and its tokenizer."""
    yield build_tiny_qwen2(tmp_path_factory.mktemp("tiny_qwen2"), tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Any) -> Iterator[Path]:
    """Folder of a 2-layer BERT encoder (hidden 32, no dropout) and its tokenizer; mean pooling."""
    yield build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), tiny_tokenizer)
