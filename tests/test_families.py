"""The convolutional families (FCN, LSTM-FCN, ALSTM-FCN, MLSTM-FCN): shapes, padding never
changing a prediction, the compiled loop against plain Keras, an exact continuation from a
checkpoint, the logged model through pyfunc, their one-line errors, and a run through the CLI."""

from __future__ import annotations

from dataclasses import replace

import keras
import mlflow
import numpy as np
import pytest
from conftest import run_cli, runs_of
from mlflow.tracking import MlflowClient

from lstmlab.config import (
    AttentionMode,
    BulkConfig,
    Cell,
    ConfigError,
    Direction,
    FcnConfig,
    InceptionTimeConfig,
    LstmFcnConfig,
    MergeMode,
    MlstmFcnConfig,
    ResNetConfig,
    to_settings,
)
from lstmlab.data import Dataset, Sequences, Task
from lstmlab.models import build_model
from lstmlab.training import checkpoints
from lstmlab.training.loops import train

SMALL = {"filters": [4, 8, 4]}
FAMILIES = {
    "fcn": FcnConfig(**SMALL),
    "lstm_fcn": LstmFcnConfig(**SMALL, units=3),
    "lstm_fcn-unshuffled-bi": LstmFcnConfig(
        **SMALL,
        units=3,
        dimension_shuffle=False,
        direction=Direction.bidirectional,
        merge_mode=MergeMode.sum,
    ),  # fmt: skip
    "alstm_fcn": LstmFcnConfig(**SMALL, units=3, attention=True),
    "alstm_fcn-backward": LstmFcnConfig(
        **SMALL, units=3, attention=True, direction=Direction.backward
    ),  # fmt: skip
    "alstm_fcn-bi-unshuffled": LstmFcnConfig(
        **SMALL,
        units=3,
        attention=True,
        direction=Direction.bidirectional,
        dimension_shuffle=False,
    ),  # fmt: skip
    "alstm_fcn-pooling-backward-gru": LstmFcnConfig(
        **SMALL,
        units=3,
        attention=True,
        attention_mode=AttentionMode.pooling,
        direction=Direction.backward,
        cell=Cell.gru,
    ),  # fmt: skip
    "mlstm_fcn": MlstmFcnConfig(**{"filters": [8, 8, 4]}, units=3, reduction=4),
    "resnet": ResNetConfig(filters=[4, 8, 8]),
    "inception_time": InceptionTimeConfig(filters=[2] * 3, kernels=[6, 3], bottleneck=2),
}


def _task(masked: bool, classes: int = 4) -> Task:
    return Task("t", timesteps=12, features=3, classes=classes, per_timestep=False,
                masked=masked)  # fmt: skip


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("classes", [2, 5])
def test_shapes(name, classes):
    keras.utils.set_random_seed(0)
    model = build_model(FAMILIES[name], _task(False, classes))
    out = np.asarray(model(np.random.default_rng(0).normal(size=(3, 12, 3)).astype(np.float32)))
    assert out.shape == (3, 1 if classes == 2 else classes)
    if classes > 2:
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def _padded(seq: np.ndarray, total: int, side: str) -> np.ndarray:
    pad = np.zeros((total - len(seq), seq.shape[1]), np.float32)
    return np.concatenate([seq, pad] if side == "post" else [pad, seq])[None]


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "lstm_fcn"])
def test_padding_never_changes_a_prediction(name):
    # Unshuffled on variable lengths (dimension_shuffle=null reads in time order there).
    keras.utils.set_random_seed(0)
    model = build_model(FAMILIES[name], _task(True))
    seq = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    alone = np.asarray(model(seq[None]))
    for side in ("post", "pre"):
        np.testing.assert_allclose(model(_padded(seq, 12, side)), alone, atol=1e-6,
                                   err_msg=side)  # fmt: skip
    # And it would have failed without the masking: the same weights, unmasked, read the
    # zero padding as data.
    keras.utils.set_random_seed(0)
    plain = build_model(FAMILIES[name], _task(False))
    assert not np.allclose(plain(_padded(seq, 12, "post")), alone, atol=1e-4)


def _data(masked: bool, n: int, seed: int) -> Sequences:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 13, n) if masked else np.full(n, 12)
    mask = np.arange(12)[None] < lengths[:, None]
    x = np.where(mask[..., None], rng.normal(size=(n, 12, 3)), 0.0).astype(np.float32)
    return Sequences(x, rng.integers(0, 4, n).astype(np.int32), mask)


