"""Side-by-side benchmark: the tutorials' plain Keras code vs lstmlab on the same work.

Every case runs in a fresh subprocess (so each pays its own TensorFlow import and its peak
memory is its own, read from wait4's rusage). lstmlab runs through its real CLI into a
throwaway sqlite store, and its figures are read back from what it logged to MLflow.

    make bench                       # all cases: tables to stdout and docs/bench/latest.md
    .venv/bin/python benchmarks/bench.py --cases online-bilstm bulk --out /tmp/bench.md

The handbook's Speed page (docs/speed.md) includes docs/bench/latest.md, so the table it shows
is the one the last `make bench` wrote; a partial run should write elsewhere (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# LSTM-FCN on JapaneseVowels as lstmlab runs it and as plain Keras fits the same network
# (plain_keras.py builds it from these overrides): the archive preset, no validation split,
# a constant learning rate.
LSTM_FCN = ["experiment=archive", "dataset.name=JapaneseVowels", "model=lstm_fcn",
            "dataset.validation=0", "eval.every_epoch=false", "schedule.lr_schedule=none",
            "schedule.early_stopping.patience=0"]  # fmt: skip

PROJECT_ROOT = HERE.parent
BIN = Path(sys.executable).parent


@dataclass
class Case:
    key: str
    title: str
    plain: list[str]
    lstmlab: list[str]
    # Sweeps are compared on wall time of the whole command, single runs on training time.
    sweep: bool = False


CASES = [
    Case(
        "online-bilstm",
        "online BiLSTM(20), 1000 epochs",
        ["online", "--bidirectional", "--epochs", "1000"],
        ["experiment=seed_online_bilstm"],
    ),
    Case(
        "online-lstm",
        "online LSTM(20), 1000 epochs",
        ["online", "--epochs", "1000"],
        ["experiment=seed_online_lstm"],
    ),
    Case(
        "bulk",
        "bulk BiLSTM(50), 50 000 samples, batch 10",
        ["bulk", "--units", "50", "--eval-samples", "10000"],
        ["experiment=seed_bulk_bilstm", "eval.samples=10000"],
    ),
    Case(
        "bulk-graph",
        "bulk, as above, schedule.jit=false",
        ["bulk", "--units", "50", "--eval-samples", "10000"],
        ["experiment=seed_bulk_bilstm", "eval.samples=10000", "schedule.jit=false"],
    ),
    Case(
        "bulk-regression",
        "bulk, as above, the running sum as a per-timestep regression",
        ["bulk", "--units", "50", "--eval-samples", "10000", "--regression"],
        ["experiment=seed_bulk_bilstm", "eval.samples=10000", "dataset.task=regression"],
    ),
    Case(
        "japanese-vowels",
        "JapaneseVowels BiLSTM(32), 60 epochs, batch 16, 3 seeds",
        ["uea", "--units", "32", "--epochs", "60", "--batch-size", "16", "--seeds", "3"],
        # Hydra's -m goes before the overrides.
        [
            "-m",
            "experiment=uea_japanese_vowels",
            "dataset.validation=0",
            "eval.every=0",
            "schedule.early_stopping.patience=0",
            "seed=0,1,2",
            "hydra/launcher=basic",
        ],
    ),
    Case(
        "lstm-fcn",
        "LSTM-FCN on JapaneseVowels, 100 epochs, batch 128",
        ["lstm-fcn", "--epochs", "100", *(f"--override={o}" for o in LSTM_FCN)],
        [*LSTM_FCN, "schedule.epochs=100"],
    ),
    Case(
        "merge-modes",
        "compare_merge_modes sweep, 4 x 250 epochs",
        ["merge-modes", "--epochs", "250"],
        ["experiment=compare_merge_modes"],
        sweep=True,
    ),
]


@dataclass
class Measure:
    wall: float
    peak_mib: float
    train_seconds: float
    steps: int
    eval_acc: float
    extra: dict = field(default_factory=dict)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.train_seconds


def _run(cmd: list[str]) -> tuple[str, float, float]:
    """stdout, wall seconds and peak RSS (MiB) of one child process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read()
        out.seek(0)
        stdout = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}\n{stderr[-3000:]}")
    return stdout, wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def plain(case: Case) -> Measure:
    stdout, wall, peak = _run([sys.executable, str(HERE / "plain_keras.py"), *case.plain])
    result = json.loads(stdout.strip().splitlines()[-1])
    return Measure(wall, peak, result["train_seconds"], result["steps"], result["eval_acc"])


