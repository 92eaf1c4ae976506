"""The trained classifier a run leaves behind: applied to new texts, saved to a folder, loaded back.

A folder holds `labelmix_classifier.json` (trainer, model, layer, threshold, the few-shot prefix
bank if the method used one, the run's key) and whatever the learner saves of itself:
`head.safetensors` for the probe (linear head plus the feature standardisation), a peft adapter
for lora. Each learner owns its save and load; this module only adds the manifest and the prefix."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelmix.atomic import atomic_write_json
from labelmix.errors import ConfigError, LabelmixError
from labelmix.models.loading import KEEP_SIDE
from labelmix.prompts import Prefixer
from labelmix.tasks.base import Example

MANIFEST = "labelmix_classifier.json"
THRESHOLD_MEANING = "log-odds > 0 (probability > 0.5)"
# The model name recorded for a probe trained on a user's own feature array.
PRECOMPUTED = "precomputed"


class Classifier:
    """A binary classifier: P(label 1) for texts (or, for a probe on precomputed features, for
    feature rows), and the label at log-odds 0."""

    def __init__(
        self,
        learner: Any,
        trainer: str,
        model: str,
        prefixer: Prefixer | None = None,
        seed: int = 0,
        run_key: str = "",
    ) -> None:
        if trainer not in ("probe", "lora"):
            raise ConfigError(f"trainer {trainer!r} leaves no classifier (only probe and lora do)")
        self.learner = learner
        self.trainer = trainer
        self.model = model
        self.prefixer = prefixer
        self.seed = seed
        self.run_key = run_key
        self.threshold = 0.0

    @property
    def k_shots(self) -> int:
        return self.prefixer.k if self.prefixer is not None else 0

    def _inputs(self, texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise ConfigError("pass a list of texts, not a single string")
        if self.prefixer is None or self.prefixer.k == 0:
            return list(texts)
        return [self.prefixer(Example.make(t, 0)) for t in texts]

    def logits(self, inputs: Sequence[str] | np.ndarray) -> np.ndarray:
        """Log-odds of label 1. `inputs`: texts, or (probe only) an (n, d) array of features."""
        if isinstance(inputs, np.ndarray) and inputs.dtype.kind not in "biuf":
            inputs = [str(t) for t in inputs.ravel()]  # e.g. df.text.to_numpy(): texts
        elif not isinstance(inputs, np.ndarray | str):
            inputs = list(inputs)
            if inputs and not all(isinstance(t, str) for t in inputs):
                if all(isinstance(t, Sequence | np.ndarray) for t in inputs):
                    inputs = np.asarray(inputs, dtype=np.float32)  # rows of features
                else:
                    raise ConfigError("pass a list of texts (strings) or a numeric feature array")
        if isinstance(inputs, np.ndarray):
            if self.trainer != "probe":
                raise ConfigError("a lora classifier scores texts, not feature arrays")
            if self.k_shots:
                raise ConfigError("this classifier puts a few-shot prefix on texts: pass texts")
            return self.learner.predict(self.learner.standardize(inputs))
        return self.learner.predict(self.learner.encode(self._inputs(inputs)))

    def predict_proba(self, inputs: Sequence[str] | np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(inputs)))

    def predict(self, inputs: Sequence[str] | np.ndarray) -> np.ndarray:
        return (self.logits(inputs) > self.threshold).astype(int)

    def save(self, folder: Path | str) -> Path:
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"cannot save a classifier to {folder}: it is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        extra = self.learner.save(folder)
        bank = self.prefixer.bank if self.prefixer is not None else []
        atomic_write_json(
            folder / MANIFEST,
            {
                "trainer": self.trainer,
                "model": self.model,
                "layer": extra.get("layer"),
                "max_length": extra.get("max_length"),
                "truncation_side": KEEP_SIDE,
                "load_in_4bit": bool(extra.get("load_in_4bit", False)),
                "threshold": self.threshold,
                "threshold_meaning": THRESHOLD_MEANING,
                "k_shots": self.k_shots,
                "bank": [[e.text, int(y)] for e, y in bank],
                "seed": self.seed,
                "run_key": self.run_key,
            },
        )
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> Classifier:
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.is_file():
            raise ConfigError(
                f"{folder} holds no labelmix classifier ({MANIFEST} missing); "
                "make one with `labelmix run ... --save-model DIR` or `Classifier.save`"
            )
        meta = _read_manifest(path)
        trainer, model = meta["trainer"], meta["model"]
        prefixer = None
        if meta.get("k_shots"):
            bank = [(Example.make(t, y), y) for t, y in meta["bank"]]
            prefixer = Prefixer(bank, meta["k_shots"], meta.get("seed", 0))
        learner = _load_learner(folder, meta)
        clf = cls(learner, trainer, model, prefixer, meta.get("seed", 0), meta.get("run_key", ""))
        clf.threshold = float(meta.get("threshold", 0.0))
        return clf


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest, every field checked: an edited or truncated one is one clear line, never a
    traceback from deep inside a learner."""

    def damaged(why: str) -> ConfigError:
        return ConfigError(f"{path} is damaged ({why}); save the classifier again")

    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise damaged(f"not JSON: {e}") from None
    if not isinstance(meta, dict):
        raise damaged(f"a JSON object expected, found {type(meta).__name__}")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    checks: dict[str, tuple[bool, bool]] = {  # field -> (required, valid)
        "trainer": (True, meta.get("trainer") in ("probe", "lora")),
        "model": (True, isinstance(meta.get("model"), str) and bool(meta.get("model"))),
        "layer": (False, meta.get("layer") is None or is_int(meta.get("layer"))),
        "max_length": (False, meta.get("max_length") is None or is_int(meta.get("max_length"))),
        "load_in_4bit": (False, isinstance(meta.get("load_in_4bit", False), bool)),
        "threshold": (
            False,
            isinstance(meta.get("threshold", 0.0), int | float)
            and not isinstance(meta.get("threshold", 0.0), bool)
            and np.isfinite(meta.get("threshold", 0.0)),
        ),
        "k_shots": (False, is_int(meta.get("k_shots", 0)) and meta.get("k_shots", 0) >= 0),
        "seed": (False, is_int(meta.get("seed", 0)) and meta.get("seed", 0) >= 0),
        "run_key": (False, isinstance(meta.get("run_key", ""), str)),
        "truncation_side": (False, meta.get("truncation_side", KEEP_SIDE) in ("left", "right")),
    }
    for name, (required, valid) in checks.items():
        if required and name not in meta:
            raise damaged(f"no field {name!r}")
        if not valid:
            raise damaged(f"field {name!r} is {meta.get(name)!r}")
    # Manifests from before the field was written were all cut from KEEP_SIDE.
    side = meta.get("truncation_side", KEEP_SIDE)
    if side != KEEP_SIDE:
        raise ConfigError(
            f"{path} was saved by a labelmix that cut long texts from the {side}; this one cuts "
            f"from the {KEEP_SIDE} (it keeps the end of a long text), so the scores would differ. "
            "Load it with the labelmix that saved it, or train it again with this one"
        )
    if meta.get("k_shots"):
        bank = meta.get("bank")
        if not (
            isinstance(bank, list)
            and len(bank) > meta["k_shots"]
            and all(
                isinstance(b, list)
                and len(b) == 2
                and isinstance(b[0], str)
                and b[0].strip()
                and b[1] in (0, 1)
                and not isinstance(b[1], bool)
                for b in bank
            )
        ):
            raise damaged(f"field 'bank' must list more than k_shots={meta['k_shots']} [text, 0|1]")
    return meta


def _load_learner(folder: Path, meta: dict[str, Any]) -> Any:
    from labelmix.models.loading import resolve_model

    if meta["trainer"] == "probe":
        from labelmix.train.probe import ProbeLearner

        extractor: Any = None
        if meta["model"] != PRECOMPUTED:
            from labelmix.models.features import FeatureExtractor

            extractor = FeatureExtractor(resolve_model(meta["model"]), layer=meta["layer"])
        return ProbeLearner.load(folder, extractor)
    if meta["trainer"] == "lora":
        from labelmix.models.lora import LoraLearner

        ref = resolve_model(meta["model"])
        try:
            return LoraLearner.load(
                folder, ref, meta.get("max_length") or 256, bool(meta.get("load_in_4bit", False))
            )
        except LabelmixError:
            raise
        except Exception as e:  # a missing or edited adapter
            why = " ".join(f"{type(e).__name__}: {e}".split())[:160]
            raise ConfigError(
                f"the adapter in {folder} cannot be loaded ({why}); save the classifier again"
            ) from None
    raise ConfigError(f"{folder}: unknown trainer {meta['trainer']!r} in {MANIFEST}")