def _dataset(masked: bool) -> Dataset:
    return Dataset(task=_task(masked), test=_data(masked, 20, 2), sources=[],
                   classes=list("abcd"), train=_data(masked, 30, 1))  # fmt: skip


@pytest.mark.parametrize("name", ["fcn", "alstm_fcn-backward", "alstm_fcn-pooling-backward-gru",
                                  "mlstm_fcn", "resnet", "inception_time"])  # fmt: skip
def test_the_compiled_loop_matches_plain_train_on_batch(name):
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()  # as every run does (experiment.py)
    data = _dataset(masked=True)
    cfg = FAMILIES[name]
    if isinstance(cfg, LstmFcnConfig):  # dropout's masks are drawn differently by the two
        cfg = replace(cfg, dropout=0.0)
    keras.utils.set_random_seed(0)
    fast, plain = build_model(cfg, data.task), build_model(cfg, data.task)
    plain.set_weights(fast.get_weights())
    # XLA for the LSTM-FCN family; ResNet and InceptionTime in the graph loop their recipe
    # runs them in (experiment=archive: schedule.jit=false), where XLA's CPU convolutions
    # would spend the test's time compiling (46 s of ResNet's).
    jit = name not in ("resnet", "inception_time")
    sched = BulkConfig(epochs=3, batch_size=8, chunk=3, jit=jit)
    a = train(fast, data.task, sched, data, np.random.default_rng(3))
    b = train(plain, data.task, replace(sched, fast=False), data, np.random.default_rng(3))
    assert a.steps == b.steps == 12
    np.testing.assert_allclose(a.losses, b.losses, atol=1e-4)
    # Predictions, not weights: a convolution's bias before batch norm has a zero gradient
    # in exact arithmetic, so Adam scales the two programs' rounding noise in it up to the
    # step size; batch norm cancels that bias, and the outputs agree.
    x = data.test.x
    np.testing.assert_allclose(fast(x, training=False), plain(x, training=False), atol=1e-3)


@pytest.mark.parametrize("name", ["mlstm_fcn", "alstm_fcn-bi-unshuffled", "resnet",
                                  "inception_time"])  # fmt: skip
def test_a_continued_run_is_bit_identical(tmp_path, name):
    data = _dataset(masked=name == "alstm_fcn-bi-unshuffled")
    cfg = BulkConfig(epochs=4, batch_size=8, chunk=2, jit=False, checkpoint_every=1)
    family = FAMILIES[name]
    if isinstance(family, LstmFcnConfig):
        family = replace(family, dropout=0.3)

    def trained(save=None, resume=None):
        keras.utils.set_random_seed(4)
        model = build_model(family, data.task)
        result = train(model, data.task, cfg, data, np.random.default_rng(4), save=save,
                       resume=resume)  # fmt: skip
        return model, result

    saved: list[checkpoints.Checkpoint] = []
    whole, whole_result = trained(save=saved.append)
    ckpt = saved[len(saved) // 2]
    checkpoints.save(ckpt, tmp_path / "c.npz")
    model, result = trained(resume=checkpoints.load(tmp_path / "c.npz"))
    assert np.array_equal(result.losses, whole_result.losses)
    # Batch normalisation's moving statistics included.
    for a, b in zip(model.variables, whole.variables, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b)), a.path


