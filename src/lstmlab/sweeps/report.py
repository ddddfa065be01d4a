"""Read a sweep's runs back from MLflow, align their loss histories, compare configurations.

    lstmlab-report                         # the latest sweep in the default store
    lstmlab-report --sweep <parent run id> --smooth 10
    lstmlab-report --preset compare_merge_modes --uri http://127.0.0.1:5000

A configuration is what the runs' params say apart from the seed: one line per configuration
in the figure, the mean over its seeds with a shaded 95% confidence band (Student's t over
seeds). The figure and CSVs are written under --out and logged on the sweep's parent run.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from lstmlab.config import PROJECT_ROOT
from lstmlab.sweeps import benchmark
from lstmlab.sweeps.groups import (  # noqa: F401 (the report's names, as they were)
    Group,
    RunRecord,
    Selection,
    configuration,
    ensemble_accuracy,
    group_runs,
    mean_ci,
)
from lstmlab.tracking.arguments import sweep_arguments


def smooth(curves: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average along steps, per run."""
    from lstmlab.evaluation.plots import moving_average

    if window <= 1:
        return curves
    return np.stack([moving_average(c, window) for c in curves])


def _predictions(client, run_id: str) -> dict[str, np.ndarray] | None:
    import os
    import tempfile

    # A progress bar per file of a few kilobytes would drown the report.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    from lstmlab.evaluation import PREDICTIONS

    folder, name = PREDICTIONS.rsplit("/", 1)
    if name not in {Path(a.path).name for a in client.list_artifacts(run_id, folder)}:
        return None
    with (
        tempfile.TemporaryDirectory(prefix="lstmlab-report-") as tmp,
        np.load(client.download_artifacts(run_id, PREDICTIONS, tmp)) as saved,
    ):
        return {key: saved[key] for key in saved.files}


def load(uri: str, experiment: str, sweep: str | None, preset: str | None) -> Selection:
    """The finished runs of a sweep (the latest one matching preset when sweep is None)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"lstmlab-report: no experiment {experiment!r} in {uri}")
    from lstmlab.tracking.runs import Tracker

    if sweep is None:
        latest = Tracker(uri, experiment).latest_sweep(preset)
        if latest is None:
            raise SystemExit(
                f"lstmlab-report: no sweep{' of ' + preset if preset else ''} in {uri}"
            )
        sweep = latest.info.run_id

    parent = client.get_run(sweep)
    runs = Tracker(uri, experiment).children(sweep)
    records = []
    for run in runs:
        if run.info.status != "FINISHED":
            continue
        history = sorted(client.get_metric_history(run.info.run_id, "train_loss"),
                         key=lambda m: m.step)  # fmt: skip
        records.append(
            RunRecord(
                run.info.run_id,
                run.info.run_name,
                run.info.status,
                dict(run.data.params),
                dict(run.data.metrics),
                np.array([m.value for m in history]),
                _predictions(client, run.info.run_id) if "test_acc" in run.data.metrics else None,
            )  # fmt: skip
        )
    if not records:
        raise SystemExit(f"lstmlab-report: sweep {sweep} has no finished runs")
    preset = parent.data.tags.get("lstmlab.preset", "none")
    swept = parent.data.tags.get("lstmlab.swept_keys", "").split()
    import time

    end = parent.info.end_time or time.time() * 1000
    seconds = (end - parent.info.start_time) / 1000
    return Selection(sweep, parent.info.run_name, preset, records, swept, seconds)


def figure(groups: list[Group], title: str, window: int):
    import matplotlib.pyplot as plt

    from lstmlab.evaluation import plots  # noqa: F401  (selects the headless backend)

    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    for i, g in enumerate(groups):
        mean, half = mean_ci(smooth(g.curves(), window))
        steps = np.arange(len(mean))
        ax.plot(steps, mean, color=f"C{i}", label=f"{g.label} (n={len(g.runs)})")
        if np.isfinite(half).all():
            ax.fill_between(steps, mean - half, mean + half, color=f"C{i}", alpha=0.2)
    smoothing = f", moving mean of {window} steps" if window > 1 else ""
    ax.set(xlabel="step", ylabel="train_loss",
           title=f"{title}: mean over seeds, 95% CI{smoothing}")  # fmt: skip
    ax.legend()
    return fig


def curves_csv(groups: list[Group], window: int) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["configuration", "step", "seeds", "mean_loss", "ci_low", "ci_high"])
    for g in groups:
        mean, half = mean_ci(smooth(g.curves(), window))
        for step, (m, h) in enumerate(zip(mean, half, strict=True)):
            w.writerow([g.label, step, len(g.runs), f"{m:.6g}", f"{m - h:.6g}", f"{m + h:.6g}"])
    return out.getvalue()


def held_out(groups: list[Group]) -> str:
    """The held-out metric the runs logged: test_acc on a fixed test split, eval_acc on a
    generator's fresh sequences; test_rmse or eval_rmse for a regression."""
    for metric in ("test_acc", "test_rmse", "eval_rmse"):  # classification's; regression's
        if any(metric in r.metrics for g in groups for r in g.runs):
            return metric
    return "eval_acc"


