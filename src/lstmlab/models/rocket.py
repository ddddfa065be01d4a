"""model=rocket: ROCKET (Dempster, Petitjean & Webb 2020, "ROCKET: exceptionally fast and
accurate time series classification using random convolutional kernels"), as a Keras model.

Kernels are drawn as the paper (and aeon's ``Rocket``) draws them: a length of 7, 9 or 11;
weights from N(0, 1), centred per channel; a bias from U(-1, 1); a dilation
floor(2 ** U(0, log2((T - 1) / (length - 1)))); zero padding ((length - 1) * dilation / 2 on
both sides) or none, at even odds; on multivariate series a random subset of the channels. Each
kernel's output is pooled to two features: the proportion of positive values (PPV) and the
maximum. A Dense head maps them to the outputs; training.ridge fits it in closed form.

Kernels of one length and dilation form one Conv1D; an unpadded ("valid") kernel's outputs are
the padded ones' without their first and last (length - 1) * dilation / 2 steps, so both share
the convolution. On padded (variable-length) sequences the padded steps are zero, and the
poolings take only outputs whose window lies on real steps (a padded kernel: outputs at real
steps, reading zeros beyond the sequence as ROCKET pads): padding never changes a feature.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from lstmlab.config import ConfigError, RocketConfig
from lstmlab.data import Task

LENGTHS = (7, 9, 11)


def draw_kernels(task: Task, n: int, seed: int) -> list[dict]:
    """The kernels of a seed, grouped by (length, dilation): per group its length, dilation,
    weights (length, features, k), biases (k,) and how many of the k (the first) pad."""
    rng = np.random.default_rng(seed)
    steps, channels = task.timesteps, task.features
    lengths = rng.choice([length for length in LENGTHS if length <= steps], n)
    groups: dict[tuple[int, int], list[tuple[bool, np.ndarray, float]]] = {}
    for length in lengths:
        used = int(2 ** rng.uniform(0, np.log2(min(channels, length) + 1)))
        chosen = rng.choice(channels, used, replace=False)
        weights = np.zeros((length, channels))
        drawn = rng.normal(0.0, 1.0, (length, used))
        weights[:, chosen] = drawn - drawn.mean(axis=0)
        bias = rng.uniform(-1.0, 1.0)
        dilation = int(2 ** rng.uniform(0, max(0.0, np.log2((steps - 1) / (length - 1)))))
        padded = bool(rng.integers(2))
        groups.setdefault((int(length), dilation), []).append((padded, weights, bias))
    out = []
    for (length, dilation), kernels in sorted(groups.items()):
        kernels.sort(key=lambda k: not k[0])  # the padded ones first
        out.append({
            "length": length,
            "dilation": dilation,
            "padded": sum(k[0] for k in kernels),
            "weights": np.stack([k[1] for k in kernels], axis=-1).astype(np.float32),
            "biases": np.array([k[2] for k in kernels], np.float32),
        })  # fmt: skip
    return out


@keras.saving.register_keras_serializable(package="lstmlab")
class RandomConvolutions(keras.layers.Layer):
    """(batch, time, features) -> (batch, 2 x kernels): every fixed kernel's PPV and maximum,
    over the outputs whose window lies on real steps (real: (batch, time) booleans, or None
    when every step is real). groups: (length, dilation, kernels, of which padded)."""

    def __init__(self, groups: list[list[int]], **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.groups = [list(map(int, g)) for g in groups]

    def build(self, input_shape):
        channels = input_shape[-1]
        self.kernels, self.biases = [], []
        for i, (length, _, count, _) in enumerate(self.groups):
            self.kernels.append(self.add_weight(
                shape=(length, channels, count), initializer="zeros", trainable=False,
                name=f"kernel_{i}",
            ))  # fmt: skip
            self.biases.append(self.add_weight(
                shape=(count,), initializer="zeros", trainable=False, name=f"bias_{i}"
            ))  # fmt: skip

    def call(self, x, real=None):
        features = []
        for (length, dilation, _, padded), kernel, bias in zip(
            self.groups, self.kernels, self.biases, strict=True
        ):
            y = ops.conv(x, kernel, padding="same", dilation_rate=dilation) + bias
            half = (length - 1) * dilation // 2
            for part, cut in ((y[..., :padded], 0), (y[..., padded:], half)):
                if part.shape[-1] == 0:
                    continue
                if cut:  # an unpadded kernel: only windows inside the sequence
                    part = part[:, cut:-cut]
                features += _pooled(part, None if real is None else _inside(real, cut))
        return ops.concatenate(features, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * sum(g[2] for g in self.groups))

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


def _inside(real, cut: int):
    """The outputs of an unpadded kernel whose window (cut steps either side) is all real."""
    if not cut:
        return real
    return ops.logical_and(real[:, : -2 * cut], real[:, 2 * cut :])


def _pooled(y, real):
    """PPV and max over time; with real, over the real outputs only (0 and 0 where none)."""
    if real is None:
        return [ops.mean(ops.cast(y > 0, y.dtype), axis=1), ops.max(y, axis=1)]
    on = ops.expand_dims(real, -1)
    count = ops.sum(ops.cast(on, y.dtype), axis=1)
    positive = ops.sum(ops.cast(ops.logical_and(y > 0, on), y.dtype), axis=1)
    top = ops.max(ops.where(on, y, ops.full_like(y, -np.inf)), axis=1)
    return [positive / ops.maximum(count, 1.0), ops.where(count > 0, top, ops.zeros_like(top))]


def check(cfg: RocketConfig, task: Task) -> None:
    if task.per_timestep:
        raise ConfigError(
            "model", cfg.kind,
            f"pools whole sequences; {task.name} has one label per timestep: use a recurrent "
            "model (model=lstm, bilstm, gru)",
        )  # fmt: skip
    if task.timesteps < min(LENGTHS):
        raise ConfigError(
            "model", cfg.kind,
            f"{task.name}'s sequences have {task.timesteps} timesteps; ROCKET's shortest "
            f"kernel has {min(LENGTHS)}",
        )  # fmt: skip


def build(cfg: RocketConfig, task: Task, seed: int) -> keras.Model:
    """The network of a seed's kernels, its head zero until training.ridge fits it. The
    features layer is named "features"."""
    from lstmlab.models.fcn import classifier, inputs_and_mask

    check(cfg, task)
    drawn = draw_kernels(task, cfg.kernels, seed)
    inputs, x, real = inputs_and_mask(task)
    layer = RandomConvolutions(
        [[g["length"], g["dilation"], len(g["biases"]), g["padded"]] for g in drawn],
        name="features",
    )
    features = layer(x, real)
    layer.set_weights([w for g in drawn for w in (g["weights"], g["biases"])])
    return keras.Model(inputs, classifier(task, features), name="rocket")
