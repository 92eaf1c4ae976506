"""The trained classifier a run leaves behind: saved to a folder, loaded back, applied to new texts.

A folder holds `labelmix_classifier.json` (trainer, model, layer, threshold, the few-shot prefix
bank if the method used one, the run's key) and the weights: `head.safetensors` for the probe
(linear head plus the feature standardisation), a peft adapter for lora."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelmix.atomic import atomic_write_json
from labelmix.errors import ConfigError

MANIFEST = "labelmix_classifier.json"


def save_classifier(
    folder: Path,
    learner: Any,
    trainer: str,
    model: str,
    layer: int | None,
    bank: Sequence[tuple[str, int]],
    k_shots: int,
    seed: int,
    run_key: str,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if trainer == "probe":
        from safetensors.torch import save_file

        save_file(
            {
                "weight": learner.head.weight.detach().contiguous(),
                "bias": learner.head.bias.detach().contiguous(),
                "mean": learner.mean.contiguous(),
                "std": learner.std.contiguous(),
            },
            str(folder / "head.safetensors"),
        )
        layer = learner.extractor.layer
    elif trainer == "lora":
        learner.model.save_pretrained(str(folder / "adapter"))
    else:
        raise ConfigError(f"trainer {trainer!r} leaves no classifier to save")
    atomic_write_json(
        folder / MANIFEST,
        {
            "trainer": trainer,
            "model": model,
            "layer": layer,
            "threshold": 0.0,
            "threshold_meaning": "log-odds > 0 (probability > 0.5)",
            "k_shots": k_shots,
            "bank": [[t, int(y)] for t, y in bank],
            "seed": seed,
            "run_key": run_key,
        },
    )
    return folder


class SavedClassifier:
    """Scores new texts with a saved classifier: probability of label 1 and the label."""

    def __init__(self, folder: Path) -> None:
        path = folder / MANIFEST
        if not path.is_file():
            raise ConfigError(
                f"{folder} holds no labelmix classifier ({MANIFEST} missing); "
                "make one with `labelmix run ... --save-model DIR`"
            )
        self.folder = folder
        self.meta = json.loads(path.read_text())
        self._prefix = None
        if self.meta["k_shots"]:
            from labelmix.run import Prefixer
            from labelmix.tasks.base import Example

            bank = [(Example.make(t, int(y)), int(y)) for t, y in self.meta["bank"]]
            self._prefix = Prefixer(bank, self.meta["k_shots"], self.meta["seed"])

    def _inputs(self, texts: Sequence[str]) -> list[str]:
        if self._prefix is None:
            return list(texts)
        from labelmix.tasks.base import Example

        return [self._prefix(Example.make(t, 0)) for t in texts]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from labelmix.models.loading import resolve_model

        inputs = self._inputs(texts)
        ref = resolve_model(self.meta["model"])
        if self.meta["trainer"] == "probe":
            from safetensors.torch import load_file

            from labelmix.models.features import FeatureExtractor

            w = load_file(str(self.folder / "head.safetensors"))
            x = torch.as_tensor(FeatureExtractor(ref, layer=self.meta["layer"]).features(inputs))
            z = ((x - w["mean"]) / w["std"]) @ w["weight"].T + w["bias"]
            return z.squeeze(-1).numpy().astype(np.float64)
        from labelmix.models.lora import LoraLearner

        learner = LoraLearner(ref, seed=0, adapter_dir=str(self.folder / "adapter"))
        learner.train_mode(False)
        return learner.predict(inputs)

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        z = self.logits(texts)
        return 1.0 / (1.0 + np.exp(-z)), (z > self.meta["threshold"]).astype(int)
