"""Your own code by config: dataset=custom (arrays), dataset=custom_generator, model=custom.
The user's module is written by each test into its temp dir, as a project of its own."""

from __future__ import annotations

import textwrap

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from lstmlab.config import (
    Config,
    ConfigError,
    CustomDataConfig,
    CustomGeneratorConfig,
    CustomModelConfig,
    EvalConfig,
    to_settings,
)
from lstmlab.data import DataError, load
from lstmlab.experiment import Job, run
from lstmlab.models.recurrent import build_model

USER_CODE = """
import numpy as np
import keras

def arrays(n=30, bad=None):
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(int(rng.integers(3, 9)), 2)) for _ in range(n)]
    y = np.array(["up" if s[:, 0].sum() > 0 else "down" for s in x])
    if bad == "nan":
        x[4][1, 1] = np.nan
    if bad == "type":
        return [1, 2, 3]
    return {"x": x, "y": y}

def pair():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 5, 3))
    return x, (x[:, :, 0].mean(axis=1) > 0).astype(int)

def sample(rng, n, length=6, nan=False, label_shift=0):
    x = rng.normal(size=(n, length, 2)).astype("float32")
    y = (x[:, :, 0] > 0).sum(axis=1) % 3 + label_shift
    if nan:
        x[0, 0, 0] = np.nan
    return x, y

def level(rng, n, length=6):
    x = rng.normal(size=(n, length, 2)).astype("float32")
    return x, 10 + 3 * x[:, :, 0].sum(axis=1)

def build(task, units=4):
    inputs = keras.Input(shape=task.input_shape)
    x = keras.layers.GRU(units)(inputs)
    return keras.Model(inputs, keras.layers.Dense(task.n_outputs, activation="softmax")(x))

def wrong(task):
    inputs = keras.Input(shape=task.input_shape)
    return keras.Model(inputs, keras.layers.Dense(7)(keras.layers.GRU(2)(inputs)))

def not_a_model(task):
    return "model"

not_callable = 42
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "myproject.py").write_text(textwrap.dedent(USER_CODE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "myproject"


def _load(dataset, every=0):
    return load(Config(dataset=dataset, eval=EvalConfig(samples=40, every=every), seed=0))


def test_a_custom_generator_of_real_values_is_a_regression(user_module):
    from lstmlab.config import TaskKind

    data = _load(CustomGeneratorConfig(_target_=f"{user_module}.level", validation_samples=20))
    assert data.task.regression and data.classes == [] and data.task.n_outputs == 1
    mean, std = data.target_scale
    # Standardised with a draw of its own: the statistics are the distribution's (10, ~7.3).
    assert abs(mean - 10) < 1.5 and abs(std - 3 * np.sqrt(6)) < 1.5
    assert abs(float(data.test.y.mean())) < 0.65 and data.test.y.dtype == np.float32  # 4 SE
    # Whole-number labels stay classes unless dataset.task says otherwise; the classification
    # draws what it always drew.
    classes = _load(CustomGeneratorConfig(_target_=f"{user_module}.sample"))
    told = _load(CustomGeneratorConfig(_target_=f"{user_module}.sample", task=TaskKind.regression))
    assert not classes.task.regression and told.task.regression
    again = _load(CustomGeneratorConfig(_target_=f"{user_module}.sample",
                                        task=TaskKind.classification))  # fmt: skip
    np.testing.assert_array_equal(classes.test.y, again.test.y)


def test_custom_arrays_of_different_lengths_with_named_labels(user_module):
    data = _load(CustomDataConfig(_target_=f"{user_module}.arrays", kwargs={"n": 40},
                                  validation=0.25))  # fmt: skip
    assert data.task.masked and data.task.features == 2 and data.classes == ["down", "up"]
    assert len(data.train) + len(data.validation) + len(data.test) == 40
    assert data.task.name == "arrays"
    (source,) = data.sources
    assert source.path.endswith("myproject.py") and len(source.digest) == 12
    other = _load(CustomDataConfig(_target_=f"{user_module}.arrays", kwargs={"n": 41}))
    assert other.sources[0].digest != source.digest  # other arrays, other digest


def test_custom_arrays_as_a_pair(user_module):
    data = _load(CustomDataConfig(_target_=f"{user_module}.pair"))
    assert not data.task.masked and data.task.binary and len(data.test) == 4


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"bad": "nan"}, "dataset._target_=myproject.arrays (x): 1 NaN or infinite feature value(s), "
                     "the first in sequence 4, timestep 1, feature 1"),
    ({"bad": "type"}, "dataset._target_=myproject.arrays: returned a list; return a dict"),
    ({"n": "x"}, "dataset._target_=myproject.arrays: raised TypeError"),
])  # fmt: skip
def test_bad_custom_arrays_are_one_line(user_module, kwargs, expected):
    with pytest.raises((DataError, ConfigError)) as err:
        _load(CustomDataConfig(_target_=f"{user_module}.arrays", kwargs=kwargs))
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


def test_custom_generator_infers_its_task_and_checks_every_draw(user_module):
    data = _load(CustomGeneratorConfig(_target_=f"{user_module}.sample", kwargs={"length": 5},
                                       validation_samples=20), every=10)  # fmt: skip
    assert data.generated and data.task.classes == 3 and data.task.timesteps == 5
    assert len(data.test) == 40 and len(data.validation) == 20
    assert data.sources[0].params["_target_"] == f"{user_module}.sample"
    drawn = data.sampler(np.random.default_rng(3), 7)
    assert drawn.x.shape == (7, 5, 2) and drawn.y.max() < 3
    with pytest.raises(DataError, match="NaN or infinite"):
        _load(CustomGeneratorConfig(_target_=f"{user_module}.sample", kwargs={"nan": True}))
    shifted = CustomGeneratorConfig(_target_=f"{user_module}.sample", classes=3,
                                    kwargs={"label_shift": 1})  # fmt: skip
    with pytest.raises(DataError, match=r"drew label 3, but there are 3 classes"):
        _load(shifted)


def test_custom_model_is_checked_against_the_task(user_module):
    task = _load(CustomDataConfig(_target_=f"{user_module}.pair")).task
    three = _load(CustomGeneratorConfig(_target_=f"{user_module}.sample")).task
    model = build_model(CustomModelConfig(_target_=f"{user_module}.build", kwargs={"units": 3},
                                          learning_rate=0.01), three)  # fmt: skip
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.01)
    assert model.output_shape == (None, 3)
    with pytest.raises(ConfigError) as err:
        build_model(CustomModelConfig(_target_=f"{user_module}.wrong"), task)
    assert str(err.value) == (
        "model._target_=myproject.wrong: outputs (batch, 7), but 2 classes per sequence need "
        "(batch, 1): 1 sigmoid output(s)"
    )
    with pytest.raises(ConfigError, match="returned a str, not a keras.Model"):
        build_model(CustomModelConfig(_target_=f"{user_module}.not_a_model"), task)


@pytest.mark.parametrize(("target", "expected"), [
    ("myproject.missing", "cannot be imported: myproject has no 'missing'"),
    ("nowhere.build", "cannot be imported: no module named 'nowhere'"),
    ("myproject.not_callable", "is a int, not a callable"),
])  # fmt: skip
def test_a_target_that_cannot_be_used_fails_validation(compose_cfg, user_module, target, expected):
    for group in ("model=custom", "dataset=custom"):
        key = group.split("=")[0]
        cfg = compose_cfg(group, f"{key}._target_={target}")
        with pytest.raises(ConfigError) as err:
            to_settings(cfg)
        assert str(err.value) == f"{key}._target_={target}: {expected}"


def test_custom_data_and_model_train_and_log(compose_cfg, store, user_module):
    cfg = compose_cfg(
        "dataset=custom_generator", f"dataset._target_={user_module}.sample",
        "model=custom", f"model._target_={user_module}.build", "schedule.epochs=12",
        "schedule.batch_size=4", "eval.samples=30", "eval.show=0", "tracking.log_model=false",
        f"tracking.uri={store}",
    )  # fmt: skip
    outcome = run(cfg, to_settings(cfg), Job("custom"))
    r = MlflowClient(store).get_run(outcome.run_id)
    assert r.info.status == "FINISHED" and r.data.params["model._target_"] == "myproject.build"
    assert r.data.params["data.classes"] == "3"
    assert len(MlflowClient(store).get_metric_history(outcome.run_id, "train_loss")) == 12
    keras.backend.clear_session()