def lstmlab(case: Case, workdir: Path) -> Measure:
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{workdir / 'bench.db'}"
    experiment = f"bench-{case.key}"
    _, wall, peak = _run(
        [
            str(BIN / "lstmlab"),
            *case.lstmlab,
            f"tracking.uri={store}",
            f"tracking.experiment={experiment}",
            f"hydra.run.dir={workdir}/{case.key}",
            f"hydra.sweep.dir={workdir}/{case.key}",
        ]
    )
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    # A sweep's parent run trains nothing: only the jobs' runs count.
    runs = [r for r in runs if "time_train_s" in r.data.metrics]
    metrics = [r.data.metrics for r in runs]
    steps = sum(len(client.get_metric_history(r.info.run_id, "train_loss")) for r in runs)
    return Measure(
        wall,
        peak,
        sum(m["time_train_s"] for m in metrics),
        steps,
        float(np.mean([_held_out(m) for m in metrics])),
        {
            "runs": len(runs),
            "compile_s": max(m["time_compile_s"] for m in metrics),
            "overhead_s": max(m["time_overhead_s"] for m in metrics),
            "tensorflow_s": sum(tensorflow_seconds(m) for m in metrics),
        },
    )


def _held_out(metrics: dict[str, float]) -> float:
    """A run's held-out accuracy, or a regression's RMSE."""
    return next(metrics[k] for k in ("test_acc", "eval_acc", "eval_rmse") if k in metrics)


def tensorflow_seconds(metrics: dict[str, float]) -> float:
    """What a run spent in TensorFlow itself, by its own metrics: tracing and compiling (a
    cache hit: tracing, lowering and loading), training, testing."""
    return metrics["time_compile_s"] + metrics["time_train_s"] + metrics["time_eval_s"]


def data_seconds() -> float:
    """Best of 5: 50 000 cumsum sequences of 10 steps from lstmlab's generator."""
    from lstmlab.data.cumsum import cumsum_sequences

    rng = np.random.default_rng(0)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        cumsum_sequences(rng, 50_000, 10, 0.25)
        best = min(best, time.perf_counter() - t0)
    return best