@pytest.mark.parametrize("name", ["fcn", "alstm_fcn", "mlstm_fcn", "resnet", "inception_time"])
def test_the_logged_model_loads_through_pyfunc(name, store):
    from lstmlab.tracking.runs import Tracker

    task = _task(masked=True)
    keras.utils.set_random_seed(0)
    model = build_model(FAMILIES[name], task)
    with Tracker(store, "families").run(name, {}) as log:
        log.keras_model(model, task)
    client = MlflowClient(store)
    (logged,) = client.search_logged_models(
        [client.get_experiment_by_name("families").experiment_id]
    )
    mlflow.set_tracking_uri(store)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{logged.model_id}")
    x = _data(True, 4, 5).x
    np.testing.assert_allclose(pyfunc.predict(x), model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model=fcn"], "model"),  # cumsum: one label per timestep
        (["experiment=echo", "model=lstm_fcn", "dataset.length=5"], "model.kernels"),
        (["model=fcn", "model.kernels=[8,5]"], "model.kernels"),
        (["model=fcn", "model.filters=[0,4,4]"], "model.filters"),
        (["model=lstm_fcn", "model.merge_mode=sum"], "model.merge_mode"),
        (["model=lstm_fcn", "model.dropout=1"], "model.dropout"),
        (["model=mlstm_fcn", "model.reduction=0"], "model.reduction"),
        (["model=alstm_fcn", "model.cell=gru"], "model.cell"),
        (["model=resnet", "model.kernels=[8,0]"], "model.kernels"),
        (["model=inception_time", "model.bottleneck=-1"], "model.bottleneck"),
        (["model=inception_time", "model.filters=[]"], "model.filters"),
    ],
)
def test_what_a_family_cannot_take_is_one_line(compose_cfg, overrides, key):
    from lstmlab.experiment import load_data

    with pytest.raises(ConfigError) as err:
        settings = to_settings(compose_cfg(*overrides))
        build_model(settings.model, load_data(settings).task)
    assert err.value.key == key and "\n" not in str(err.value)


def _dl4tsc_resnet(input_shape, classes: int, maps: int) -> keras.Model:
    """hfawaz/dl-4-tsc classifiers/resnet.py's build_model, transcribed (n_feature_maps=maps)."""
    layers = keras.layers
    x = inputs = layers.Input(input_shape)
    for block, filters in enumerate((maps, 2 * maps, 2 * maps)):
        y = layers.Activation("relu")(layers.BatchNormalization()(
            layers.Conv1D(filters, 8, padding="same")(x)))  # fmt: skip
        y = layers.Activation("relu")(layers.BatchNormalization()(
            layers.Conv1D(filters, 5, padding="same")(y)))  # fmt: skip
        y = layers.BatchNormalization()(layers.Conv1D(filters, 3, padding="same")(y))
        shortcut = x if block == 2 else layers.Conv1D(filters, 1, padding="same")(x)
        x = layers.Activation("relu")(layers.add([layers.BatchNormalization()(shortcut), y]))
    outputs = layers.Dense(classes, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inputs, outputs)


def test_resnet_refuses_a_series_shorter_than_its_kernels():
    with pytest.raises(ConfigError) as err:
        task = Task("short", timesteps=7, features=1, classes=2, per_timestep=False)
        build_model(ResNetConfig(filters=[4, 4]), task)
    assert err.value.key == "model.kernels" and "fewer than the largest kernel (8)" in str(
        err.value
    )


def test_resnet_is_dl4tsc_s_network():
    keras.utils.set_random_seed(0)
    task = Task("t", timesteps=20, features=2, classes=3, per_timestep=False)
    ours = build_model(ResNetConfig(filters=[4, 8, 8]), task)
    reference = _dl4tsc_resnet((20, 2), 3, maps=4)
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    rng = np.random.default_rng(0)
    reference.set_weights([rng.normal(size=w.shape) for w in ours.get_weights()])
    ours.set_weights(reference.get_weights())
    x = rng.normal(size=(5, 20, 2)).astype(np.float32)
    for training in (False, True):
        np.testing.assert_allclose(ours(x, training=training), reference(x, training=training),
                                   atol=1e-5)  # fmt: skip


