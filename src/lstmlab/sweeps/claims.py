"""The tutorials' claims as tests over seeds, with a plain verdict each.

"Learns faster" is measured by the area under the training-loss curve: the mean train_loss
over all steps of a run (lower is faster). For a given seed every configuration trains on the
same sequences (the training stream depends only on the seed), so configurations are compared
paired by seed: a two-sided paired t-test on the per-seed differences, Holm-Bonferroni across
a claim's comparisons, effect size d_z = mean / sd of the differences. "Differ" across more
than two configurations is Friedman's test, paired by seed as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    better: str  # the configuration the claim says learns faster (lower loss AUC)
    worse: str


@dataclass(frozen=True)
class Claim:
    text: str
    comparisons: tuple[Comparison, ...] = ()
    # Also, or only: do the configurations differ at all (Friedman)?
    differ: tuple[str, ...] = ()


MERGE_MODES = tuple(f"merge_mode={m}" for m in ("concat", "sum", "mul", "ave"))

# Per preset: what the tutorial claims, in terms of the sweep's configuration labels.
CLAIMS: dict[str, tuple[Claim, ...]] = {
    "claim_directions": (
        Claim(
            "BiLSTM learns faster than a forward LSTM or a backward LSTM "
            "(aligned, and as in the tutorial)",
            tuple(
                Comparison("model=bilstm", other)
                for other in ("model=lstm", "model=lstm_backward", "model=lstm_backward_tutorial")
            ),
        ),
    ),
    "claim_merge_modes": (
        Claim("The merge modes differ", differ=MERGE_MODES),
        Claim(
            "sum and concat do best",
            tuple(
                Comparison(f"merge_mode={good}", f"merge_mode={bad}")
                for good in ("sum", "concat")
                for bad in ("mul", "ave")
            ),
        ),
    ),
}


@dataclass
class Tested:
    comparison: Comparison
    seeds: int
    mean_diff: float  # AUC(worse) - AUC(better): positive when the claim's direction holds
    ci: tuple[float, float]
    d_z: float
    p: float
    p_holm: float = float("nan")


@dataclass
class Verdict:
    claim: Claim
    verdict: str  # "holds", "does not hold", or "not resolved at N seeds"
    tested: list[Tested]
    friedman_p: float | None = None


def paired(values: dict[str, dict[int, float]], c: Comparison) -> Tested:
    """Paired t-test of AUC(worse) - AUC(better) over the seeds both configurations ran."""
    seeds = sorted(set(values[c.better]) & set(values[c.worse]))
    d = np.array([values[c.worse][s] - values[c.better][s] for s in seeds])
    n = len(d)
    if n < 2:
        return Tested(c, n, float(d.mean()) if n else float("nan"), (np.nan, np.nan), np.nan, 1.0)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = stats.t.ppf(1 - ALPHA / 2, n - 1) * sd / np.sqrt(n)
    p = float(stats.ttest_rel([values[c.worse][s] for s in seeds],
                              [values[c.better][s] for s in seeds]).pvalue)  # fmt: skip
    return Tested(c, n, mean, (mean - half, mean + half), mean / sd if sd > 0 else np.inf, p)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the given order."""
    m = len(pvalues)
    order = np.argsort(pvalues)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted.tolist()


def judge(claim: Claim, values: dict[str, dict[int, float]]) -> Verdict:
    """values: configuration label -> seed -> loss AUC."""
    tested = [paired(values, c) for c in claim.comparisons]
    for t, p in zip(tested, holm([t.p for t in tested]), strict=True):
        t.p_holm = p
    friedman_p = None
    if claim.differ:
        seeds = sorted(set.intersection(*(set(values[label]) for label in claim.differ)))
        friedman_p = float(
            stats.friedmanchisquare(
                *([values[label][s] for s in seeds] for label in claim.differ)
            ).pvalue
        )
    seeds = min([t.seeds for t in tested] + ([len(seeds)] if claim.differ else []))
    significant = [t for t in tested if t.p_holm < ALPHA]
    if any(t.mean_diff < 0 for t in significant):
        verdict = "does not hold"
    elif len(significant) == len(tested) and (friedman_p is None or friedman_p < ALPHA):
        verdict = "holds"
    else:
        verdict = f"not resolved at {seeds} seeds"
    return Verdict(claim, verdict, tested, friedman_p)


def describe(v: Verdict) -> str:
    lines = [f"claim: {v.claim.text}"]
    if v.friedman_p is not None:
        lines.append(f"  configurations differ (Friedman, paired by seed): p = {v.friedman_p:.3g}")
    if v.tested:
        width = max(len(f"{t.comparison.better} < {t.comparison.worse}") for t in v.tested)
        lines.append(
            f"  {'faster < slower':<{width}}  seeds  AUC(slower) - AUC(faster) [95% CI]"
            "     d_z        p   p_holm"
        )
        for t in v.tested:
            name = f"{t.comparison.better} < {t.comparison.worse}"
            interval = f"{t.mean_diff:+.4f} [{t.ci[0]:+.4f}, {t.ci[1]:+.4f}]"
            lines.append(
                f"  {name:<{width}}  {t.seeds:>5}  {interval:<34}"
                f"  {t.d_z:>6.2f}  {t.p:>7.2g}  {t.p_holm:>7.2g}"
            )
    lines.append(f"  verdict: {v.verdict}")
    return "\n".join(lines)


METHOD = (
    "Loss AUC = mean train_loss over a run's steps. Comparisons are paired by seed (same "
    "training sequences): two-sided paired t-test, Holm-Bonferroni within a claim, "
    f"alpha = {ALPHA}; d_z = mean/sd of the per-seed differences. A claim holds when every "
    "comparison is significant in its direction, does not hold when one is significant against "
    "it, and is not resolved otherwise."
)