def table(rows: list[tuple[Case, Measure, Measure]], data_s: float) -> str:
    lines = [
        "| case | impl | train s | steps/s | speed-up | held-out acc (rmse) | wall s | peak MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, p, lab in rows:
        if case.sweep:
            speedup = f"{p.wall / lab.wall:.1f}x wall"
        else:
            speedup = f"{lab.steps_per_s / p.steps_per_s:.0f}x"
        for name, m, s in (("plain Keras", p, ""), ("lstmlab", lab, speedup)):
            lines.append(
                f"| {case.title} | {name} | {m.train_seconds:.2f} | {m.steps_per_s:,.0f} | {s} | "
                f"{m.eval_acc:.4f} | {m.wall:.1f} | {m.peak_mib:.0f} |"
            )
    notes = [
        "",
        "lstmlab's train s excludes XLA compilation; wall s is the whole command (TensorFlow",
        "import, compilation, MLflow logging and model saving included).",
        "lstmlab's XLA compilation and own overhead (max over a case's runs):",
        *(
            f"- {c.key}: compile {lab.extra['compile_s']:.1f}s, "
            f"overhead {lab.extra['overhead_s']:.2f}s, {lab.extra['runs']} run(s)"
            for c, _, lab in rows
        ),
        f"data: 50 000 cumsum sequences of 10 steps in {data_s * 1000:.1f} ms",
    ]
    return "\n".join(lines + notes)


def goals(rows: list[tuple[Case, Measure, Measure]]) -> list[str]:
    found = {c.key: (p, lab) for c, p, lab in rows}
    checks = []
    if "online-bilstm" in found:
        p, lab = found["online-bilstm"]
        r = lab.steps_per_s / p.steps_per_s
        checks.append(("online BiLSTM(20) steps/s >= 300x plain", r >= 300, f"{r:.0f}x"))
    if "bulk" in found:
        p, lab = found["bulk"]
        r = p.train_seconds / lab.train_seconds
        d = (lab.eval_acc - p.eval_acc) * 100
        checks.append(("bulk training >= 4x faster", r >= 4, f"{r:.1f}x"))
        # Two runs of a random process (plain Keras draws unseeded sequences): only a drop
        # would mean the fast path learns worse.
        checks.append(("bulk eval_acc not more than 0.3 points lower", d >= -0.3,
                       f"{d:+.2f} points"))  # fmt: skip
        checks.append(
            ("bulk peak memory <= plain", lab.peak_mib <= p.peak_mib,
             f"{lab.peak_mib:.0f} vs {p.peak_mib:.0f} MiB"),
        )  # fmt: skip
    if "japanese-vowels" in found:
        p, lab = found["japanese-vowels"]
        r = p.train_seconds / lab.train_seconds
        d = (lab.eval_acc - p.eval_acc) * 100
        checks.append(("JapaneseVowels training >= 4x faster", r >= 4, f"{r:.1f}x"))
        checks.append(("JapaneseVowels test_acc within 1 point of plain Keras", abs(d) <= 1,
                       f"{d:+.2f} points"))  # fmt: skip
    if "bulk-regression" in found and "bulk" in found:
        _, reg = found["bulk-regression"]
        _, cls = found["bulk"]
        r = reg.steps_per_s / cls.steps_per_s
        got = f"{r:.2f}x ({reg.steps_per_s:,.0f} vs {cls.steps_per_s:,.0f})"
        checks.append(("per-timestep regression steps/s >= 0.9x per-timestep classification's",
                       r >= 0.9, got))  # fmt: skip
        p, _ = found["bulk-regression"]
        checks.append(("per-timestep regression eval_rmse not above plain Keras' by 10%",
                       reg.eval_acc <= 1.1 * p.eval_acc,
                       f"{reg.eval_acc:.4f} vs {p.eval_acc:.4f}"))  # fmt: skip
    if "lstm-fcn" in found:
        p, lab = found["lstm-fcn"]
        r = lab.steps_per_s / p.steps_per_s
        d = (lab.eval_acc - p.eval_acc) * 100
        checks.append(("LSTM-FCN on JapaneseVowels trains >= 3x faster than Keras' fit", r >= 3,
                       f"{r:.1f}x (its ceiling here: benchmarks/roofline.py)"))  # fmt: skip
        checks.append(("LSTM-FCN test_acc within 1 point of Keras' fit", abs(d) <= 1,
                       f"{d:+.2f} points"))  # fmt: skip
    if "merge-modes" in found:
        _, lab = found["merge-modes"]
        checks.append(("compare_merge_modes end to end <= 8 s", lab.wall <= 8, f"{lab.wall:.1f} s"))
    if "bulk" in found:
        p, lab = found["bulk"]
        r = p.wall / lab.wall
        checks.append(("bulk whole process >= 3x plain Keras", r >= 3, f"{r:.1f}x"))
    return [f"{'PASS' if ok else 'MISS'}  {name}: {got}" for name, ok, got in checks]


# --- what a run costs around its training (issue: fast at sweep scale) ---------------------


def median_wall(cmd: list[str], times: int = 3) -> float:
    return float(np.median([_run(cmd)[1] for _ in range(times)]))


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 with a sqlite backend in folder; stopped by its own
    PID (and process group) afterwards."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--serve-artifacts",
           "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("benchmark: mlflow server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Costs:
    import_s: float
    default_run_s: float
    no_model_run_s: float
    claim_sweep_s: float
    long_runs: dict[str, tuple[float, float, int]]  # store -> (train s, logging s, steps)
    cache_warm: bool
    # The default runs' TensorFlow seconds (median), and the claim sweep's (sum) and runs.
    default_tensorflow_s: float
    claim_tensorflow_s: float
    claim_runs: list
    store: str


def costs(workdir: Path, steps: int) -> Costs:
    from mlflow.tracking import MlflowClient

    cache = PROJECT_ROOT / ".cache" / "xla"
    warm = cache.is_dir() and any(cache.iterdir())
    print("... import tensorflow, keras", file=sys.stderr, flush=True)
    baseline = median_wall([sys.executable, "-c", "import tensorflow, keras"])
    store = f"sqlite:///{workdir / 'costs.db'}"
    default = [str(BIN / "lstmlab"), f"tracking.uri={store}", f"hydra.run.dir={workdir}/d"]
    print("... default run (the store exists, as for `make run` after the first)",
          file=sys.stderr, flush=True)  # fmt: skip
    _run(default)
    default_s = median_wall(default)
    no_model_s = median_wall([*default, "tracking.log_model=false"])
    print("... claim_merge_modes, 40 jobs on 2 workers", file=sys.stderr, flush=True)
    _, claim_s, _ = _run([str(BIN / "lstmlab"), "experiment=claim_merge_modes",
                          "hydra/launcher=joblib", f"tracking.uri={store}",
                          f"hydra.sweep.dir={workdir}/claim"])  # fmt: skip
    long_runs = {}
    with mlflow_server(workdir / "server") as url:
        for name, uri in (("sqlite", f"sqlite:///{workdir / 'long.db'}"), ("http server", url)):
            print(f"... {steps} online steps logging to {name}", file=sys.stderr, flush=True)
            _run([str(BIN / "lstmlab"), f"schedule.epochs={steps}", f"tracking.uri={uri}",
                  "tracking.experiment=long", f"hydra.run.dir={workdir}/long"])  # fmt: skip
            client = MlflowClient(uri)
            (run,) = client.search_runs([client.get_experiment_by_name("long").experiment_id])
            m = run.data.metrics
            long_runs[name] = (m["time_train_s"], m["time_logging_s"], steps)
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("lstmlab").experiment_id],
                              max_results=1000)  # fmt: skip
    singles = [r for r in runs if "mlflow.parentRunId" not in r.data.tags
               and "time_train_s" in r.data.metrics]  # fmt: skip
    claim = [r for r in runs if r.data.tags.get("lstmlab.preset") == "claim_merge_modes"
             and "time_train_s" in r.data.metrics]  # fmt: skip
    return Costs(baseline, default_s, no_model_s, claim_s, long_runs, warm,
                 float(np.median([tensorflow_seconds(r.data.metrics) for r in singles])),
                 sum(tensorflow_seconds(r.data.metrics) for r in claim), claim, store)  # fmt: skip