def summary_rows(groups: list[Group], last: int) -> list[dict[str, object]]:
    """Per configuration: seeds; loss AUC, mean loss over the last `last` steps, the
    held-out accuracy and (on a test split) macro-F1, each as mean and 95% CI half-width over
    seeds; and the accuracy of the seeds' ensemble on the test split."""
    rows = []
    acc = held_out(groups)
    f1 = acc == "test_acc" and any("test_f1_macro" in r.metrics for g in groups for r in g.runs)
    for g in groups:
        row: dict[str, object] = {"configuration": g.label, "seeds": len(g.runs)}
        columns = {
            "loss_auc": np.array(list(g.auc().values())),
            "final_loss": g.curves()[:, -last:].mean(axis=1),
            acc: g.metric(acc),
        }
        if f1:
            columns["test_f1_macro"] = g.metric("test_f1_macro")
        if acc.endswith("rmse"):  # beside the baselines (the mean; a forecast's naive ones)
            columns["test_skill"] = g.metric(acc.replace("rmse", "skill"))
        for key, values in columns.items():
            mean, half = mean_ci(values)
            row[key], row[f"{key}_ci"] = float(mean), float(half)
        if acc == "test_acc":
            row["ensemble_test_acc"] = g.ensemble_acc()
        rows.append(row)
    return rows


def summary_table(rows: list[dict[str, object]], last: int) -> str:
    def pm(value: float, half: float) -> str:
        return f"{value:.4f} ± {half:.4f}" if np.isfinite(half) else f"{value:.4f}"

    width = max(len("configuration"), *(len(str(r["configuration"])) for r in rows))
    final = f"loss, last {last} steps"
    acc = next((m for m in ("test_acc", "test_rmse", "eval_rmse") if m in rows[0]), "eval_acc")
    f1, ensemble = "test_f1_macro" in rows[0], "ensemble_test_acc" in rows[0]
    skill = "test_skill" in rows[0]
    head = f"{'configuration':<{width}}  seeds  {'loss AUC':<17}  {final:<20}  {acc:<17}"
    head += "  test_f1_macro    " * f1 + "  test_skill       " * skill
    head += "  ensemble_test_acc" * ensemble
    lines = [head.rstrip()]
    for r in rows:
        line = (
            f"{r['configuration']:<{width}}  {r['seeds']:>5}  "
            f"{pm(r['loss_auc'], r['loss_auc_ci']):<17}  "
            f"{pm(r['final_loss'], r['final_loss_ci']):<20}  {pm(r[acc], r[f'{acc}_ci']):<17}"
        )
        if f1:
            line += f"  {pm(r['test_f1_macro'], r['test_f1_macro_ci']):<17}"
        if skill:
            line += f"  {pm(r['test_skill'], r['test_skill_ci']):<17}"
        if ensemble:
            line += f"  {r['ensemble_test_acc']:.4f}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def ensemble_metrics(rows: list[dict[str, object]]) -> dict[str, float]:
    """ensemble_test_acc per configuration, as metrics of the sweep's parent run: the key
    alone for a sweep of one configuration, else one per configuration, named after it in the
    characters MLflow allows in a key (``ensemble_test_acc/units:4``; the UI groups them)."""
    import re

    found = [r for r in rows if np.isfinite(r.get("ensemble_test_acc", np.nan))]
    if len(found) == 1 and len(rows) == 1:
        return {"ensemble_test_acc": float(found[0]["ensemble_test_acc"])}
    return {
        "ensemble_test_acc/"
        + re.sub(r"[^\w./ :-]", "-", str(r["configuration"]).replace("=", ":")): float(
            r["ensemble_test_acc"]
        )
        for r in found
    }


