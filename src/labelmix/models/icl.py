"""Few-shot prompting: next-token log-odds of two target tokens after a k-shot prompt."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelmix.cache import VectorCache
from labelmix.errors import ConfigError
from labelmix.models.features import text_hash
from labelmix.models.loading import ModelRef, load_tokenizer, pick_device
from labelmix.paths import cache_dir
from labelmix.progress import progress


def format_shot(text: str, label: int) -> str:
    """One demonstration: text, newline, label, blank line."""
    return f"{text}\n{label}\n\n"


def build_prompt(shots: Sequence[tuple[str, int]], text: str) -> str:
    return "".join(format_shot(t, y) for t, y in shots) + f"{text}\n"


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
        model = AutoModelForCausalLM.from_pretrained(
            self.ref.location, dtype=dtype, trust_remote_code=self._trust
        )
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

    def score(self, prompts: Sequence[str]) -> np.ndarray:
        keys = [text_hash(p) for p in prompts]
        missing = self.cache.missing(keys)
        if missing:
            by_key = dict(zip(keys, prompts, strict=True))
            vals = self._compute([by_key[k] for k in missing])
            self.cache.put(missing, vals[:, None])
        return self.cache.get(keys)[:, 0].astype(np.float64)