def cost_report(c: Costs) -> tuple[str, list[str]]:
    lines = [
        "| measurement | seconds |",
        "| --- | ---: |",
        f"| `python -c \"import tensorflow, keras\"` (median of 3) | {c.import_s:.2f} |",
        f"| default `lstmlab` run, whole process (median of 3) | {c.default_run_s:.2f} |",
        f"| the same with tracking.log_model=false (median of 3) | {c.no_model_run_s:.2f} |",
        f"| claim_merge_modes (40 jobs, hydra/launcher=joblib) | {c.claim_sweep_s:.1f} |",
    ]  # fmt: skip
    for name, (train, logging, steps) in c.long_runs.items():
        lines.append(f"| {steps} online steps to {name}: training / logging | {train:.1f} / "
                     f"{logging:.2f} |")  # fmt: skip
    lines.append("")
    lines.append(f"XLA compilation cache: {'warm' if c.cache_warm else 'cold'} at the start.")
    ratio = c.default_run_s / c.import_s
    checks = [
        ("claim_merge_modes (40 jobs, 2 workers) end to end <= 15 s", c.claim_sweep_s <= 15,
         f"{c.claim_sweep_s:.1f} s"),
        ("default run whole process <= 1.35x import tensorflow, keras", ratio <= 1.35,
         f"{ratio:.2f}x ({c.default_run_s:.1f} vs {c.import_s:.1f} s)"),
    ]  # fmt: skip
    for name, (train, logging, steps) in c.long_runs.items():
        share = logging / train
        checks.append((f"logging a {steps}-step run to {name} <= 10% of training",
                       share <= 0.10, f"{share:.1%} ({logging:.2f} of {train:.1f} s)"))  # fmt: skip
    return "\n".join(lines), [f"{'PASS' if ok else 'MISS'}  {n}: {g}" for n, ok, g in checks]


