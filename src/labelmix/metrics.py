"""Accuracy and AUROC with bootstrap confidence intervals: plain array-in, number-out functions."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

CI_METHOD = "95% percentile bootstrap over test examples (1000 resamples, seeded)"


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve via the rank-sum (Mann-Whitney U) statistic, ties counted half.
    NaN when only one class is present."""
    y = np.asarray(labels, dtype=float) > 0.5
    s = np.asarray(scores, dtype=float)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    sorted_s = np.sort(s)
    # 1-based average rank of each score, ties sharing the mean of their ranks
    ranks = (np.searchsorted(sorted_s, s, "left") + np.searchsorted(sorted_s, s, "right") + 1) / 2.0
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def accuracy(labels: ArrayLike, logits: ArrayLike, threshold: float = 0.0) -> float:
    """Fraction of examples where (logit > threshold) matches the hard label."""
    y = np.asarray(labels, dtype=float) > 0.5
    pred = np.asarray(logits, dtype=float) > threshold
    return float((pred == y).mean()) if len(y) else float("nan")


def bootstrap_ci(
    labels: ArrayLike,
    scores: ArrayLike,
    metric: str,
    threshold: float = 0.0,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile bootstrap interval of `metric` ('accuracy' or 'auroc')."""
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    n = len(y)
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    if metric == "accuracy":
        correct = ((s > threshold) == (y > 0.5)).astype(float)
        vals = correct[idx].mean(axis=1)
    elif metric == "auroc":
        vals = _resampled_auroc(y > 0.5, s, idx)
        vals = vals[~np.isnan(vals)]
        if len(vals) == 0:
            return float("nan"), float("nan")
    else:
        raise ValueError(f"unknown metric {metric!r}")
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def _resampled_auroc(
    positive: np.ndarray, scores: np.ndarray, idx: np.ndarray, chunk: int = 100
) -> np.ndarray:
    """AUROC of every resample (a row of `idx`) at once: a resample is the original examples with
    multiplicities, so its Mann-Whitney U is a weighted count over one shared sort of the scores.
    Equal to auroc() on each resample; NaN where a resample holds a single class."""
    n = len(scores)
    order = np.argsort(scores, kind="stable")
    sorted_s = scores[order]
    # each sorted position's tie group: [first, last] positions holding the same score
    first = np.searchsorted(sorted_s, sorted_s, "left")
    last = np.searchsorted(sorted_s, sorted_s, "right") - 1
    pos_sorted = positive[order]
    out = np.empty(len(idx))
    for start in range(0, len(idx), chunk):
        rows = idx[start : start + chunk]
        flat = (np.arange(len(rows))[:, None] * n + rows).ravel()
        counts = np.bincount(flat, minlength=len(rows) * n).reshape(len(rows), n)[:, order]
        w_pos = counts * pos_sorted
        w_neg = counts * ~pos_sorted
        cum_neg = np.cumsum(w_neg, axis=1)
        below = np.where(first > 0, cum_neg[:, np.maximum(first - 1, 0)], 0.0)
        tied = cum_neg[:, last] - below
        u = (w_pos * (below + 0.5 * tied)).sum(axis=1)
        n_pos, n_neg = w_pos.sum(axis=1), w_neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + len(rows)] = np.where(
                (n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan
            )
    return out


def prior_matching_threshold(scores: ArrayLike, positive_rate: float) -> float:
    """The threshold that labels a `positive_rate` share of `scores` positive. Uses no labels of
    the scored examples: only the label prior the caller supplies (e.g. from the prompt)."""
    s = np.asarray(scores, dtype=float)
    q = float(np.clip(1.0 - positive_rate, 0.0, 1.0))
    return float(np.quantile(s, q))


def pack_correct(labels: ArrayLike, logits: ArrayLike, threshold: float = 0.0) -> str:
    """Which examples a run got right, as a hex string of packed bits (test order). Stored with
    every run so that comparisons between runs can be paired over the same test examples."""
    y = np.asarray(labels, dtype=float) > 0.5
    pred = np.asarray(logits, dtype=float) > threshold
    return np.packbits(pred == y).tobytes().hex()


def unpack_correct(packed: str, n: int) -> np.ndarray:
    """The boolean vector `pack_correct` stored, for `n` examples."""
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8))
    if len(bits) < n:
        raise ValueError(f"packed correctness holds {len(bits)} bits, fewer than n={n}")
    return bits[:n].astype(bool)
