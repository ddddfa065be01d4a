"""lstmlab-register: register the best model of a sweep in MLflow's model registry.

    lstmlab-register --name cumsum-bilstm                       # the latest sweep's best
    lstmlab-register --name vowels --preset compare_cells --metric test_acc --mode max
    lstmlab-register --name vowels --run <run id>               # one run's model
    mlflow models serve -m models:/vowels@champion --env-manager local

The best finished run of the sweep by the metric (default: the held-out loss, test_loss or
eval_loss, lowest) has its logged model registered under the name, as a new version, and the
alias (default: champion) moved to that version. It prints what it chose and why.
"""

from __future__ import annotations

import argparse
import math
import sys

from lstmlab.tracking.arguments import sweep_arguments


def _fail(message: str) -> None:
    print(f"lstmlab-register: error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lstmlab-register", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="registered model name")
    sweep_arguments(parser)
    parser.add_argument("--run", help="register this run's model instead of a sweep's best")
    parser.add_argument("--metric", help="what 'best' means (default: test_loss or eval_loss)")
    parser.add_argument(
        "--mode", choices=["min", "max"], help="default: min for *loss, *rmse, *mae, else max"
    )
    parser.add_argument("--alias", default="champion")
    args = parser.parse_args(argv)

    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from lstmlab.tracking.runs import Tracker

    client = MlflowClient(args.uri)
    if args.run:
        try:
            candidates = [client.get_run(args.run)]
        except MlflowException as exc:
            _fail(f"run {args.run}: {str(exc).splitlines()[0]}")
        source = f"run {args.run}"
    else:
        tracker = Tracker(args.uri, args.experiment)
        sweep = args.sweep
        if sweep is None:
            latest = tracker.latest_sweep(args.preset)
            if latest is None:
                _fail(f"no sweep{' of ' + args.preset if args.preset else ''} in {args.uri}")
            sweep = latest.info.run_id
        candidates = tracker.children(sweep)
        source = f"sweep {sweep}"
    finished = [r for r in candidates if r.info.status == "FINISHED" and _model_id(r)]
    if not finished:
        _fail(f"{source} has no FINISHED run with a logged model (tracking.log_model=true)")
    metric = args.metric or next(
        (m for m in ("test_loss", "eval_loss") if any(m in r.data.metrics for r in finished)),
        "test_loss",
    )
    mode = args.mode or ("min" if metric.endswith(LOWER_IS_BETTER) else "max")
    scored = [r for r in finished if math.isfinite(r.data.metrics.get(metric, math.nan))]
    if not scored:
        _fail(f"no FINISHED run of {source} has the metric {metric!r}")
    ranked = sorted(scored, key=lambda r: r.data.metrics[metric], reverse=mode == "max")
    best = ranked[0]
    model_id = _model_id(best)
    mlflow.set_tracking_uri(args.uri)
    mlflow.set_registry_uri(args.uri)
    version = mlflow.register_model(f"models:/{model_id}", args.name)
    client.set_registered_model_alias(args.name, args.alias, version.version)
    value = best.data.metrics[metric]
    client.set_model_version_tag(args.name, version.version, "lstmlab.run", best.info.run_id)
    client.set_model_version_tag(args.name, version.version, f"lstmlab.{metric}", str(value))
    runner_up = (f"; next best {ranked[1].data.metrics[metric]:.4f} "
                 f"({ranked[1].info.run_name})") if len(ranked) > 1 else ""  # fmt: skip
    print(
        f"registered {args.name} version {version.version} as @{args.alias}: run "
        f"{best.info.run_id} ({best.info.run_name}), {metric} {value:.4f}, the "
        f"{'lowest' if mode == 'min' else 'highest'} of {len(ranked)} finished run(s) of "
        f"{source}{runner_up}\n"
        f"  serve: mlflow models serve -m models:/{args.name}@{args.alias} --env-manager local"
    )


# Metrics whose lower values are better (losses, a regression's and a forecast's errors).
LOWER_IS_BETTER = ("loss", "rmse", "mae", "mape", "smape", "mase")


def _model_id(run) -> str | None:
    outputs = run.outputs.model_outputs if run.outputs else []
    return outputs[0].model_id if outputs else None


if __name__ == "__main__":
    main(sys.argv[1:])