# --- floors: what lstmlab's design pays here before any work of lstmlab's own ---------------
# A run is one process that imports TensorFlow, Keras and MLflow and logs to MLflow what it
# trained; a joblib sweep is a parent that imports MLflow beside workers that import all three.
# Those imports, TensorFlow's own work (the runs' metrics) and MLflow's own cost of recording
# the runs are the floor under a goal: a goal below it is out of reach without changing what a
# run is; the distance from the floor to the measured figure is lstmlab's own work.

RUN_IMPORTS = "import lstmlab.cli\nfrom lstmlab.experiment import import_run\nimport_run()"
PARENT_IMPORTS = (
    "import lstmlab.cli\nfrom lstmlab.experiment import collector_paused\n"
    "with collector_paused():\n    import mlflow.store.tracking.sqlalchemy_store"
)


@dataclass
class Floors:
    run_imports_s: float  # one process importing what a run imports (median of 3)
    sweep_start_s: float  # a sweep's parent and workers importing theirs at once (median of 3)
    workers: int
    writes_s: float  # MLflow recording the claim sweep's runs again, from one process
    writes_runs: int


def _at_once(commands: list[list[str]]) -> float:
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in commands]
    if any(p.wait() for p in procs):
        raise SystemExit(f"benchmark step failed: {commands}")
    return time.perf_counter() - t0


