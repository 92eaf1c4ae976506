"""Which examples to label: plain functions from scores to chosen positions, deterministic per rng."""

from __future__ import annotations

import numpy as np

from labelmix.errors import ConfigError


def _check(n: int, k: int) -> None:
    if k < 0:
        raise ConfigError(f"cannot choose {k} examples")
    if k > n:
        raise ConfigError(f"cannot choose {k} examples out of {n} candidates")


def random_choice(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct positions out of range(n), uniformly."""
    _check(n, k)
    return np.sort(rng.permutation(n)[:k])


def top_or_softmax(
    scores: np.ndarray, k: int, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """Highest `scores` first. Temperature 0: the top-k (ties broken by position). Temperature t>0:
    k draws without replacement with probability proportional to exp(score / t) (Gumbel top-k)."""
    scores = np.asarray(scores, dtype=float)
    _check(len(scores), k)
    if temperature < 0:
        raise ConfigError(f"temperature {temperature} must be >= 0")
    if temperature == 0:
        keyed = scores
    else:
        keyed = scores / temperature + rng.gumbel(size=len(scores))
    order = np.lexsort((np.arange(len(scores)), -keyed))
    return np.sort(order[:k])


def binary_entropy(probs: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probs, dtype=float), 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def uncertainty(probs: np.ndarray, kind: str = "entropy") -> np.ndarray:
    """How unsure the model is: entropy (nats) or 1 - margin (1 at p=0.5, 0 at p in {0, 1})."""
    if kind == "entropy":
        return binary_entropy(probs)
    if kind == "margin":
        return 1.0 - np.abs(2.0 * np.asarray(probs, dtype=float) - 1.0)
    raise ConfigError(f"uncertainty kind {kind!r} must be 'entropy' or 'margin'")


def uncertainty_choice(
    probs: np.ndarray, k: int, temperature: float, rng: np.random.Generator, kind: str = "entropy"
) -> np.ndarray:
    """Active learning: the examples the current model is least sure of."""
    return top_or_softmax(uncertainty(probs, kind), k, temperature, rng)


def confident_choice(
    weak_probs: np.ndarray, k: int, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """Weak labels the weak labeler is most sure of (they are more often right)."""
    return top_or_softmax(
        np.abs(2.0 * np.asarray(weak_probs, dtype=float) - 1.0), k, temperature, rng
    )
