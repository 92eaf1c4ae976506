"""Budget, ledger and the allocation grid: every label bought is charged and recorded."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from labelmix.errors import BudgetError, ConfigError, LabelmixWarning

# The reference grid of Mallen & Belrose: gold fractions of each budget, plus the pure endpoints.
REFERENCE_GOLD_FRACS: tuple[float, ...] = (0.8, 0.6, 0.4, 0.2, 0.05)
REFERENCE_BUDGETS: tuple[float, ...] = tuple(float(2**k) for k in range(4, 13))  # 16 .. 4096
EPS = 1e-9


@dataclass(frozen=True)
class Prices:
    weak_cost: float = 0.1
    gold_cost: float = 1.0

    def __post_init__(self) -> None:
        if not (self.weak_cost > 0 and math.isfinite(self.weak_cost)):
            raise ConfigError(f"weak cost {self.weak_cost!r} must be a positive number of dollars")
        if not (self.gold_cost > 0 and math.isfinite(self.gold_cost)):
            raise ConfigError(f"gold cost {self.gold_cost!r} must be a positive number of dollars")
        if self.weak_cost >= self.gold_cost:
            warnings.warn(
                f"weak cost ${self.weak_cost} is at or above gold cost ${self.gold_cost}: "
                "weak labels then never pay; mixed allocations are dominated by gold-only",
                LabelmixWarning,
                stacklevel=2,
            )


@dataclass(frozen=True)
class Allocation:
    """How many labels of each kind a budget buys."""

    n_weak: int
    n_gold: int

    def __post_init__(self) -> None:
        if self.n_weak < 0 or self.n_gold < 0:
            raise ConfigError(
                f"label counts must be >= 0, got {self.n_weak} weak, {self.n_gold} gold"
            )

    def cost(self, prices: Prices) -> float:
        return self.n_weak * prices.weak_cost + self.n_gold * prices.gold_cost


def allocate(budget: float, gold_frac: float, prices: Prices) -> Allocation:
    """The reference formula: n_gold = floor(budget*gold_frac/gold_cost), the rest on weak labels."""
    if not (budget > 0 and math.isfinite(budget)):
        raise ConfigError(f"budget {budget!r} must be a positive number of dollars")
    if not 0.0 <= gold_frac <= 1.0:
        raise ConfigError(f"gold fraction {gold_frac!r} must lie in [0, 1]")
    if budget + EPS < min(prices.weak_cost, prices.gold_cost):
        raise BudgetError(
            f"budget ${budget} cannot buy a single label (weak ${prices.weak_cost}, "
            f"gold ${prices.gold_cost}); raise the budget"
        )
    n_gold = math.floor(budget * gold_frac / prices.gold_cost + EPS)
    n_weak = math.floor((budget - n_gold * prices.gold_cost) / prices.weak_cost + EPS)
    return Allocation(n_weak=n_weak, n_gold=n_gold)


def allocation_grid(
    budgets: Iterable[float] = REFERENCE_BUDGETS,
    gold_fracs: Sequence[float] = (1.0, *REFERENCE_GOLD_FRACS, 0.0),
    prices: Prices | None = None,
) -> list[tuple[float, float, Allocation]]:
    prices = prices or Prices()
    return [(b, f, allocate(b, f, prices)) for b in budgets for f in gold_fracs]


@dataclass(frozen=True)
class Purchase:
    source: str  # "weak" or "gold"
    example_id: str
    price: float
    purpose: str  # "train", "val", "few_shot"


@dataclass
class Ledger:
    """Records every label bought and refuses to overspend. Buying the same (source, id) twice
    is free: a label once bought is owned."""

    budget: float
    purchases: list[Purchase] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (self.budget >= 0 and math.isfinite(self.budget)):
            raise ConfigError(f"budget {self.budget!r} must be a non-negative number of dollars")
        self._owned: set[tuple[str, str]] = set()

    @property
    def spent(self) -> float:
        return sum(p.price for p in self.purchases)

    @property
    def remaining(self) -> float:
        return self.budget - self.spent

    def charge(self, source: str, ids: Sequence[str], price: float, purpose: str) -> None:
        new = [i for i in dict.fromkeys(ids) if (source, i) not in self._owned]
        cost = len(new) * price
        if cost > self.remaining + EPS:
            raise BudgetError(
                f"buying {len(new)} {source} labels for {purpose} costs ${cost:.2f} but only "
                f"${self.remaining:.2f} of ${self.budget:.2f} is left"
            )
        for i in new:
            self.purchases.append(Purchase(source, i, price, purpose))
            self._owned.add((source, i))

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"budget": self.budget, "spent": round(self.spent, 6)}
        for src in ("weak", "gold"):
            ps = [p for p in self.purchases if p.source == src]
            out[f"n_{src}"] = len(ps)
            out[f"spent_{src}"] = round(sum(p.price for p in ps), 6)
            for purpose in ("train", "val", "few_shot"):
                out[f"n_{src}_{purpose}"] = sum(1 for p in ps if p.purpose == purpose)
        return out
