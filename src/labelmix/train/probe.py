"""The probe trainer: a linear head on cached frozen features. Same stages, losses, sampling and
early stopping as LoRA, orders of magnitude cheaper, so full grids fit on a CPU."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from labelmix.models.features import FeatureExtractor


class ProbeLearner:
    """Features are standardised with statistics of unlabelled texts (`fit_texts`), never of test
    labels; the head is one linear layer with a single log-odds output."""

    def __init__(self, extractor: FeatureExtractor, fit_texts: Sequence[str], seed: int) -> None:
        self.extractor = extractor
        x = extractor.features(fit_texts, desc="features")
        self.mean = torch.as_tensor(x.mean(0))
        self.std = torch.as_tensor(x.std(0) + 1e-6)
        torch.manual_seed(seed)
        self.head = torch.nn.Linear(x.shape[1], 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        x = torch.as_tensor(self.extractor.features(texts, desc="features"))
        return (x - self.mean) / self.std

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