def replay_seconds(store: str, runs: list, folder: Path) -> float:
    """MLflow's own time to record `runs` (read back from `store`) in a fresh sqlite store:
    each one created with its tags, its params, its metric histories in batches of 1000 (as
    lstmlab sends them), its artifacts and dataset inputs, and ended."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # a bar per run's download
    source = MlflowClient(store)
    logged = []
    for run in runs:
        history = [m for key in run.data.metrics
                   for m in source.get_metric_history(run.info.run_id, key)]  # fmt: skip
        files = folder / run.info.run_id
        files.mkdir(parents=True)
        source.download_artifacts(run.info.run_id, "", str(files))
        logged.append((run, history, files))
    target = MlflowClient(f"sqlite:///{folder / 'replay.db'}")
    experiment = target.create_experiment("replay")  # the new store's set-up is not counted
    t0 = time.perf_counter()
    for run, history, files in logged:
        run_id = target.create_run(experiment, tags=run.data.tags).info.run_id
        target.log_batch(run_id, params=[Param(k, v) for k, v in run.data.params.items()])
        for i in range(0, len(history), 1000):
            target.log_batch(run_id, metrics=[Metric(m.key, m.value, m.timestamp, m.step)
                                              for m in history[i : i + 1000]])  # fmt: skip
        for item in sorted(files.iterdir()):
            if item.is_dir():
                target.log_artifacts(run_id, str(item), item.name)
            else:
                target.log_artifact(run_id, str(item))
        if run.inputs.dataset_inputs:
            target.log_inputs(run_id, run.inputs.dataset_inputs)
        target.set_terminated(run_id, "FINISHED")
    return time.perf_counter() - t0


def floors(c: Costs, folder: Path) -> Floors:
    python = [sys.executable, "-c"]
    print("... floors: a run's imports, a sweep's start, MLflow's writes", file=sys.stderr,
          flush=True)  # fmt: skip
    run_imports = median_wall([*python, RUN_IMPORTS])
    workers = os.cpu_count() or 1  # hydra/launcher=joblib's n_jobs=-1
    start = [[*python, PARENT_IMPORTS], *[[*python, RUN_IMPORTS]] * workers]
    sweep_start = float(np.median([_at_once(start) for _ in range(3)]))
    writes = replay_seconds(c.store, c.claim_runs, folder)
    return Floors(run_imports, sweep_start, workers, writes, len(c.claim_runs))


def floor_report(
    f: Floors, c: Costs, rows: list[tuple[Case, Measure, Measure]]
) -> tuple[str, list[str]]:
    found = {case.key: (p, lab) for case, p, lab in rows}
    lines = [
        "| measurement | seconds |",
        "| --- | ---: |",
        f"| a run's imports alone (lstmlab.cli, then experiment.import_run; median of 3) | "
        f"{f.run_imports_s:.2f} |",
        f"| a sweep's start: the parent's imports beside {f.workers} workers' (median of 3) | "
        f"{f.sweep_start_s:.2f} |",
        f"| MLflow recording the claim sweep's {f.writes_runs} runs again, one process | "
        f"{f.writes_s:.2f} |",
    ]  # fmt: skip
    notes = []
    default = f.run_imports_s + c.default_tensorflow_s
    notes.append(
        f"floor  default run: {default / c.import_s:.2f}x the import (goal 1.35x): a run's "
        f"imports {f.run_imports_s:.1f} s + its TensorFlow work {c.default_tensorflow_s:.1f} s"
    )
    claim = f.sweep_start_s + (c.claim_tensorflow_s + f.writes_s) / f.workers
    notes.append(
        f"floor  claim_merge_modes: {claim:.1f} s (goal 15 s): the start {f.sweep_start_s:.1f} s "
        f"+ (TensorFlow work {c.claim_tensorflow_s:.1f} s + MLflow's writes {f.writes_s:.1f} s)"
        f" / {f.workers} workers"
    )
    if "merge-modes" in found:
        tf = found["merge-modes"][1].extra["tensorflow_s"]
        notes.append(
            f"floor  compare_merge_modes: {f.run_imports_s + tf:.1f} s (goal 8 s): a run's "
            f"imports {f.run_imports_s:.1f} s + its 4 runs' TensorFlow work {tf:.1f} s, "
            "MLflow's writes not counted"
        )
    if "bulk" in found:
        p, lab = found["bulk"]
        tf = lab.extra["tensorflow_s"]
        notes.append(
            f"floor  bulk whole process: at most {p.wall / (f.run_imports_s + tf):.1f}x plain "
            f"Keras (goal 3x): a run's imports {f.run_imports_s:.1f} s + its TensorFlow work "
            f"{tf:.1f} s, against plain Keras' {p.wall:.1f} s"
        )
    return "\n".join(lines), notes


# --- the Markdown file the handbook includes (docs/bench/latest.md) ---------------------------


def stack_report() -> tuple[str, list[str]]:
    """Issue 26's steps/s goal: 10 stacked BiLSTM(20) seeds against one (benchmarks/stacks.py,
    in a process of its own)."""
    cmd = [str(BIN / "python"), str(HERE / "stacks.py"), "--stacks", "10", "--steps", "1000",
           "--repeats", "3", "--json"]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=PROJECT_ROOT)
    *printed, last = out.stdout.strip().splitlines()
    result = json.loads(last)
    ten = next(r for r in result["rows"] if r["program"] == "stack" and r["seeds"] == 10)
    r = ten["vs_one_seed"]
    ok = "PASS" if r >= 5 else "MISS"
    check = f"{ok}  10 stacked BiLSTM(20) seeds' steps/s >= 5x one seed's: {r:.2f}x"
    return "Seeds stacked in one program (benchmarks/stacks.py):\n\n" + "\n".join(printed), [check]


def _final_losses(store: Path) -> dict[str, float]:
    """Each job run's held-out loss (test_loss, or eval_loss on generated data), by run name."""
    import sweep_phases

    nan = float("nan")
    return {r.info.run_name: r.data.metrics.get("test_loss", r.data.metrics.get("eval_loss", nan))
            for r in sweep_phases.job_runs(store)}  # fmt: skip


