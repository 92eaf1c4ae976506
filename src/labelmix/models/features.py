"""Frozen features of texts (last token for decoders, mean over tokens for encoders) with an
on-disk cache keyed by model, layer, pooling and text hash.

The cache is a folder of shards; each extraction that finds missing texts writes one new shard
atomically, so concurrent runs never corrupt it (at worst two runs compute the same texts)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import numpy as np

from labelmix.cache import VectorCache
from labelmix.errors import ConfigError
from labelmix.models.loading import (
    KEEP_SIDE,
    ModelRef,
    load_config,
    load_tokenizer,
    may_be_cut,
    model_kind,
    model_load_error,
    pick_device,
)
from labelmix.paths import cache_dir
from labelmix.progress import progress


@functools.lru_cache(maxsize=1 << 17)  # a sweep looks the same pool texts up run after run
def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


FEATURE_WINDOW = 512  # tokens of a text the features see (its end, if longer)


class FeatureExtractor:
    """Loads the model once; `features(texts)` returns an (n, d) float32 array, cached on disk."""

    def __init__(
        self,
        ref: ModelRef,
        layer: int | None = None,
        batch_size: int = 32,
        max_length: int = FEATURE_WINDOW,
        device: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.ref = ref
        self.kind = model_kind(ref, trust_remote_code)
        self.pooling = "last" if self.kind == "decoder" else "mean"
        self.batch_size = batch_size
        self.max_length = max_length
        self._device_pref = device
        self._trust = trust_remote_code
        self._model = None
        self._tokenizer = None
        n_layers = load_config(ref, trust_remote_code).num_hidden_layers
        self.layer = default_layer(n_layers, self.kind) if layer is None else layer
        if not -n_layers - 1 <= self.layer <= n_layers:
            raise ConfigError(f"layer {self.layer} outside 0..{n_layers} for model {ref.name}")
        self.folder = cache_dir() / "features" / ref.cache_key / f"{self.pooling}-L{self.layer}"
        self.cache = VectorCache(self.folder)
        self._long_keys: dict[str, str] = {}

    def _ensure_model(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel

        device, dtype = pick_device(self._device_pref)
        self._load_tokenizer()
        try:
            model = AutoModel.from_pretrained(
                self.ref.location, dtype=dtype, trust_remote_code=self._trust
            )
        except Exception as e:  # missing or damaged weights, custom code
            raise model_load_error(self.ref, e) from None
        truncate_layers(model, self.layer)
        model.eval().to(device)
        self._model = model
        self._device = device

    def _load_tokenizer(self):  # type: ignore[no-untyped-def]
        """The tokenizer, loaded once: it tells which long texts the window cuts (no weights
        needed) and feeds the model."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.ref, self._trust)
            self._tokenizer.padding_side = "right"
        return self._tokenizer

    def release(self) -> None:
        """Drop the loaded weights (the cache stays): a sweep's parent process computes the
        features up front and must not hold a model in memory beside its workers."""
        self._model = None
        self._tokenizer = None

    def _compute(self, texts: Sequence[str], desc: str) -> np.ndarray:
        import torch

        self._ensure_model()
        assert self._model is not None and self._tokenizer is not None
        order = np.argsort([len(t) for t in texts])
        chunks: list[tuple[np.ndarray, np.ndarray]] = []
        with progress(total=len(texts), desc=desc) as bar, torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self._tokenizer(
                    [texts[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                ).to(self._device)
                hidden = self._model(**enc, output_hidden_states=True).hidden_states[self.layer]
                mask = enc["attention_mask"]
                if self.pooling == "last":
                    last = mask.sum(dim=1) - 1
                    feats = hidden[torch.arange(hidden.shape[0]), last]
                else:
                    m = mask.unsqueeze(-1).to(hidden.dtype)
                    feats = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
                chunks.append((idx, feats.float().cpu().numpy()))
                bar.update(len(idx))
        dim = chunks[0][1].shape[1] if chunks else 0
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for idx, feats in chunks:
            out[idx] = feats
        return out

    def _key(self, text: str) -> str:
        """The text's cache key: its hash, marked when the window cuts the text, whose features
        then depend on which end is kept (caches written before the end was kept hold the
        start's under the plain hash)."""
        if not may_be_cut(text, self.max_length):
            return text_hash(text)
        if text not in self._long_keys:
            n = len(self._load_tokenizer()(text, truncation=False)["input_ids"])
            self._long_keys[text] = text_hash(
                f"{KEEP_SIDE}-cut:{text}" if n > self.max_length else text
            )
        return self._long_keys[text]

    def features(self, texts: Sequence[str], desc: str = "features") -> np.ndarray:
        hashes = [self._key(t) for t in texts]
        if not hashes:
            return np.zeros((0, 0), np.float32)
        missing = self.cache.missing(hashes)
        if missing:
            by_hash = dict(zip(hashes, texts, strict=True))
            x = self._compute(
                [by_hash[h] for h in missing], desc=f"{desc} ({self.ref.name}, L{self.layer})"
            )
            self.cache.put(missing, x)
        return self.cache.get(hashes)


class FeatureTable:
    """A user's own precomputed features, one row per text: the probe trains on them as it would on
    a model's. Texts outside the table have no features, and asking for them says so."""

    layer: int | None = None

    def __init__(self, texts: Sequence[str], features: np.ndarray, name: str = "precomputed"):
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != len(texts):
            raise ConfigError(
                f"features must be a 2-D array with one row per text: got shape {x.shape} "
                f"for {len(texts)} texts"
            )
        if not np.isfinite(x).all():
            raise ConfigError("features hold NaN or infinite values; clean or impute them first")
        self.name = name
        self._rows = {t: i for i, t in enumerate(texts)}
        self._x = x

    def features(self, texts: Sequence[str], desc: str | None = None) -> np.ndarray:
        missing = [t for t in texts if t not in self._rows]
        if missing:
            raise ConfigError(
                f"{len(missing)} text(s) have no precomputed features, e.g. {missing[0][:60]!r}: "
                "pass features for every text you score (a classifier trained on precomputed "
                "features scores feature rows: predict_proba(array))"
            )
        if not texts:
            return np.zeros((0, self._x.shape[1]), np.float32)
        return self._x[[self._rows[t] for t in texts]]


def default_layer(n_layers: int, kind: str) -> int:
    """Encoders: the last layer (sentence embeddings are trained there). Decoders: two thirds of
    the way up, where linear probes of truthfulness tend to read best."""
    if kind == "encoder":
        return n_layers
    return max(1, round(n_layers * 2 / 3))


def truncate_layers(model: object, layer: int) -> None:
    """Drop the blocks above `layer` (its features never need them): hidden_states[layer] is the
    input of block `layer`, so keep blocks 0..layer (the last entry would be normed otherwise)."""
    layers = getattr(model, "layers", None)
    if layers is None or not hasattr(layers, "__len__"):
        return
    if 0 <= layer < len(layers) - 1:
        model.layers = layers[: layer + 1]  # type: ignore[attr-defined]
