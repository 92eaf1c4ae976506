"""The signal check: can a task show the paper's quantity/quality trade-off at all?

The trade-off needs weak labels that are informative (a model trained on many of them learns
something) but worse than what the strong model learns from gold labels (so gold is worth its
price at some budget). Before spending hours on a sweep, this measures both sides once:

- each weak labeler's accuracy, AUROC and calibration on the pool (the labels a budget would
  buy) and on test;
- the strong model's gold-only test accuracy at a few gold label counts, the last being the
  whole pool: its ceiling here. Nothing is chosen: every count is reported, and the ceiling is
  the largest count by definition, not the best score.

Verdict per labeler (`decide`): "yes" when the weak labels' test accuracy has its interval at or
above MIN_WEAK_ACCURACY and the ceiling's lead over it at or above MIN_HEADROOM; "no" when either
interval lies wholly below its bar; else "undecided". Both sides are scored on the same test
examples (a paired bootstrap over them), because the pool and test can differ in kind (SST-2's
pool holds training phrases, its test validation sentences) and the trade-off a sweep shows is
measured on test. The verdict is a measurement, not a choice: every labeler's is reported, and
the task's is "yes" if some labeler's is, "no" if all are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from labelmix.analysis.stats import Z975, mean_interval
from labelmix.config import RunConfig
from labelmix.errors import ConfigError
from labelmix.labels.weak import WeakLabeler, check_labeler, default_weak_model, parse_labeler
from labelmix.metrics import unpack_correct
from labelmix.paths import data_dir_from_env
from labelmix.run import cached_splits, cached_weak_labeler, check_models_loadable, run_config
from labelmix.tasks.splits import SplitSizes

MIN_WEAK_ACCURACY = 0.62  # below this, weak labels teach a strong model little
MIN_HEADROOM = 0.05  # gold must beat weak by this much for gold to be worth a higher price
GOLD_COUNTS = (16, 64, 256, 1024)
SIGNAL_SIZES = SplitSizes(weak_train=600, pool=2000, test=500, select=300)
N_RESAMPLES = 1000
VERDICTS = ("yes", "no", "undecided")


def _interval(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _resamples(n: int, seed: int) -> np.ndarray:
    """N_RESAMPLES bootstrap draws of n example indices; shared by the sides being compared."""
    return np.random.default_rng(seed).integers(0, n, size=(N_RESAMPLES, n))


def _means(correct: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Accuracy of each resample (a row of `idx`) of one correctness vector."""
    return correct.astype(float)[idx].mean(axis=1)


def decide(weak_ci: tuple[float, float], headroom_ci: tuple[float, float]) -> str:
    """yes / no / undecided from the two intervals (module docstring)."""
    if weak_ci[0] >= MIN_WEAK_ACCURACY and headroom_ci[0] >= MIN_HEADROOM:
        return "yes"
    if weak_ci[1] < MIN_WEAK_ACCURACY or headroom_ci[1] < MIN_HEADROOM:
        return "no"
    return "undecided"


@dataclass(frozen=True)
class WeakSide:
    """One labeler's weak labels: accuracy with its interval, AUROC and calibration, on the
    pool (what a budget buys) and on test (what the verdict compares), and its verdict."""

    labeler: str
    model: str | None
    description: str
    pool_accuracy: float
    pool_ci: tuple[float, float]
    pool_auroc: float
    pool_brier: float
    pool_ece: float
    test_accuracy: float
    test_ci: tuple[float, float]
    test_auroc: float
    headroom: float  # ceiling - weak, both on test
    headroom_ci: tuple[float, float]
    verdict: str
    time_s: float
    cached: bool


@dataclass(frozen=True)
class GoldSide:
    """The strong model trained on `n_gold` gold labels only (gold_only), scored on test."""

    n_gold: int
    test_accuracy: float
    test_ci: tuple[float, float]
    test_auroc: float
    time_s: float


