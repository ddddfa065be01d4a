"""A sweep job's config composed once per structure (composition.JobConfigs) equals Hydra's
own composition of that job, node for node; lstmlab's sweeper and launcher rely on it."""

from __future__ import annotations

import os

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from hydra_plugins.lstmlab.launcher import parallel_workers, tasks
from lstmlab.config import CONF_DIR, register_configs
from lstmlab.sweeps.callback import expand
from lstmlab.sweeps.composition import JobConfigs

register_configs()

SWEEPS = [
    # a preset's sweep, its values from hydra.sweeper.params
    ["experiment=claim_merge_modes", "hydra/launcher=joblib"],
    # group choices and values swept together, a preset group, a Hydra setting
    ["model=lstm,gru", "model.units=4,8", "seed=0,1", "debug=fast", "hydra.job.chdir=false",
     "schedule.epochs=3"],
    # a list value, a quoted string, another dataset, a key override_dirname leaves out
    ["model.units=[4,2]", "tracking.experiment='with space'", "dataset=echo",
     "dataset.length=5,6", "tracking.parent_run_id=abc", "seed=range(0,2)"],
]  # fmt: skip


@pytest.mark.parametrize("overrides", SWEEPS)
def test_each_job_equals_hydras_composition(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides, RunMode.MULTIRUN)
        params = master.hydra.sweeper.params
        jobs = expand(master.hydra.overrides.task, OmegaConf.to_container(params) if params else {})
        sweep_dir = master.hydra.sweep.dir  # resolved first, as the sweeper does
        assert len(jobs) >= 4
        configs = JobConfigs(loader, master)
        for job in jobs:
            ours = configs.compose(job)
            hydras = loader.load_sweep_config(master, job)
            assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydras), job

            # The same resolved values (Hydra's own node resolves only inside a job), the same
            # sweep folder (its ${now:} resolved once, in the master), the same flags.
            def job_part(cfg):
                part = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
                return OmegaConf.to_container(part, resolve=True)

            assert job_part(ours) == job_part(hydras), job
            assert ours.hydra.sweep.dir == hydras.hydra.sweep.dir == sweep_dir
            assert OmegaConf.is_struct(ours) and not OmegaConf.is_readonly(ours.hydra)
        # Composed by Hydra once per distinct structure, not once per job.
        assert configs.compositions < len(jobs)


def test_a_job_cannot_set_a_key_the_config_does_not_have():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", [], RunMode.MULTIRUN)
        configs = JobConfigs(loader, master)
        with pytest.raises(Exception, match="model.nonsense"):
            configs.compose(["model.nonsense=1"])
        with pytest.raises(Exception, match="Could not find 'model/nope'"):
            configs.compose(["model=nope"])


def test_jobs_that_share_a_program_are_one_task():
    claim = [[f"model.merge_mode={m}", f"seed={s}", "experiment=claim_merge_modes"]
             for m in ("concat", "sum", "mul", "ave") for s in range(10)]  # fmt: skip
    # 40 jobs, 2 workers: a merge mode's ten seeds are one task; 4 tasks.
    assert tasks(claim, 2) == [list(range(k, k + 10)) for k in (0, 10, 20, 30)]
    # More workers: smaller pieces, each still of one merge mode.
    assert tasks(claim, 4) == [list(range(k, min(k + 5, 40))) for k in range(0, 40, 5)]
    # Seeds and learning rates only: one program, cut so that both workers have work.
    seeds = [[f"seed={s}", f"model.learning_rate={lr}"] for s in range(8) for lr in (0.1, 0.01)]
    assert tasks(seeds, 2) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    # Four different models on two workers: one job a task.
    models = [[f"model.merge_mode={m}"] for m in ("concat", "sum", "mul", "ave")]
    assert tasks(models, 2) == [[0], [1], [2], [3]]


def test_the_warm_workers_are_the_ones_the_launcher_uses():
    from joblib import Parallel, delayed

    from hydra_plugins.lstmlab import launcher

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        cfg = loader.load_configuration(
            "config", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], RunMode.MULTIRUN
        )
    # The CLI starts them after its pre-flight check; the sweep's start then starts no others.
    launcher.warm_up(cfg)
    first = launcher._warming
    launcher.WarmWorkers().on_multirun_start(cfg)
    assert launcher._warming is first and first.is_alive()
    first.join()
    warmed = set(launcher.warmed)
    assert len(warmed) == 2 and os.getpid() not in warmed
    kwargs = launcher._joblib_kwargs(OmegaConf.to_container(cfg.hydra.launcher))
    used = set(Parallel(**kwargs)(delayed(os.getpid)() for _ in range(6)))
    assert used and used <= warmed  # joblib started no new workers


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], 2),
        (["hydra/launcher=joblib"], os.cpu_count()),  # n_jobs=-1: every core
        (["hydra/launcher=joblib", "hydra.launcher.n_jobs=-2"], max(1, os.cpu_count() - 1)),
        (["hydra/launcher=basic"], 1),
        (["hydra/launcher=ray"], 1),
    ],
)
def test_parallel_workers_reads_n_jobs_as_joblib_does(overrides, expected):
    # What cli.job_of divides the cores by (threads=0 in a sweep): a worker's TensorFlow threads.
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        cfg = loader.load_configuration("config", overrides, RunMode.MULTIRUN)
    assert parallel_workers(cfg.hydra.launcher) == expected
