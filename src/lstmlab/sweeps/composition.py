"""A sweep job's config at a fraction of Hydra's cost.

Hydra composes every job from scratch (defaults tree, every YAML merged, ~0.1 s alone and
0.25 s beside a busy worker), once in the sweeper to check the job and once more in the
worker to run it: for a 40-job sweep of 0.5-s jobs that is most of its time. A sweep's jobs
mostly differ in values only (seed=3, model.units=8). Here Hydra composes once per distinct
set of the other overrides (group choices, additions, deletions, Hydra's own settings), and
each job's value changes are applied to a copy with Hydra's own override code, then the
fields Hydra derives from a job's overrides are set as it sets them.
tests/test_composition.py checks the result equals Hydra's composition, node for node.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict

from lstmlab.config import GROUPS


def is_value(override: Override) -> bool:
    """A plain change of a config value (model.units=8), which Hydra applies to the composed
    config as OmegaConf.update does; not a choice of a group option (model=gru), an addition,
    a deletion, or one of Hydra's own settings, which change the composition itself."""
    key = override.key_or_group
    return (
        override.type is OverrideType.CHANGE
        and override.package is None
        and "/" not in key
        and key not in GROUPS
        and not key.startswith("hydra")
    )


class ByStructure:
    """Configs composed once per structure: compose(structure) runs once per distinct list of
    the overrides that are not plain values, and each call gets a copy of its result with the
    value overrides applied by Hydra's own code, in order, as Hydra applies them after
    composing. Returns the config and the parsed overrides."""

    def __init__(self, compose: Callable[[list[str]], DictConfig]) -> None:
        self._compose = compose
        self._parser = OverridesParser.create()
        self._composed: dict[tuple[str, ...], DictConfig] = {}

    def __call__(self, overrides: Sequence[str]) -> tuple[DictConfig, list[Override]]:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        parsed = self._parser.parse_overrides(list(overrides))
        structure = tuple(o.input_line for o in parsed if not is_value(o))
        if structure not in self._composed:
            self._composed[structure] = self._compose(list(structure))
        cfg = copy.deepcopy(self._composed[structure])
        ConfigLoaderImpl._apply_overrides_to_config([o for o in parsed if is_value(o)], cfg)
        return cfg, parsed

    @property
    def compositions(self) -> int:
        """How many times the composition itself ran."""
        return len(self._composed)


class JobConfigs:
    """The configs of one sweep's jobs, composed by Hydra's config loader once per structure.

    Hydra's value overrides are applied in order after its composition, in struct mode, so
    applying them to a copy of the composition without them gives the same config; what
    Hydra derives from a job's overrides (hydra.overrides.task, hydra.job.override_dirname)
    is derived again from all of them."""

    def __init__(self, loader, master: DictConfig) -> None:
        self.master = master
        # load_sweep_config puts the master's Hydra overrides first itself.
        given = len(master.hydra.overrides.hydra)
        self._configs = ByStructure(
            lambda structure: loader.load_sweep_config(master, structure[given:])
        )

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """What ``loader.load_sweep_config(master, overrides)`` returns."""
        from hydra._internal.config_loader_impl import get_overrides_dirname

        cfg, parsed = self._configs([*self.master.hydra.overrides.hydra, *overrides])
        task = [o for o in parsed if not o.is_hydra_override()]
        dirname = cfg.hydra.job.config.override_dirname
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in task]
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=task,
                kv_sep=dirname.kv_sep,
                item_sep=dirname.item_sep,
                exclude_keys=dirname.exclude_keys,
            )
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        return cfg

    @property
    def compositions(self) -> int:
        return self._configs.compositions
