"""Student's t quantiles for intervals over a few seeds, in one place (scipy is not a
dependency). A degrees-of-freedom count missing from a table takes the next smaller one, so an
interval is never too narrow."""

from __future__ import annotations

import math

# Two-sided 95% (upper 0.975) quantiles by degrees of freedom.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip
# One-sided 95% (upper 0.95) quantiles by degrees of freedom.
_T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860,
        9: 1.833, 10: 1.812, 12: 1.782, 15: 1.753, 20: 1.725, 30: 1.697}  # fmt: skip
Z975 = 1.95996
Z95 = 1.64485


def _lookup(table: dict[int, float], df: int, normal: float) -> float:
    if df < 1:
        return math.nan
    if df > max(table):
        return normal
    return table[max(k for k in table if k <= df)]


def t975(n: int) -> float:
    """The t quantile of a two-sided 95% interval for the mean of n values (NaN below 2)."""
    return _lookup(_T975, n - 1, Z975)


def t95(df: int) -> float:
    """The upper 0.95 quantile of Student's t with df degrees of freedom (NaN below 1)."""
    return _lookup(_T95, df, Z95)


def mean_interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its two-sided 95% t-interval (NaN half-width below 2 values)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, t975(n) * sd / math.sqrt(n)
