import math

import pytest

from labelmix.analysis.stats import mean_interval, t95, t975


def test_two_sided_t_quantiles_never_too_narrow() -> None:
    assert t975(3) == pytest.approx(4.303)
    assert t975(7) == pytest.approx(2.447)  # a table keyed by n, not df, gave 1.96 here
    assert t975(12) == pytest.approx(2.228)  # df 11 is not tabled: df 10, wider
    assert t975(100) == pytest.approx(1.96, abs=1e-4)
    assert math.isnan(t975(1))


def test_one_sided_t_quantiles() -> None:
    assert t95(2) == pytest.approx(2.920)
    assert t95(11) == pytest.approx(1.812)  # df 10's, wider than the true 1.796
    assert t95(1000) == pytest.approx(1.645, abs=1e-3)
    assert math.isnan(t95(0))


def test_mean_interval_matches_a_hand_computed_t_interval() -> None:
    mean, half = mean_interval([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2)
    assert half == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    assert math.isnan(mean_interval([0.5])[1])
