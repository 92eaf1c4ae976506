"""Budget, ledger and the allocation grid: known answers."""

import math

import pytest

from labelmix.errors import BudgetError, ConfigError
from labelmix.labels.budget import Allocation, Ledger, Prices, allocate, allocation_grid
from labelmix.labels.oracle import Oracle
from labelmix.labels.weak import WeakLabeler


def test_reference_formula():
    p = Prices(weak_cost=0.1, gold_cost=1.0)
    assert allocate(64, 0.2, p) == Allocation(n_weak=520, n_gold=12)
    assert allocate(16, 0.05, p) == Allocation(n_weak=160, n_gold=0)
    assert allocate(4096, 0.8, p) == Allocation(n_weak=8200, n_gold=3276)
    assert allocate(64, 1.0, p) == Allocation(n_weak=0, n_gold=64)
    assert allocate(64, 0.0, p) == Allocation(n_weak=640, n_gold=0)


def test_allocation_never_overspends():
    p = Prices(weak_cost=0.3, gold_cost=1.7)
    for budget in (1.7, 5, 17, 100.3, 999):
        for frac in (0.0, 0.05, 0.33, 0.5, 0.8, 1.0):
            a = allocate(budget, frac, p)
            assert a.cost(p) <= budget + 1e-9
            # and no further weak label would fit
            assert a.cost(p) + p.weak_cost > budget - 1e-9


def test_grid_shape():
    grid = allocation_grid(budgets=[16, 64], gold_fracs=[1.0, 0.5, 0.0])
    assert len(grid) == 6
    assert grid[0] == (16, 1.0, Allocation(0, 16))


@pytest.mark.parametrize(
    "budget,frac,prices,err",
    [
        (0.05, 0.5, Prices(0.1, 1.0), BudgetError),
        (-1, 0.5, Prices(0.1, 1.0), ConfigError),
        (math.nan, 0.5, Prices(0.1, 1.0), ConfigError),
        (10, 1.5, Prices(0.1, 1.0), ConfigError),
        (10, -0.1, Prices(0.1, 1.0), ConfigError),
    ],
)
def test_bad_allocations(budget, frac, prices, err):
    with pytest.raises(err):
        allocate(budget, frac, prices)


def test_bad_prices_and_warning():
    with pytest.raises(ConfigError, match="weak cost"):
        Prices(weak_cost=-0.1)
    with pytest.raises(ConfigError, match="gold cost"):
        Prices(gold_cost=0)
    with pytest.warns(UserWarning, match="never pay"):
        Prices(weak_cost=1.0, gold_cost=1.0)


def test_ledger_records_and_refuses_overspend():
    ledger = Ledger(budget=2.0)
    ledger.charge("weak", ["a", "b", "c"], 0.1, "train")
    ledger.charge("gold", ["a"], 1.0, "val")
    ledger.charge("gold", ["a"], 1.0, "train")  # owned: free
    assert ledger.spent == pytest.approx(1.3)
    s = ledger.summary()
    assert s["n_weak"] == 3 and s["n_gold"] == 1 and s["n_gold_val"] == 1
    with pytest.raises(BudgetError, match="only \\$0.70"):
        ledger.charge("gold", ["b"], 1.0, "train")
    assert ledger.spent == pytest.approx(1.3)  # nothing half-charged


def test_label_sources_sell_through_the_ledger():
    ledger = Ledger(budget=1.5)
    oracle = Oracle({"x": 1, "y": 0}, price=1.0)
    weak = WeakLabeler({"x": 0.9, "y": 0.2}, price=0.25)
    assert list(weak.buy(["x", "y"], ledger, "train")) == pytest.approx([0.9, 0.2])
    assert list(oracle.buy(["x"], ledger, "train")) == [1.0]
    assert ledger.spent == pytest.approx(1.5)
    with pytest.raises(BudgetError):
        oracle.buy(["y"], ledger, "train")


def test_label_sources_reject_bad_labels():
    from labelmix.errors import DataError

    with pytest.raises(DataError, match="outside"):
        Oracle({"x": 2}, price=1.0)
    with pytest.raises(DataError, match="outside"):
        WeakLabeler({"x": 1.5}, price=0.1)