@dataclass
class SignalReport:
    task: str
    seed: int
    strong_model: str
    split_sizes: dict[str, int]
    weak: list[WeakSide]
    gold: list[GoldSide]
    verdict: str
    reason: str
    notes: list[str] = field(default_factory=list)

    @property
    def ceiling(self) -> GoldSide:
        return self.gold[-1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        s = self.split_sizes
        lines = [
            f"signal check: {self.task}, seed {self.seed}; splits weak_train {s['weak_train']}, "
            f"pool {s['pool']}, select {s['select']} (unused), test {s['test']}",
            "weak labels (accuracy at P > 0.5 with 95% bootstrap interval; pool = what a budget "
            "buys, test = what the verdict compares):",
        ]
        for w in self.weak:
            lines.append(
                f"  {w.labeler:<10} pool {w.pool_accuracy:.3f} [{w.pool_ci[0]:.3f}, "
                f"{w.pool_ci[1]:.3f}] AUROC {w.pool_auroc:.3f} Brier {w.pool_brier:.3f} ECE "
                f"{w.pool_ece:.3f} | test {w.test_accuracy:.3f} [{w.test_ci[0]:.3f}, "
                f"{w.test_ci[1]:.3f}] | {w.time_s:.0f} s{' [cached]' if w.cached else ''}"
            )
            lines.append(f"             {w.description}")
        lines.append(f"strong model {self.strong_model}, gold labels only (test accuracy, 95% CI):")
        for g in self.gold:
            mark = "  <- ceiling (whole pool)" if g is self.ceiling else ""
            lines.append(
                f"  {g.n_gold:>6} gold  {g.test_accuracy:.3f} [{g.test_ci[0]:.3f}, "
                f"{g.test_ci[1]:.3f}] AUROC {g.test_auroc:.3f}{mark}"
            )
        for w in self.weak:
            lines.append(
                f"{w.labeler}: ceiling - weak = {w.headroom:+.3f} [{w.headroom_ci[0]:+.3f}, "
                f"{w.headroom_ci[1]:+.3f}] -> {w.verdict}"
            )
        lines.append(
            f"verdict: {self.verdict} (needs weak accuracy >= {MIN_WEAK_ACCURACY} and a "
            f"ceiling >= weak + {MIN_HEADROOM}, both by their intervals): {self.reason}"
        )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _gold_counts(counts: Sequence[int], pool: int) -> list[int]:
    """The requested counts the pool can serve, then the whole pool (the ceiling)."""
    return sorted({n for n in counts if 1 <= n < pool} | {pool})


def overall_verdict(verdicts: Sequence[str]) -> str:
    """The task's verdict: yes if some labeler's is, no if all are no, else undecided."""
    if "yes" in verdicts:
        return "yes"
    if verdicts and all(v == "no" for v in verdicts):
        return "no"
    return "undecided"


def _summary(sides: Sequence[WeakSide]) -> tuple[str, str]:
    verdict = overall_verdict([w.verdict for w in sides])
    parts = []
    for w in sides:
        parts.append(
            f"{w.labeler} weak {w.test_accuracy:.3f} [{w.test_ci[0]:.3f}, {w.test_ci[1]:.3f}], "
            f"headroom {w.headroom:+.3f} [{w.headroom_ci[0]:+.3f}, {w.headroom_ci[1]:+.3f}]: "
            f"{w.verdict}"
        )
    return verdict, "; ".join(parts)


def signal_check(
    task: str,
    *,
    labelers: Sequence[str] = ("probe", "prompt"),
    weak_models: Mapping[str, str] | None = None,
    strong_model: str = "smollm2",
    gold_counts: Sequence[int] = GOLD_COUNTS,
    sizes: SplitSizes = SIGNAL_SIZES,
    seed: int = 0,
    data_dir: str | None = None,
) -> SignalReport:
    """Measure the weak side (each labeler) and the strong side (gold-only at `gold_counts` and
    the whole pool) of `task` on one seed's splits, and give the verdict. `weak_models` maps a
    labeler kind (probe, finetune, prompt) to its model; unnamed ones take their default."""
    if not labelers:
        raise ConfigError("the signal check needs at least one weak labeler")
    models: dict[str, str] = {}
    for spec in labelers:
        kind = parse_labeler(spec)[0]
        models[spec] = (weak_models or {}).get(kind) or default_weak_model(spec)
        check_labeler(spec, task, models[spec])
    RunConfig(task=task, model=strong_model, split_sizes=sizes, seed=seed)  # validates names
    if data_dir is None and data_dir_from_env() is not None:
        data_dir = str(data_dir_from_env())  # as a run resolves it, so caches are shared
    check_models_loadable(strong_model, *models.values())
    splits = cached_splits(task, data_dir, sizes, seed)
    pool_y = np.array([e.label for e in splits.pool], float)
    test_y = np.array([e.label for e in splits.test], float)
    # The weak side first: a labeler that cannot run fails before the strong model trains.
    labelled = {
        spec: cached_weak_labeler(task, data_dir, sizes, seed, models[spec], spec)
        for spec in labelers
    }

    gold: list[GoldSide] = []
    ceiling_correct = np.zeros(0, dtype=bool)
    neutral = WeakLabeler({e.id: 0.5 for e in splits.pool + splits.test}, 0.0)  # never bought
    for n in _gold_counts(gold_counts, len(splits.pool)):
        cfg = RunConfig(
            task=task,
            method="gold_only",
            gold_frac=None,
            budget=float(n),
            gold_cost=1.0,
            model=strong_model,
            seed=seed,
            split_sizes=sizes,
            data_dir=data_dir,
        )
        r = run_config(cfg, splits=splits, weak=neutral).record
        gold.append(
            GoldSide(
                n_gold=int(r["n_gold"]),
                test_accuracy=float(r["accuracy"]),
                test_ci=(float(r["accuracy_ci_low"]), float(r["accuracy_ci_high"])),
                test_auroc=float(r["auroc"]),
                time_s=float(r["time_s"]),
            )
        )
        ceiling_correct = unpack_correct(r["test_correct"], len(splits.test))
    test_idx = _resamples(len(splits.test), seed)  # paired: the same draws for every side
    pool_idx = _resamples(len(splits.pool), seed + 1)
    ceiling_boot = _means(ceiling_correct, test_idx)

    sides: list[WeakSide] = []
    for spec in labelers:
        weak = labelled[spec]
        rep = weak.report
        assert rep is not None
        pool_correct = (weak.peek([e.id for e in splits.pool]) > 0.5) == (pool_y > 0.5)
        test_correct = (weak.peek([e.id for e in splits.test]) > 0.5) == (test_y > 0.5)
        weak_boot = _means(test_correct, test_idx)
        test_ci = _interval(weak_boot)
        head_ci = _interval(ceiling_boot - weak_boot)
        sides.append(
            WeakSide(
                labeler=spec,
                model=None if parse_labeler(spec)[0] == "column" else models[spec],
                description=rep.labeler,
                pool_accuracy=float(pool_correct.mean()),
                pool_ci=_interval(_means(pool_correct, pool_idx)),
                pool_auroc=rep.pool_auroc,
                pool_brier=rep.pool_brier,
                pool_ece=rep.pool_ece,
                test_accuracy=float(test_correct.mean()),
                test_ci=test_ci,
                test_auroc=rep.test_auroc,
                headroom=float(ceiling_correct.mean() - test_correct.mean()),
                headroom_ci=head_ci,
                verdict=decide(test_ci, head_ci),
                time_s=rep.time_s,
                cached=rep.cached,
            )
        )
    verdict, reason = _summary(sides)
    notes = list(splits.notes)
    if len(splits.pool) < sizes.pool:
        notes.append(f"the task has rows for a pool of {len(splits.pool)} (asked {sizes.pool})")
    return SignalReport(
        task=task,
        seed=seed,
        strong_model=strong_model,
        split_sizes=splits.sizes(),
        weak=sides,
        gold=gold,
        verdict=verdict,
        reason=reason,
        notes=notes,
    )


@dataclass(frozen=True)
class SeedsVerdict:
    """One labeler's verdict over several seeds' checks: the mean weak accuracy and the mean
    ceiling - weak, each with a 95% interval, against the same bars as one seed's."""

    task: str
    labeler: str
    seeds: tuple[int, ...]
    weak_accuracy: float
    weak_ci: tuple[float, float]
    headroom: float
    headroom_ci: tuple[float, float]
    verdict: str
    seed_verdicts: tuple[str, ...]


def _over_seeds(values: Sequence[float], cis: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Half-width of the mean's 95% interval: the wider of a t-interval over the seeds (it covers
    what varies from seed to seed: splits and weak labeler) and the per-seed bootstrap intervals
    combined (so that a few seeds that happen to agree cannot make it narrower than the test
    examples allow)."""
    k = len(values)
    _, t_half = mean_interval(list(values))
    se = [(float(hi) - float(lo)) / (2 * Z975) for lo, hi in cis]
    fixed_half = Z975 * float(np.sqrt(np.sum(np.square(se)))) / k
    return max(t_half, fixed_half)


def verdict_over_seeds(reports: Sequence[Mapping[str, Any]]) -> list[SeedsVerdict]:
    """The verdict a study over these seeds can expect: a study averages over seeds, each with
    its own splits and weak labeler, so one seed's check can be lucky or unlucky. `reports` are
    `SignalReport.to_dict()`s of one task, strong model and split sizes, one per seed."""
    if len(reports) < 2:
        raise ConfigError("a verdict over seeds needs the checks of at least two seeds")
    first = reports[0]
    for key in ("task", "strong_model", "split_sizes"):
        if any(r[key] != first[key] for r in reports):
            raise ConfigError(
                f"the checks differ in {key} ({sorted({str(r[key]) for r in reports})}): a verdict "
                "over seeds pools one task's checks at one set of sizes"
            )
    seeds = tuple(int(r["seed"]) for r in reports)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds {list(seeds)} repeat: each seed's check counts once")
    out = []
    for spec in [w["labeler"] for w in first["weak"]]:
        found = [next((w for w in r["weak"] if w["labeler"] == spec), None) for r in reports]
        sides = [w for w in found if w is not None]
        if len(sides) < len(found):
            continue  # a labeler measured on some seeds only has no verdict over all of them
        weak = [float(w["test_accuracy"]) for w in sides]
        head = [float(w["headroom"]) for w in sides]
        weak_mean, head_mean = float(np.mean(weak)), float(np.mean(head))
        weak_half = _over_seeds(weak, [w["test_ci"] for w in sides])
        head_half = _over_seeds(head, [w["headroom_ci"] for w in sides])
        weak_ci = (weak_mean - weak_half, weak_mean + weak_half)
        head_ci = (head_mean - head_half, head_mean + head_half)
        out.append(
            SeedsVerdict(
                task=str(first["task"]),
                labeler=spec,
                seeds=seeds,
                weak_accuracy=weak_mean,
                weak_ci=weak_ci,
                headroom=head_mean,
                headroom_ci=head_ci,
                verdict=decide(weak_ci, head_ci),
                seed_verdicts=tuple(str(w["verdict"]) for w in sides),
            )
        )
    return out
