"""Few-shot prompting: next-token log-odds of two target tokens after a k-shot prompt."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelmix.cache import VectorCache
from labelmix.errors import ConfigError
from labelmix.models.features import text_hash
from labelmix.models.loading import ModelRef, load_tokenizer, model_load_error, pick_device
from labelmix.paths import cache_dir
from labelmix.progress import progress


class PromptScorer:
    """log p(target_1) - log p(target_0) for the next token; cached per prompt text."""

    def __init__(
        self,
        ref: ModelRef,
        targets: tuple[str, str] = ("0", "1"),
        batch_size: int = 16,
        max_length: int = 2048,
        device: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.ref = ref
        self.targets = targets
        self.batch_size = batch_size
        self.max_length = max_length
        self._device_pref = device
        self._trust = trust_remote_code
        self._model = None
        self.tokenizer = load_tokenizer(ref, trust_remote_code)
        self.target_ids = [self._single_token(t) for t in targets]
        tag = "-".join(str(i) for i in self.target_ids)
        self.cache = VectorCache(cache_dir() / "icl" / ref.cache_key / tag)

    def _single_token(self, target: str) -> int:
        ids = self.tokenizer.encode(target, add_special_tokens=False)
        if len(ids) != 1:
            raise ConfigError(
                f"target {target!r} is {len(ids)} tokens for model {self.ref.name}; "
                "pick targets that are one token each"
            )
        return int(ids[0])

    def _ensure_model(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM

        self._device, dtype = pick_device(self._device_pref)
        try:
            model = AutoModelForCausalLM.from_pretrained(
                self.ref.location, dtype=dtype, trust_remote_code=self._trust
            )
        except Exception as e:  # missing or damaged weights, custom code
            raise model_load_error(self.ref, e) from None
        self._model = model.eval().to(self._device)

    def _compute(self, prompts: Sequence[str]) -> np.ndarray:
        import torch

        self._ensure_model()
        assert self._model is not None
        self.tokenizer.padding_side = "right"
        # a prompt over max_length loses its first shots, never its end (the text being scored)
        self.tokenizer.truncation_side = "left"
        order = np.argsort([len(p) for p in prompts])
        out = np.zeros(len(prompts), dtype=np.float32)
        with progress(total=len(prompts), desc=f"few-shot scores ({self.ref.name})") as bar:
            with torch.inference_mode():
                for s in range(0, len(prompts), self.batch_size):
                    idx = order[s : s + self.batch_size]
                    enc = self.tokenizer(
                        [prompts[i] for i in idx],
                        return_tensors="pt",
                        padding=True,
                        truncation=True,
                        max_length=self.max_length,
                    ).to(self._device)
                    logits = self._model(**enc).logits.float()
                    last = enc["attention_mask"].sum(1) - 1
                    final = torch.log_softmax(logits[torch.arange(len(idx)), last], dim=-1)
                    lo = final[:, self.target_ids[1]] - final[:, self.target_ids[0]]
                    out[idx] = lo.cpu().numpy()
                    bar.update(len(idx))
        return out

    def _compute_shared(self, prefix: str, texts: Sequence[str]) -> np.ndarray:
        """Score prefix + text for many texts, running the shared prefix once: its key/value
        cache is copied for every batch, so the demonstrations are not recomputed per input.
        Token ids come from tokenizing each whole prompt, so the result equals `_compute`; a
        prompt whose tokens do not start with the prefix's (a merge across the boundary) is
        scored whole."""
        import copy

        import torch

        self._ensure_model()
        assert self._model is not None
        tok = self.tokenizer
        full = [tok(prefix + t, add_special_tokens=True)["input_ids"] for t in texts]
        ref = tok(prefix + texts[0], add_special_tokens=True, return_offsets_mapping=True)
        p_len = sum(1 for _, end in ref["offset_mapping"] if end <= len(prefix))
        # Keep special tokens (e.g. BOS, offset (0, 0)) at the front of the prefix.
        prefix_ids = full[0][:p_len]
        shared = [i for i, ids in enumerate(full) if ids[:p_len] == prefix_ids and len(ids) > p_len]
        whole = sorted(set(range(len(texts))) - set(shared))
        out = np.zeros(len(texts), dtype=np.float32)
        if whole:
            out[whole] = self._compute([prefix + texts[i] for i in whole])
        if not shared:
            return out
        pad = tok.pad_token_id
        order = sorted(shared, key=lambda i: len(full[i]))
        with progress(total=len(shared), desc=f"few-shot scores ({self.ref.name})") as bar:
            with torch.inference_mode():
                pre_ids = torch.tensor([prefix_ids], device=self._device)
                pre = self._model(input_ids=pre_ids, use_cache=True)
                pre_cache = getattr(pre, "cache", None) or pre.past_key_values
                for s in range(0, len(order), self.batch_size):
                    idx = order[s : s + self.batch_size]
                    suffixes = [full[i][p_len:] for i in idx]
                    width = max(len(x) for x in suffixes)
                    ids = torch.full((len(idx), width), pad, dtype=torch.long)
                    mask = torch.zeros((len(idx), p_len + width), dtype=torch.long)
                    mask[:, :p_len] = 1
                    for r, x in enumerate(suffixes):
                        ids[r, : len(x)] = torch.tensor(x)
                        mask[r, p_len : p_len + len(x)] = 1
                    cache = copy.deepcopy(pre_cache)
                    cache.batch_repeat_interleave(len(idx))
                    logits = self._model(
                        input_ids=ids.to(self._device),
                        attention_mask=mask.to(self._device),
                        use_cache=True,
                        **{self._cache_kwarg(): cache},
                    ).logits.float()
                    last = torch.tensor([len(x) - 1 for x in suffixes])
                    final = torch.log_softmax(logits[torch.arange(len(idx)), last], dim=-1)
                    lo = final[:, self.target_ids[1]] - final[:, self.target_ids[0]]
                    out[idx] = lo.cpu().numpy()
                    bar.update(len(idx))
        return out

    def _cache_kwarg(self) -> str:
        """transformers 5.x renamed `past_key_values` to `cache`; use whichever forward takes."""
        import inspect

        params = inspect.signature(self._model.forward).parameters  # type: ignore[union-attr]
        return "cache" if "cache" in params else "past_key_values"

    def score_shared(self, prefix: str, texts: Sequence[str]) -> np.ndarray:
        """Scores of `prefix + text` for each text; cached per full prompt like `score`."""
        prompts = [prefix + t for t in texts]
        keys = [text_hash(p) for p in prompts]
        missing = set(self.cache.missing(keys))
        if missing:
            todo = [i for i, k in enumerate(keys) if k in missing]
            vals = self._compute_shared(prefix, [texts[i] for i in todo])
            seen: dict[str, float] = {}
            for i, v in zip(todo, vals, strict=True):
                seen.setdefault(keys[i], float(v))
            self.cache.put(list(seen), np.array(list(seen.values()))[:, None])
        return self.cache.get(keys)[:, 0].astype(np.float64)

    def score(self, prompts: Sequence[str]) -> np.ndarray:
        keys = [text_hash(p) for p in prompts]
        missing = self.cache.missing(keys)
        if missing:
            by_key = dict(zip(keys, prompts, strict=True))
            vals = self._compute([by_key[k] for k in missing])
            self.cache.put(missing, vals[:, None])
        return self.cache.get(keys)[:, 0].astype(np.float64)
