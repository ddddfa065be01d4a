"""lstmlab-rerun: run a logged run again from the config stored with it, and compare.

    lstmlab-rerun <run id>                      # in the default store
    lstmlab-rerun <run id> --uri http://127.0.0.1:5000

The new run is logged to the same store and experiment, tagged ``lstmlab.rerun_of``. Exits 0
when its held-out metrics and train_loss history equal the original's exactly, 1 when they differ.
A run that trained in a stack of seeds (tag ``lstmlab.stack``) reruns alone, whose arithmetic
rounds differently from the stack's batched products: it is compared to float rounding
(ROUNDING, the tolerance tests/test_stacks.py shows a stack's seeds keep).
"""

from __future__ import annotations

import argparse
import sys

import yaml

from lstmlab.config import DEFAULT_TRACKING_URI, ConfigError, from_resolved, to_settings

ROUNDING = 1e-5


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lstmlab-rerun", description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument(
        "--uri", default=DEFAULT_TRACKING_URI, help="MLflow tracking URI of the run"
    )
    args = parser.parse_args(argv)

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from lstmlab.experiment import Job, run
    from lstmlab.tracking.runs import STACK, Tracker

    client = MlflowClient(args.uri)
    try:
        original = client.get_run(args.run_id)
        stored = client.download_artifacts(args.run_id, "config.yaml")
    except MlflowException as exc:
        sys.exit(f"lstmlab-rerun: error: run {args.run_id}: {str(exc).splitlines()[0]}")
    with open(stored) as f:
        tree = yaml.safe_load(f)
    # Log next to the original, wherever the stored config said it was logged then.
    experiment = client.get_experiment(original.info.experiment_id).name
    tree["tracking"].update(uri=args.uri, experiment=experiment, parent_run_id=None)
    try:
        cfg = from_resolved(tree)
        settings = to_settings(cfg)
    except ConfigError as exc:
        sys.exit(f"lstmlab-rerun: error: the stored config: {exc}")
    tags = {"lstmlab.rerun_of": args.run_id,
            "lstmlab.preset": original.data.tags.get("lstmlab.preset", "none")}  # fmt: skip
    job = Job(name=f"rerun of {original.info.run_name}", tags=tags)
    outcome = run(cfg, settings, job, Tracker(args.uri, experiment))

    def history(run_id: str) -> list[float]:
        points = client.get_metric_history(run_id, "train_loss")
        return [m.value for m in sorted(points, key=lambda m: m.step)]

    stacked = not original.data.tags.get(STACK, "none").startswith("none")
    tolerance = ROUNDING if stacked else 0.0

    def equal(a: list[float], b: list[float]) -> bool:
        return len(a) == len(b) and all(
            x == y or abs(x - y) <= tolerance for x, y in zip(a, b, strict=True)
        )

    same = True
    print(f"\n{'metric':<14}{'original':>14}{'rerun':>14}")
    for key in outcome.metrics:
        a, b = original.data.metrics.get(key, float("nan")), outcome.metrics[key]
        ok = equal([a], [b])
        same &= ok
        print(f"{key:<14}{a:>14.6f}{b:>14.6f}{'' if ok else '  differs'}")
    old, new = history(args.run_id), history(outcome.run_id)
    ok = equal(old, new)
    same &= ok
    print(f"{'train_loss':<14}{len(old):>8} steps{len(new):>8} steps"
          f"{'  identical' if old == new else '  equal' if ok else '  differs'}")  # fmt: skip
    if not same:
        verdict = "DIFFERENT"
    elif stacked:
        verdict = (f"equal to float rounding ({ROUNDING:g}; it trained in a stack of "
                   f"{original.data.tags[STACK]}, alone here)")  # fmt: skip
    else:
        verdict = "identical"
    print(f"rerun {outcome.run_id}: {verdict} to {args.run_id}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