def _inception_time_reference(input_shape, classes: int, filters: int, depth: int,
                               kernel_size: int) -> keras.Model:  # fmt: skip
    """hfawaz/InceptionTime classifiers/inception.py's build_model, transcribed (nb_filters,
    depth and kernel_size as given; bottleneck 32 -> filters)."""
    layers = keras.layers

    def module(x):
        inner = x
        if int(x.shape[-1]) > 1:
            inner = layers.Conv1D(filters, 1, padding="same", use_bias=False)(x)
        convs = [layers.Conv1D(filters, (kernel_size - 1) // (2**i), padding="same",
                               use_bias=False)(inner) for i in range(3)]  # fmt: skip
        pooled = layers.MaxPool1D(3, strides=1, padding="same")(x)
        convs.append(layers.Conv1D(filters, 1, padding="same", use_bias=False)(pooled))
        x = layers.Concatenate(axis=2)(convs)
        return layers.Activation("relu")(layers.BatchNormalization()(x))

    x = res = inputs = layers.Input(input_shape)
    for d in range(depth):
        x = module(x)
        if d % 3 == 2:
            y = layers.Conv1D(int(x.shape[-1]), 1, padding="same", use_bias=False)(res)
            x = res = layers.Activation("relu")(layers.Add()([layers.BatchNormalization()(y), x]))
    outputs = layers.Dense(classes, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("features", [1, 2])
def test_inception_time_is_the_authors_network(features):
    keras.utils.set_random_seed(0)
    task = Task("t", timesteps=16, features=features, classes=3, per_timestep=False)
    cfg = InceptionTimeConfig(filters=[3] * 6, kernels=[8, 4, 2], bottleneck=3)
    ours = build_model(cfg, task)
    reference = _inception_time_reference((16, features), 3, filters=3, depth=6, kernel_size=9)
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    rng = np.random.default_rng(0)
    reference.set_weights([rng.normal(size=w.shape) for w in ours.get_weights()])
    ours.set_weights(reference.get_weights())
    x = rng.normal(size=(4, 16, features)).astype(np.float32)
    for training in (False, True):
        np.testing.assert_allclose(ours(x, training=training), reference(x, training=training),
                                   atol=1e-4)  # fmt: skip


@pytest.mark.parametrize("size", [2, 3, 5])
def test_neighbour_max_is_same_max_pooling_with_its_gradient(size):
    import tensorflow as tf

    from lstmlab.models.blocks import NeighbourMax

    x = tf.constant(np.random.default_rng(size).normal(size=(2, 9, 3)).astype(np.float32))
    pool = keras.layers.MaxPool1D(size, strides=1, padding="same")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = NeighbourMax(size)(x), pool(x)
        weights = tf.constant(np.arange(54, dtype=np.float32).reshape(2, 9, 3))
        a, b = tf.reduce_sum(ours * weights), tf.reduce_sum(theirs * weights)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(tape.gradient(a, x), tape.gradient(b, x))


def test_inception_time_takes_a_series_shorter_than_its_kernels():
    # The authors' 40-wide kernels on ItalyPowerDemand's 24 steps: 'same' reads zeros.
    task = Task("short", timesteps=24, features=1, classes=2, per_timestep=False)
    model = build_model(InceptionTimeConfig(filters=[2] * 3, bottleneck=2), task)
    assert model(np.ones((2, 24, 1), np.float32)).shape == (2, 1)


def _attention_lstm(units: int, steps: int | None, features: int, masked: bool = False, **kwargs):
    from lstmlab.models.attention_lstm import AttentionLSTM

    inputs = keras.Input((steps, features))
    x = keras.layers.Masking(0.0)(inputs) if masked else inputs
    layer = AttentionLSTM(units, **kwargs)
    return layer, keras.Model(inputs, layer(x))


def test_the_attention_lstm_step_is_the_authors_formula():
    keras.utils.set_random_seed(0)
    layer, model = _attention_lstm(4, 5, 3)
    rng = np.random.default_rng(0)
    cell = layer.cell
    for w in (cell.attention_v, cell.attention_b):  # zeros at first: attention starts uniform
        w.assign(rng.normal(size=w.shape))
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    w = {v.name: v.numpy().astype(np.float64) for v in cell.weights}

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    h = c = np.zeros((2, 4))
    for t in range(5):
        scores = np.tanh(x @ w["attention_w"] + w["attention_b"]
                         + (h @ w["attention_u"])[:, None]) @ w["attention_v"]  # fmt: skip
        alpha = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
        context = (x * alpha[..., None]).sum(1)
        z = (x[:, t] @ w["kernel"] + h @ w["recurrent_kernel"] + context @ w["attention_kernel"]
             + w["bias"])  # fmt: skip
        i, f, g, o = np.split(z, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    np.testing.assert_allclose(model(x), h, atol=1e-5)
    # The forget gate's bias starts at one, the others at zero.
    np.testing.assert_array_equal(w["bias"], np.repeat([0.0, 1.0, 0.0, 0.0], 4))


def test_on_one_step_the_attention_lstm_is_an_lstm_with_two_input_kernels():
    # The authors' univariate runs: the shuffled series is one step, attended with weight 1,
    # so the cell is Keras' LSTM with input kernel W + A (and the attention weights idle).
    keras.utils.set_random_seed(0)
    layer, model = _attention_lstm(5, 1, 6)
    cell = layer.cell
    cell.attention_v.assign(np.ones(5))
    inputs = keras.Input((1, 6))
    lstm = keras.layers.LSTM(5)
    plain = keras.Model(inputs, lstm(inputs))
    lstm.set_weights([cell.kernel.numpy() + cell.attention_kernel.numpy(),
                      cell.recurrent_kernel.numpy(), cell.bias.numpy()])  # fmt: skip
    x = np.random.default_rng(2).normal(size=(3, 1, 6)).astype(np.float32)
    np.testing.assert_allclose(model(x), plain(x), atol=1e-6)


@pytest.mark.parametrize("backwards", [False, True])
def test_the_attention_lstm_never_attends_to_padding(backwards):
    keras.utils.set_random_seed(0)
    layer, model = _attention_lstm(4, None, 3, masked=True, go_backwards=backwards)
    layer.cell.attention_v.assign(np.random.default_rng(3).normal(size=4))
    seq = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    alone = np.asarray(model(seq[None]))
    for side in ("post", "pre"):
        np.testing.assert_allclose(model(_padded(seq, 9, side)), alone, atol=1e-6)
    # The attention is wired in: other scores, another output for the same sequence.
    layer.cell.attention_v.assign(np.random.default_rng(4).normal(size=4))
    assert not np.allclose(model(seq[None]), alone, atol=1e-4)


def test_dimension_shuffle_on_variable_lengths_is_refused():
    with pytest.raises(ConfigError, match="model.dimension_shuffle=true"):
        build_model(LstmFcnConfig(**SMALL, units=3, dimension_shuffle=True), _task(True))


def test_attention_is_not_a_key_of_fcn(compose_cfg):
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import OmegaConfBaseException

    with pytest.raises((ConfigCompositionException, OmegaConfBaseException)) as err:
        compose_cfg("model=fcn", "model.attention=true")
    assert "attention" in str(err.value) + str(err.value.__cause__ or "")


@pytest.mark.slow
def test_lstm_fcn_on_an_archive_set_through_the_cli(tmp_path):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    proc = run_cli(
        tmp_path, "experiment=archive", "dataset.name=GunPoint", "model=lstm_fcn",
        "model.recipe.epochs=3", "model.filters=[8,16,8]", "model.units=4",
        f"tracking.uri={store}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "lstmlab")
    assert run.info.status == "FINISHED" and run.data.params["choices.model"] == "lstm_fcn"
    # The recipe's batches of 128 shrunk to GunPoint's 40 training sequences: 1 step an epoch.
    assert run.data.params["data.batch_size"] == "40"
    assert run.data.params["schedule.lr_schedule"] == "reduce_on_plateau"
    client = MlflowClient(store)
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 3
    assert len(client.get_metric_history(run.info.run_id, "lr")) == 3
    assert 0.0 <= run.data.metrics["test_acc"] <= 1.0 and "test_f1_macro" in run.data.metrics
    (output,) = run.outputs.model_outputs
    mlflow.set_tracking_uri(store)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{output.model_id}")
    x = np.random.default_rng(0).normal(size=(2, 150, 1)).astype(np.float32)
    assert pyfunc.predict(x).shape == (2, 1)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "filters", "kernels"),
    [("resnet", "[4,8,8]", "[8, 5, 3]"), ("inception_time", "[2,2,2]", "[40, 20, 10]")],
)
def test_a_baseline_with_its_recipe_through_the_cli(tmp_path, family, filters, kernels):
    store = f"sqlite:///{tmp_path / 'm.db'}"
    proc = run_cli(
        tmp_path, "experiment=archive", "dataset.name=BasicMotions", f"model={family}",
        "model.recipe.epochs=2", f"model.filters={filters}", f"tracking.uri={store}",
        "tracking.experiment=baselines",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = runs_of(store, "baselines")
    assert run.info.status == "FINISHED" and run.data.params["choices.model"] == family
    # The recipe's batches of 64 and its plateau schedule, from conf/model/<family>.yaml.
    assert run.data.params["schedule.batch_size"] == "64"
    assert run.data.params["schedule.plateau.patience"] == "50"
    assert run.data.params["model.kernels"] == kernels
    assert 0.0 <= run.data.metrics["test_acc"] <= 1.0