def rows_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def claim_values(claim, groups: list[Group]) -> dict[str, dict]:
    """Per configuration a claim names: its runs' values (loss AUC, or claim.metric) by seed;
    where the name is one part of longer labels (model=fcn in "dataset.name=GunPoint
    model=fcn"), by (the rest of the label, seed), so that the runs pair up set by set."""
    names = {c.better for c in claim.comparisons} | {c.worse for c in claim.comparisons}
    values: dict[str, dict] = {name: {} for name in names | set(claim.differ)}
    for g in groups:
        parts = g.label.split(" ")
        for name in values:
            if g.label == name:
                key = lambda r: r.seed  # noqa: E731
            elif name in parts:
                rest = " ".join(p for p in parts if p != name)
                key = lambda r, rest=rest: (rest, r.seed)  # noqa: E731
            else:
                continue
            for r in g.runs:
                value = (float(np.mean(r.losses)) if claim.metric == "loss_auc"
                         else r.metrics.get(claim.metric, np.nan))  # fmt: skip
                if np.isfinite(value):
                    values[name][key(r)] = value
    return values


def judge_claims(preset: str, groups: list[Group]) -> str:
    """The verdicts on the claims a preset tests, as text ('' when it tests none)."""
    from lstmlab.sweeps.claims import CLAIMS, METHOD, describe, judge

    verdicts = []
    for claim in CLAIMS.get(preset, ()):
        values = claim_values(claim, groups)
        missing = sorted(label for label, found in values.items() if not found)
        if not missing:
            verdicts.append(describe(judge(claim, values)))
            continue
        # A sweep over part of a claim's configurations is judged on the comparisons it has.
        partial = replace(
            claim,
            comparisons=tuple(c for c in claim.comparisons
                              if c.better not in missing and c.worse not in missing),
            differ=() if set(missing) & set(claim.differ) else claim.differ,
        )  # fmt: skip
        gap = f"not tested: no runs of {', '.join(missing)}"
        if not partial.comparisons and not partial.differ:
            verdicts.append(f"claim: {claim.text}\n  {gap}")
            continue
        verdicts.append(
            describe(judge(partial, values)) + f"\n  {gap}: the verdict is on the comparisons "
            "above only"
        )
    return "\n\n".join([*verdicts, METHOD]) if verdicts else ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lstmlab-report", description=__doc__.splitlines()[0])
    sweep_arguments(parser)
    parser.add_argument("--smooth", type=int, default=1, help="moving-mean window, in steps")
    parser.add_argument("--tail", type=int, default=50, help="last steps averaged as final loss")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports")
    args = parser.parse_args(argv)
    if args.smooth < 1 or args.tail < 1:
        parser.error("--smooth and --tail must be at least 1")

    selection = load(args.uri, args.experiment, args.sweep, args.preset)
    groups = group_runs(selection.records, selection.swept)
    rows = summary_rows(groups, args.tail)
    out = args.out / f"{selection.title.replace(' ', '_')}_{selection.parent_run_id[:8]}"
    out.mkdir(parents=True, exist_ok=True)
    fig = figure(groups, selection.title, args.smooth)
    fig.savefig(out / "loss_curves.png", dpi=120)
    files = {
        "loss_curves.csv": curves_csv(groups, args.smooth),
        "summary.csv": rows_csv(rows),
    }
    verdicts = judge_claims(selection.preset, groups)
    if verdicts:
        files["claims.txt"] = verdicts
    benchmarked, diagram = "", None
    if benchmark.applies(selection):
        benchmarked, tables, diagram = benchmark.report(selection)
        files.update(tables)
        files["benchmark.txt"] = benchmarked
        if diagram is not None:
            diagram.savefig(out / "critical_difference.png", dpi=120, bbox_inches="tight")
    for name, text in files.items():
        (out / name).write_text(text)

    from mlflow.tracking import MlflowClient

    from lstmlab.tracking.runs import RunLog

    log = RunLog(MlflowClient(args.uri), selection.parent_run_id)
    log.figure(fig, "report/loss_curves.png")
    if diagram is not None:
        log.figure(diagram, "report/critical_difference.png")
    ensembles = ensemble_metrics(rows)
    if ensembles:
        log.metrics(ensembles)
    for name, text in files.items():
        log.text(text, f"report/{name}")
    print(f"{selection.title} ({selection.parent_run_id}): {len(selection.records)} runs")
    print(summary_table(rows, args.tail))
    if verdicts:
        print(f"\n{verdicts}")
    if benchmarked:
        print(f"\n{benchmarked}")
    print(f"sweep wall time: {selection.seconds:.1f} s")
    print(f"written to {out} and logged on run {selection.parent_run_id}")


if __name__ == "__main__":
    main(sys.argv[1:])
