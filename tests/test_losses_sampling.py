"""Losses against hand-computed values; one shared contract every sampling strategy passes."""

import math

import numpy as np
import pytest
import torch

from labelmix.errors import ConfigError
from labelmix.train import sampling
from labelmix.train.losses import logconf, logconf_weight, xent


def _bce(z: float, y: float) -> float:
    p = 1 / (1 + math.exp(-z))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_xent_soft_labels_by_hand():
    z = torch.tensor([0.0, 2.0, -1.0])
    y = torch.tensor([0.5, 1.0, 0.3])
    expected = np.mean([_bce(0.0, 0.5), _bce(2.0, 1.0), _bce(-1.0, 0.3)])
    assert float(xent(z, y)) == pytest.approx(expected, rel=1e-6)


def test_logconf_by_hand():
    # Labels say 1,1,0,0 (prior 0.5); the model ranks example 2 above example 1.
    z = torch.tensor([3.0, -1.0, 1.0, -2.0])
    y = torch.tensor([1.0, 1.0, 0.0, 0.0])
    # sigmoid: .953, .269, .731, .119; the 0.5-quantile threshold (torch.quantile, linear) is the
    # midpoint of .269 and .731 = 0.5; hardened predictions: 1, 0, 1, 0.
    hard = [1.0, 0.0, 1.0, 0.0]
    a = 0.5
    mixed = [(1 - a) * yi + a * hi for yi, hi in zip(y.tolist(), hard, strict=True)]
    expected = np.mean([_bce(zi, ti) for zi, ti in zip(z.tolist(), mixed, strict=True)])
    assert float(logconf(z, y, a)) == pytest.approx(expected, rel=1e-6)
    # weight 0 is plain cross-entropy
    assert float(logconf(z, y, 0.0)) == pytest.approx(float(xent(z, y)), rel=1e-6)


def test_logconf_gradient_does_not_flow_through_the_hardened_targets():
    z = torch.tensor([3.0, -1.0, 1.0, -2.0], requires_grad=True)
    y = torch.tensor([1.0, 1.0, 0.0, 0.0])
    logconf(z, y, 0.5).backward()
    p = torch.sigmoid(z.detach())
    mixed = torch.tensor([1.0, 0.5, 0.5, 0.0])
    assert torch.allclose(z.grad, (p - mixed) / 4, atol=1e-6)


def test_logconf_weight_ramps_over_warmup():
    assert logconf_weight(0, 40) == 0.0
    assert logconf_weight(20, 40) == pytest.approx(0.25)
    assert logconf_weight(40, 40) == 0.5
    assert logconf_weight(400, 40) == 0.5
    assert logconf_weight(3, 0) == 0.5


def _random(n, k, rng):
    return sampling.random_choice(n, k, rng)


def _uncertainty_t0(n, k, rng):
    probs = np.random.default_rng(1).random(n)
    return sampling.uncertainty_choice(probs, k, 0.0, rng)


def _uncertainty_t1(n, k, rng):
    probs = np.random.default_rng(1).random(n)
    return sampling.uncertainty_choice(probs, k, 1.0, rng, kind="margin")


def _confident(n, k, rng):
    probs = np.random.default_rng(2).random(n)
    return sampling.confident_choice(probs, k, 0.5, rng)


STRATEGIES = [_random, _uncertainty_t0, _uncertainty_t1, _confident]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda f: f.__name__)
class TestSamplingContract:
    def test_count_and_range(self, strategy):
        for n, k in [(10, 0), (10, 3), (10, 10), (257, 31)]:
            out = strategy(n, k, np.random.default_rng(0))
            assert len(out) == k
            assert all(0 <= i < n for i in out)

    def test_no_duplicates(self, strategy):
        out = strategy(100, 60, np.random.default_rng(0))
        assert len(set(out.tolist())) == 60

    def test_deterministic_under_seed(self, strategy):
        a = strategy(200, 20, np.random.default_rng(7))
        b = strategy(200, 20, np.random.default_rng(7))
        assert a.tolist() == b.tolist()

    def test_too_many_is_an_error(self, strategy):
        with pytest.raises(ConfigError):
            strategy(5, 6, np.random.default_rng(0))


def test_only_unlabelled_positions_are_offered():
    # The run passes only free positions; choose within them and map back.
    free = np.array([1, 4, 5, 9])
    probs = np.array([0.5, 0.9, 0.45, 0.1])
    picked = free[sampling.uncertainty_choice(probs, 2, 0.0, np.random.default_rng(0))]
    assert sorted(picked.tolist()) == [1, 5]


def test_uncertainty_top_k_known_answer():
    probs = np.array([0.99, 0.5, 0.7, 0.02, 0.45])
    assert sampling.uncertainty_choice(probs, 2, 0.0, np.random.default_rng(0)).tolist() == [1, 4]
    assert sampling.uncertainty(np.array([0.5, 1.0]), "margin").tolist() == [1.0, 0.0]


def test_confident_top_k_known_answer():
    probs = np.array([0.99, 0.5, 0.7, 0.02, 0.45])
    assert sampling.confident_choice(probs, 2, 0.0, np.random.default_rng(0)).tolist() == [0, 3]


def test_temperature_softens_towards_uniform():
    scores = np.array([1.0, 0.0, 0.0, 0.0])
    hits_cold = sum(
        0 in sampling.top_or_softmax(scores, 1, 0.05, np.random.default_rng(s)) for s in range(200)
    )
    hits_hot = sum(
        0 in sampling.top_or_softmax(scores, 1, 100.0, np.random.default_rng(s)) for s in range(200)
    )
    assert hits_cold == 200
    assert 25 < hits_hot < 80  # ~ 1/4 of 200
