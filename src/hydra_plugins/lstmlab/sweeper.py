"""hydra/sweeper=basic: Hydra's basic sweeper, the same jobs from the same keys in the same
order, with a cheaper check of each batch.

Before launching a batch, Hydra's basic sweeper composes every job once, so that a bad one
fails before any starts: 0.17 s a job here, 7 s of a 40-job sweep with nothing running yet.
Here the jobs are composed by composition.JobConfigs: once per distinct structure."""

from __future__ import annotations

from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from lstmlab.sweeps.composition import JobConfigs


class Sweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        configs = JobConfigs(self.hydra_context.config_loader, self.config)
        for overrides in batch:
            configs.compose(overrides)
