"""Hydra callback that groups a multirun's jobs under one parent MLflow run."""

from __future__ import annotations

import atexit
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, read_write


def swept_keys(overrides: Iterable[str], params: Mapping[str, Any] | None) -> set[str]:
    """The keys a multirun varies: the sweeper's params (set by presets) and the command line's
    sweep overrides (a,b / range(...) / choice(...))."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return set(params or {}) | {o.key_or_group for o in parsed if o.is_sweep_override()}


def expand(overrides: Iterable[str], params: Mapping[str, Any] | None) -> list[list[str]]:
    """A basic sweep's jobs, as Hydra's BasicSweeper makes them: the sweeper's params (set by
    presets) first, the command line after them; one override list per job."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    arguments = [f"{k}={v}" for k, v in (params or {}).items()] + list(overrides)
    parser = OverridesParser.create()
    (batch,) = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
    return batch


# The sweepers whose jobs are the cartesian product of the sweep's values (expand above).
BASIC_SWEEPERS = ("hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                  "hydra_plugins.lstmlab.sweeper.Sweeper")  # fmt: skip


def is_basic(sweeper: Mapping[str, Any]) -> bool:
    return str(sweeper.get("_target_", "")) in BASIC_SWEEPERS


def sweep_key(preset: str | None, overrides: Iterable[str], params: Mapping[str, Any]) -> str:
    """What defines a sweep: its preset, its command line less Hydra's own settings (launcher,
    folders) and where it is logged, and the preset's sweep params. The same key again means
    the same jobs: the sweep resumes."""
    import hashlib

    kept = sorted(o for o in overrides if not o.lstrip("+~").startswith(_NOT_DEFINING))
    text = repr((preset, kept, sorted((str(k), str(v)) for k, v in params.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_NOT_DEFINING = ("hydra.", "hydra/", "tracking.")


class SweepCallback(Callback):
    """Creates the parent run before any job starts and ends it after the last one.

    Creating the parent also creates the MLflow store and the experiment once, in this
    process: parallel workers racing to create a fresh sqlite store's tables crash. Each job
    learns its parent through the override ``tracking.parent_run_id``, added here to the
    sweep's task overrides (Hydra reads them after ``on_multirun_start``), so it reaches jobs
    of every launcher, local or remote, without a shared disk.
    """

    def __init__(self) -> None:
        self.tracker: Any = None
        self.parent_run_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._start(config)
        except Exception as exc:
            # Hydra turns a callback's exception into a warning and would run every job
            # without its parent; stop before any job starts instead.
            print(f"lstmlab: error: cannot start the sweep: {type(exc).__name__}: "
                  f"{str(exc).splitlines()[0]}", file=sys.stderr)  # fmt: skip
            sys.exit(2)

    def _start(self, config: DictConfig) -> None:
        from lstmlab.experiment import collector_paused

        with collector_paused():
            from lstmlab.tracking.runs import Tracker

            self.tracker = Tracker(config.tracking.uri, config.tracking.experiment)
        hydra = config.hydra  # HydraConfig.get() is only set inside jobs
        preset = hydra.runtime.choices.get("experiment")
        preset = None if preset in (None, "null") else preset
        overrides = list(hydra.overrides.task)
        params = dict(hydra.sweeper.get("params") or {})
        key = sweep_key(preset, overrides, params)
        previous = None if config.tracking.rerun else self.tracker.find_sweep(key)
        if previous is not None:
            # The same sweep again: its runs left RUNNING by a process that died (SIGKILL,
            # OOM) are ended KILLED first; then it continues under its parent: jobs that
            # already FINISHED are skipped (cli.main), the others run and join the same parent.
            runs = [previous, *self.tracker.children(previous.info.run_id)]
            for line in self.tracker.bury_dead(runs):
                print(f"sweep: {line}", flush=True)
            previous = self.tracker.client.get_run(previous.info.run_id)
            log = self.tracker.reopen(previous.info.run_id)
            print(f"sweep: resuming sweep {log.run_id} ({previous.info.status})", flush=True)
        else:
            log = self.tracker.create_run(
                f"sweep {preset}" if preset else "sweep",
                {
                    "lstmlab.preset": preset or "none",
                    "lstmlab.kind": "sweep",
                    "lstmlab.sweep_key": key,
                    "lstmlab.sweep_dir": str(hydra.sweep.dir),
                    "lstmlab.overrides": " ".join(overrides) or "(none)",
                    "lstmlab.swept": " ".join(f"{k}={v}" for k, v in params.items()) or "(none)",
                },
            )
        self.parent_run_id = log.run_id
        log.tags({"lstmlab.sweep": log.run_id})
        keys = sorted(swept_keys(overrides, params))
        log.tags({"lstmlab.swept_keys": " ".join(keys)})
        from omegaconf import OmegaConf

        from lstmlab.config import GeneratedConfig

        generated = issubclass(OmegaConf.get_type(config.dataset) or object, GeneratedConfig)
        view = self.tracker.share_sweep_view(log.run_id, keys, "eval" if generated else "test")
        with read_write(hydra.overrides.task):
            hydra.overrides.task.append(f"tracking.parent_run_id={log.run_id}")
        # An interrupted sweep never reaches on_multirun_end; its parent must not stay RUNNING.
        atexit.register(self._end, interrupted=True)
        print(f"sweep: parent run {log.run_id} in {self.tracker.uri}\n"
              f"sweep: compare its runs at {view}", flush=True)  # fmt: skip

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        parent = self.parent_run_id
        bad = self._end(interrupted=False)
        if parent is not None and config.tracking.get("report"):
            self._report(config, parent)
        if bad:
            print(f"sweep: {len(bad)} job(s) did not finish:", file=sys.stderr)
            for line in bad:
                print(f"  {line}", file=sys.stderr)
            sys.exit(1)

    def _report(self, config: DictConfig, parent: str) -> None:
        """The sweep's report (lstmlab-report): table, claims' verdicts, figure and CSVs,
        printed here and logged on the parent run."""
        from lstmlab.experiment import collector_paused

        with collector_paused():
            from lstmlab.sweeps import report

        print("", flush=True)
        try:
            # A moving mean of 10 steps: per-step losses of batch-1 training are noisy.
            # Written beside the sweep's own output (multirun/<date>/<time>/report_...).
            report.main([
                "--sweep", parent, "--uri", str(config.tracking.uri),
                "--experiment", str(config.tracking.experiment), "--smooth", "10",
                "--out", str(config.hydra.sweep.dir),
            ])  # fmt: skip
        except SystemExit as exc:  # no finished runs to report on
            print(exc, file=sys.stderr)

    def _end(self, interrupted: bool) -> list[str]:
        if self.parent_run_id is None:
            return []
        parent, self.parent_run_id = self.parent_run_id, None
        total, bad = self.tracker.end_parent(parent, interrupted=interrupted)
        print(f"sweep: parent run {parent}: {total - len(bad)} of {total} configurations "
              "finished" + (" (interrupted)" if interrupted else ""))  # fmt: skip
        return bad
