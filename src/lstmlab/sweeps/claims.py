"""The tutorials' claims as tests over seeds, with a plain verdict each.

"Learns faster" is measured by the area under the training-loss curve: the mean train_loss
over all steps of a run (lower is faster). For a given seed every configuration trains on the
same sequences (the training stream depends only on the seed), so configurations are compared
paired by seed: a two-sided paired t-test on the per-seed differences, Holm-Bonferroni across
a claim's comparisons, effect size d_z = mean / sd of the differences. "Differ" across more
than two configurations is Friedman's test, paired by seed as well.

A claim may judge another metric (test_acc, higher is better): "LSTM-FCN improves on FCN" in
a sweep over sets compares `model=lstm_fcn` with `model=fcn` paired by set and seed (the rest
of each run's configuration label, and its seed).
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
    # What is compared: "loss_auc" (lower is better), or a metric the runs logged.
    metric: str = "loss_auc"
    higher: bool = False  # the metric's better direction


# The recurrent branch's claim (issue 24), with the paper's dimension shuffle and without.
LSTM_FCN_OVER_FCN = Claim(
    "The recurrent branch of LSTM-FCN improves on FCN alone (test accuracy, paired by set and "
    "seed; with the dimension shuffle and without)",
    (
        Comparison("model=lstm_fcn", "model=fcn"),
        Comparison("model=lstm_fcn_unshuffled", "model=fcn"),
    ),
    metric="test_acc",
    higher=True,
)


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
    # The benchmark's default families have the shuffle only.
    "archive_benchmark": (
        Claim(
            LSTM_FCN_OVER_FCN.text.split(" (")[0] + " (test accuracy, paired by set and seed)",
            LSTM_FCN_OVER_FCN.comparisons[:1],
            metric="test_acc",
            higher=True,
        ),
    ),
    "claim_lstm_fcn": (LSTM_FCN_OVER_FCN,),
}


@dataclass
class Tested:
    comparison: Comparison
    seeds: int
    # AUC(worse) - AUC(better), or metric(better) - metric(worse) for a higher-is-better
    # metric: positive when the claim's direction holds.
    mean_diff: float
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


def paired(values: dict[str, dict], c: Comparison, higher: bool = False) -> Tested:
    """Paired t-test of AUC(worse) - AUC(better) (higher: value(better) - value(worse)) over the
    keys (seeds, or (rest of the label, seed)) both configurations ran."""
    seeds = sorted(set(values[c.better]) & set(values[c.worse]))
    sign = -1.0 if higher else 1.0
    d = np.array([sign * (values[c.worse][s] - values[c.better][s]) for s in seeds])
    n = len(d)
    if n < 2:
        return Tested(c, n, float(d.mean()) if n else float("nan"), (np.nan, np.nan), np.nan, 1.0)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = stats.t.ppf(1 - ALPHA / 2, n - 1) * sd / np.sqrt(n)
    p = float(stats.ttest_rel([values[c.worse][s] for s in seeds],
                              [values[c.better][s] for s in seeds]).pvalue)  # fmt: skip
    if not np.isfinite(p):  # every difference the same (a tie on every set): no evidence
        p = 1.0 if mean == 0 else 0.0
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
    tested = [paired(values, c, claim.higher) for c in claim.comparisons]
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
        sep = " > " if v.claim.higher else " < "
        width = max(len(f"{t.comparison.better}{sep}{t.comparison.worse}") for t in v.tested)
        if v.claim.metric == "loss_auc":
            head = f"  {'faster < slower':<{width}}  seeds  AUC(slower) - AUC(faster) [95% CI]"
        else:
            m = v.claim.metric
            head = f"  {'better' + sep + 'worse':<{width}}  pairs  {m}: better - worse [95% CI]"
            head = head.ljust(width + 45)
        lines.append(f"{head}     d_z        p   p_holm")
        for t in v.tested:
            name = f"{t.comparison.better}{sep}{t.comparison.worse}"
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
