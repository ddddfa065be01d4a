"""Composition of the real configs: every preset composes, bad input fails naming the key."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import OmegaConfBaseException

from lstmlab.config import (
    CONF_DIR,
    DEFAULT_TRACKING_URI,
    BulkConfig,
    ConfigError,
    CumsumConfig,
    Direction,
    EchoConfig,
    MergeMode,
    OnlineConfig,
    to_settings,
)

PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def test_presets_listed():
    assert {
        "seed_bulk_bilstm",
        "seed_online_lstm",
        "seed_online_bilstm",
        "compare_directions",
        "compare_merge_modes",
        "echo",
    } <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_and_validates(compose_cfg, preset):
    settings = to_settings(compose_cfg(f"experiment={preset}"))
    assert settings.seed == 0
    assert getattr(settings.model, "units", None) or settings.model.kind == "rocket"


def test_default_config(compose_cfg, project_root):
    cfg = compose_cfg()
    s = to_settings(cfg)
    assert isinstance(s.dataset, CumsumConfig) and s.dataset.timesteps == 10
    assert s.dataset.threshold == 0.25
    assert isinstance(s.schedule, OnlineConfig) and s.schedule.epochs == 1000
    assert s.model.direction is Direction.bidirectional
    assert s.model.merge_mode is MergeMode.concat
    # Absolute, at the repository root, whatever the working directory.
    assert cfg.tracking.uri == f"sqlite:///{project_root}/mlflow.db" == DEFAULT_TRACKING_URI


def test_seed_bulk_preset_matches_seed_000(compose_cfg):
    s = to_settings(compose_cfg("experiment=seed_bulk_bilstm"))
    assert isinstance(s.schedule, BulkConfig)
    assert (s.schedule.batch_size, s.schedule.epochs, s.dataset.samples) == (10, 1, 50_000)
    assert (s.model.units, s.model.direction, s.model.merge_mode) == (
        50,
        Direction.bidirectional,
        MergeMode.concat,
    )


def test_echo_preset_matches_seed_003(compose_cfg):
    s = to_settings(compose_cfg("experiment=echo"))
    assert isinstance(s.dataset, EchoConfig)
    assert (s.dataset.length, s.dataset.n_features, s.dataset.out_index) == (50, 100, 2)
    assert (s.model.units, s.model.direction) == (25, Direction.forward)


def test_sweep_presets_switch_on_multirun(compose_cfg):
    from hydra import compose, initialize_config_dir

    expected = {
        "compare_merge_modes": ("model.merge_mode", "concat,sum,mul,ave"),
        "compare_directions": ("model.direction", "forward,backward,bidirectional"),
    }
    for preset, (key, values) in expected.items():
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", [f"experiment={preset}"], return_hydra_config=True)
        assert cfg.hydra.mode.name == "MULTIRUN"
        assert cfg.hydra.sweeper.params[key] == values


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("model.layers=abc", "model.layers"),  # wrong type
        ("model.direction=sideways", "direction"),  # not a choice of the enum
        ("model.merge_mode=max", "merge_mode"),
        ("dataset.nonsense=1", "nonsense"),  # unknown key
        ("dataset=mnist", "dataset"),  # unknown group option
        ("experiment=nope", "experiment"),
        ("schedule.lr_schedule=linear", "lr_schedule"),
        ("schedule.plateau.monitor=val_f1", "monitor"),
    ],
)
def test_bad_overrides_fail_at_composition_naming_the_key(compose_cfg, override, names):
    with pytest.raises((ConfigCompositionException, OmegaConfBaseException)) as err:
        compose_cfg(override)
    text = str(err.value) + str(err.value.__cause__ or "")
    assert names in text


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model.units=0"], "model.units"),
        (["dataset.timesteps=0"], "dataset.timesteps"),
        (["dataset.threshold=1.5"], "dataset.threshold"),
        (["dataset.threshold=0"], "dataset.threshold"),
        (["dataset.samples=-3"], "dataset.samples"),
        (["schedule.epochs=0"], "schedule.epochs"),
        (["eval.samples=0"], "eval.samples"),
        (["model.learning_rate=0"], "model.learning_rate"),
        (["experiment=echo", "dataset.out_index=50"], "dataset.out_index"),
        (["experiment=echo", "dataset.n_features=1"], "dataset.n_features"),
        (["model=lstm", "model.merge_mode=sum"], "model.merge_mode"),
        (["schedule=bulk", "dataset.samples=5", "schedule.batch_size=10"], "schedule.batch_size"),
        (["schedule=bulk", "schedule.lr_schedule=reduce_on_plateau", "schedule.plateau.factor=1"],
         "schedule.plateau.factor"),
        (["schedule=bulk", "schedule.lr_schedule=reduce_on_plateau", "schedule.plateau.patience=0"],
         "schedule.plateau.patience"),
        (["schedule=bulk", "schedule.lr_schedule=reduce_on_plateau", "schedule.plateau.min_lr=1"],
         "schedule.plateau.min_lr"),
        # train_loss is watched per epoch; an online schedule has none.
        (["schedule.lr_schedule=reduce_on_plateau"], "schedule.plateau.monitor"),
        (["schedule.lr_schedule=reduce_on_plateau", "schedule.plateau.monitor=val_loss"],
         "schedule.plateau.monitor"),
        (["schedule.lr_schedule=cosine", "schedule.cosine.min_lr=0.001"], "schedule.cosine.min_lr"),
        (["schedule.lr_schedule=cosine", "schedule.cosine.warmup_steps=-1"],
         "schedule.cosine.warmup_steps"),
        (["eval.every_epoch=true"], "eval.every_epoch"),  # online: no epochs
        (["dataset=uea", "dataset.name=GunPoint", "schedule=bulk", "eval.every_epoch=true"],
         "eval.every_epoch"),  # no validation split
    ],
)  # fmt: skip
def test_values_that_cannot_work_are_rejected_before_training(compose_cfg, overrides, key):
    with pytest.raises(ConfigError) as err:
        to_settings(compose_cfg(*overrides))
    message = str(err.value)
    assert err.value.key == key
    assert message.startswith(f"{key}=")
    assert "\n" not in message
