"""The probe trainer: a linear head on cached frozen features. Same stages, losses, sampling and
early stopping as LoRA, orders of magnitude cheaper, so full grids fit on a CPU."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from labelmix.errors import ConfigError
from labelmix.seeds import torch_seeded

HEAD_FILE = "head.safetensors"


class Features(Protocol):
    """What the probe needs of a feature source: a model's frozen features, or a user's own
    precomputed ones (labelmix.models.features.FeatureTable)."""

    layer: int | None

    def features(self, texts: Sequence[str], desc: str | None = None) -> np.ndarray: ...


class ProbeLearner:
    """Features are standardised with statistics of unlabelled texts (`fit_texts`), never of test
    labels; the head is one linear layer with a single log-odds output."""

    def __init__(self, extractor: Features, fit_texts: Sequence[str], seed: int) -> None:
        self.extractor: Features | None = extractor
        x = extractor.features(fit_texts, desc="features")
        self.mean = torch.as_tensor(x.mean(0))
        self.std = torch.as_tensor(x.std(0) + 1e-6)
        with torch_seeded(seed):
            self.head = torch.nn.Linear(x.shape[1], 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        if self.extractor is None:
            raise ConfigError(
                "this probe was trained on precomputed features: pass an (n, d) feature array"
            )
        return self.standardize(self.extractor.features(texts, desc="features"))

    def standardize(self, x: np.ndarray) -> torch.Tensor:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ConfigError(
                f"features must have shape (n, {self.mean.shape[0]}); got {tuple(x.shape)}"
            )
        return (torch.as_tensor(x) - self.mean) / self.std

    def forward(self, encoded: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        return self.head(encoded[torch.as_tensor(idx)]).squeeze(-1)

    def predict(self, encoded: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self.head(encoded).squeeze(-1).numpy().astype(np.float64)

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.head.parameters())

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.head.state_dict().items()}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        self.head.load_state_dict(state)

    def train_mode(self, on: bool) -> None:
        self.head.train(on)

    def save(self, folder: Path) -> dict[str, object]:
        """Head and standardisation to `folder`; returns what a manifest needs to load it."""
        from safetensors.torch import save_file

        save_file(
            {
                "weight": self.head.weight.detach().contiguous(),
                "bias": self.head.bias.detach().contiguous(),
                "mean": self.mean.contiguous(),
                "std": self.std.contiguous(),
            },
            str(folder / HEAD_FILE),
        )
        return {"layer": self.extractor.layer if self.extractor is not None else None}

    @classmethod
    def load(cls, folder: Path, extractor: Features | None) -> ProbeLearner:
        from safetensors.torch import load_file

        path = folder / HEAD_FILE
        try:
            w = load_file(str(path))
            d = w["weight"].shape[-1]
            shapes = {"weight": (1, d), "bias": (1,), "mean": (d,), "std": (d,)}
            bad = [k for k, shape in shapes.items() if tuple(w[k].shape) != shape]
            if bad:
                raise ValueError(f"tensor(s) {bad} of the wrong shape")
            if not all(torch.isfinite(w[k]).all() for k in shapes):
                raise ValueError("NaN or infinite weights")
        except Exception as e:  # missing, truncated, not safetensors, wrong tensors
            why = "missing" if not path.exists() else f"{type(e).__name__}: {e}"
            raise ConfigError(
                f"{path} is damaged ({' '.join(why.split())[:160]}); save the classifier again"
            ) from None
        learner = cls.__new__(cls)
        learner.extractor = extractor
        learner.mean, learner.std = w["mean"], w["std"]
        with torch_seeded(0):  # its random init is overwritten next; the caller's RNG is kept
            learner.head = torch.nn.Linear(w["weight"].shape[1], 1)
        learner.head.load_state_dict({"weight": w["weight"], "bias": w["bias"]})
        learner.train_mode(False)
        return learner