def stack_sweep_report(folder: Path) -> tuple[str, list[str]]:
    """Issue 26's sweep goals: each sweep stacked (hydra.launcher.stack_seeds=null) and not,
    on fresh stores (benchmarks/sweep_phases.py's sweeps), and whether the two give the same
    held-out losses."""
    import sweep_phases

    # One run, twice: the first of a machine's day pays cold caches (its import, XLA's).
    walls_one = []
    for i in range(2):
        (folder / f"one{i}").mkdir(parents=True)
        walls_one.append(sweep_phases.run([], folder / f"one{i}")[0])
    one = min(walls_one)
    rows, checks, same = [], [], True
    for name, (overrides, goal) in sweep_phases.SWEEPS.items():
        walls, losses = {}, {}
        for mode in ("null", "1"):
            place = folder / f"{name}-{mode}"
            place.mkdir(parents=True)
            walls[mode], store, _ = sweep_phases.run(
                [*overrides, f"hydra.launcher.stack_seeds={mode}"], place
            )
            losses[mode] = _final_losses(store)
        same &= losses["null"].keys() == losses["1"].keys() and all(
            abs(losses["null"][k] - losses["1"][k]) <= 1e-4 for k in losses["1"]
        )
        rows.append(f"| {name} | {walls['null']:.1f} | {walls['1']:.1f} | {goal} |")
        limit = {"default": 1.5 * one, "claim_merge_modes": 12.0, "compare_cells": 25.0}[name]
        ok = "PASS" if walls["null"] <= limit else "MISS"
        checks.append(f"{ok}  {name} stacked end to end <= {limit:.1f} s: {walls['null']:.1f} s")
    checks.append(f"{'PASS' if same else 'MISS'}  stacked sweeps' held-out losses equal the "
                  "unstacked ones' (1e-4)")  # fmt: skip
    table = "\n".join([
        f"Sweeps stacked and not (one run: {one:.1f} s):", "",
        "| sweep | stacked wall s | unstacked wall s | goal |", "| --- | ---: | ---: | --- |",
        *rows,
    ])  # fmt: skip
    return table, checks


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """The short hash of the checkout's HEAD, "+ uncommitted changes" when tracked files differ
    from it (docs/bench/, which the last run wrote, aside); "unknown" outside a git checkout."""
    try:
        git = ["git", "-C", str(root)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", ".", ":!docs/bench"]).returncode
    return head + (" + uncommitted changes" if dirty != 0 else "")


def markdown(report: str, checks: list[str], *, command: str, when: str, commit: str,
             cpus: int) -> str:  # fmt: skip
    """The tables as printed (the cases, the costs, the floors) and the PASS/MISS lines, under
    a heading naming the command, the date, the commit and the machine."""
    heading = f"### `{command}`, {when}, commit {commit}, {cpus} CPUs (nproc)"
    return f"{heading}\n\n{report}\n\n```text\n" + "\n".join(checks) + "\n```\n"


def write_markdown(path: Path, report: str, checks: list[str], *, command: str = "make bench",
                   when: str | None = None, commit: str | None = None,
                   cpus: int | None = None) -> Path:  # fmt: skip
    """Write `markdown(...)` to path (docs/bench/latest.md by default); the date defaults to
    now (UTC), the commit to this checkout's, the CPUs to the ones this process may use."""
    text = markdown(
        report, checks, command=command,
        when=when or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        commit=commit or git_commit(),
        cpus=cpus or len(os.sched_getaffinity(0)),
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", choices=[c.key for c in CASES])
    parser.add_argument("--no-costs", action="store_true", help="skip the per-run cost part")
    parser.add_argument("--no-stacks", action="store_true", help="skip the stacked-seeds part")
    parser.add_argument("--long-steps", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "bench" / "latest.md")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.cases or c.key in args.cases]
    commit = git_commit()  # the code measured, should it change while the benchmark runs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            print(f"... {case.title}: plain Keras", file=sys.stderr, flush=True)
            p = plain(case)
            print(f"... {case.title}: lstmlab", file=sys.stderr, flush=True)
            rows.append((case, p, lstmlab(case, Path(tmp))))
        measured = None if args.no_costs else costs(Path(tmp), args.long_steps)
        under = None if measured is None else floors(measured, Path(tmp) / "replay")
        stacked = None
        if not args.no_stacks:
            text, lines = stack_report()
            sweeps, more = stack_sweep_report(Path(tmp) / "stacks")
            stacked = (text + "\n\n" + sweeps, lines + more)
    checks = goals(rows)
    report = table(rows, data_seconds())
    if measured is not None:
        text, more = cost_report(measured)
        report += "\n\n" + text
        checks += more
    if under is not None:
        text, more = floor_report(under, measured, rows)
        report += "\n\n" + text
        checks += ["", *more]
    if stacked is not None:
        report += "\n\n" + stacked[0]
        checks += ["", *stacked[1]]
    command = (
        "make bench"
        if args.cases is None and not args.no_costs and not args.no_stacks
        else shlex.join(["python", "benchmarks/bench.py", *sys.argv[1:]])
    )
    write_markdown(args.out, report, checks, command=command, commit=commit)
    print(report + "\n\n```text\n" + "\n".join(checks) + "\n```")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
