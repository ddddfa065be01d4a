"""The archive benchmark's view of a sweep over sets (``dataset.name``): per set, each
configuration's test accuracy over seeds (mean ± 95% CI) and its seeds' ensemble, beside the
published figures; every method's average rank over the sets; a critical-difference diagram
(aeon's ``plot_critical_difference``) of lstmlab's configurations and the published methods.

The published figures are read from ``published.csv`` beside this module: one row per set and
method, with the repository and file each number was copied from, and the split it was
measured on. lstmlab computes none of them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from lstmlab.sweeps.groups import Group, Selection, group_runs, mean_ci

PUBLISHED = Path(__file__).with_name("published.csv")
SET_KEY = "dataset.name"


@dataclass(frozen=True)
class Published:
    dataset: str
    method: str
    accuracy: float
    repository: str
    file: str
    split: str
    note: str


def published(path: Path = PUBLISHED) -> list[Published]:
    with path.open(newline="") as f:
        return [
            Published(
                r["dataset"],
                r["method"],
                float(r["accuracy"]),
                r["repository"],
                r["file"],
                r["split"],
                r.get("note", ""),
            )  # fmt: skip
            for r in csv.DictReader(f)
        ]


@dataclass
class Row:
    """One method on one set: lstmlab's (over seeds) or a published figure."""

    method: str
    accuracy: float
    ci: float = float("nan")
    seeds: int = 0
    ensemble: float = float("nan")
    source: str = "lstmlab"


def applies(selection: Selection) -> bool:
    """Whether a sweep compares sets: it varies dataset.name, and its runs classify (the
    published figures are accuracies; a regression's comparison is its report's table)."""
    classifies = any("test_acc" in r.metrics for r in selection.records)
    return SET_KEY in selection.swept and classifies


def rows_by_set(selection: Selection, figures: list[Published]) -> dict[str, list[Row]]:
    """Per set (in name order): lstmlab's configurations, then the published methods."""
    keys = [k for k in selection.swept if k not in (SET_KEY, "seed")]
    by_set: dict[str, list] = {}
    for record in selection.records:
        by_set.setdefault(record.params.get(SET_KEY, "?"), []).append(record)
    found: dict[str, list[Row]] = {}
    for name in sorted(by_set):
        rows = []
        for group in group_runs(by_set[name], keys):
            mean, half = mean_ci(group.metric("test_acc"))
            rows.append(Row(_method(group), float(mean), float(half), len(group.runs),
                            group.ensemble_acc()))  # fmt: skip
        for fig in figures:
            if fig.dataset == name:
                rows.append(Row(fig.method, fig.accuracy, source=f"{fig.repository} {fig.file}"))
        found[name] = rows
    return found


def _method(group: Group) -> str:
    """A configuration as a method's name: 'lstm_fcn', not 'model=lstm_fcn', when the model
    is the only key apart from the set and the seed."""
    label = group.label
    return label.removeprefix("model=") if label.count("=") == 1 else label


def ranks(by_set: dict[str, list[Row]]) -> tuple[list[str], np.ndarray, dict[str, float]]:
    """The methods that have a figure on every set, their (sets, methods) accuracies and
    average ranks (1 is best; ties share the mean rank). Methods missing on a set are left
    out: a rank over fewer sets would not compare."""
    sets = list(by_set)
    methods = [r.method for r in by_set[sets[0]]]
    complete = [m for m in dict.fromkeys(methods)
                if all(any(r.method == m for r in by_set[s]) for s in sets)]  # fmt: skip
    scores = np.array([[next(r.accuracy for r in by_set[s] if r.method == m) for m in complete]
                       for s in sets])  # fmt: skip
    if not complete:
        return [], scores, {}
    ranked = np.vstack([stats.rankdata(-row) for row in scores])
    return complete, scores, dict(zip(complete, ranked.mean(axis=0).tolist(), strict=True))


def text(by_set: dict[str, list[Row]], average: dict[str, float]) -> str:
    def acc(r: Row) -> str:
        shown = f"{r.accuracy:.4f}"
        return f"{shown} ± {r.ci:.4f}" if np.isfinite(r.ci) else shown

    lines = []
    for name, rows in by_set.items():
        lines.append(f"{name}")
        width = max(len("method"), *(len(r.method) for r in rows))
        lines.append(f"  {'method':<{width}}  seeds  {'test_acc':<17}  ensemble  source")
        for r in rows:
            seeds = str(r.seeds) if r.seeds else "-"
            ensemble = f"{r.ensemble:.4f}" if np.isfinite(r.ensemble) else "-"
            source = "lstmlab, this sweep" if r.source == "lstmlab" else r.source
            lines.append(f"  {r.method:<{width}}  {seeds:>5}  {acc(r):<17}  {ensemble:<8}  "
                         f"{source}")  # fmt: skip
        lines.append("")
    if average:
        lines.append(f"average rank over {len(by_set)} sets (1 is best; methods with a figure "
                     "on every set):")  # fmt: skip
        for method, rank in sorted(average.items(), key=lambda kv: kv[1]):
            lines.append(f"  {rank:5.2f}  {method}")
    return "\n".join(lines)


def rows_csv(by_set: dict[str, list[Row]]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["dataset", "method", "seeds", "test_acc", "ci", "ensemble_test_acc", "source"])
    for name, rows in by_set.items():
        for r in rows:
            w.writerow([name, r.method, r.seeds or "", f"{r.accuracy:.6g}",
                        "" if not np.isfinite(r.ci) else f"{r.ci:.6g}",
                        "" if not np.isfinite(r.ensemble) else f"{r.ensemble:.6g}",
                        r.source])  # fmt: skip
    return out.getvalue()


def diagram(methods: list[str], scores: np.ndarray):
    """aeon's critical-difference diagram (Friedman's test, then pairwise Wilcoxon tests with
    Holm's correction), or None with fewer than three methods (Friedman's minimum) or two
    sets."""
    if len(methods) < 3 or scores.shape[0] < 2:
        return None
    from aeon.visualisation import plot_critical_difference

    from lstmlab.evaluation import plots  # noqa: F401  (selects the headless backend)

    fig, _ = plot_critical_difference(scores, methods)
    return fig


def report(selection: Selection, figures: list[Published] | None = None):
    """(text, files {name: text}, figure or None) of a sweep over sets."""
    by_set = rows_by_set(selection, published() if figures is None else figures)
    methods, scores, average = ranks(by_set)
    files = {"benchmark.csv": rows_csv(by_set)}
    if average:
        files["ranks.csv"] = "method,average_rank\n" + "".join(
            f"{m},{r:.6g}\n" for m, r in sorted(average.items(), key=lambda kv: kv[1])
        )
    shown = text(by_set, average)
    fig = diagram(methods, scores)
    if fig is None:
        shown += (f"\n(no critical-difference diagram: it needs three methods with a figure on "
                  f"every set and two sets; here {len(methods)} and {len(by_set)})")  # fmt: skip
    return shown, files, fig
