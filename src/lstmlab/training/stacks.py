"""Seeds stacked in one program: K models of one architecture, which differ only in their
initial weights, trained together by one compiled loop, each on its own batches.

Every weight gets a leading seed axis and every product is batched over it (``einsum``), so
one XLA program steps all K seeds. The Keras models and their Adam states stay the state of
record: a chunk reads them into stacked tensors, steps, and writes them back, so that
validation, early stopping, checkpoints and the model a run logs see each seed's own Keras
model, as they do for a run alone.

The stack interprets the model layer by layer; a layer it has no stacked form for (anything
but Masking, LSTM, GRU, SimpleRNN, Bidirectional, ReverseTime, GlobalAveragePooling1D, Dense
and Dropout) makes the models :class:`Unstackable`, with the reason, and they train one by
one. Dropout (the recurrent cells' and Dropout layers') draws each seed's masks as its model
does alone: from its own seed generator's state, which the stack carries per seed, with the
same stateless draws in the same order. Seed k's arithmetic is the one its model does alone in
``loops.compiled_loop`` (the same products, in the same order, and Keras' Adam written out per
seed), so a stack ends where its seeds end alone, to float rounding
(``tests/test_stacks.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from lstmlab.config import MB
from lstmlab.data import Task
from lstmlab.models.recurrent import ReverseTime, accuracy
from lstmlab.training.program_names import stable

_RNN = (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN)
_MERGES = ("concat", "sum", "mul", "ave")


class Unstackable(ValueError):
    """The models cannot train as one stack (the message says why)."""


@dataclass
class _State:
    """The stack's training state, each array with a leading seed axis."""

    weights: list[np.ndarray]
    momentums: list[np.ndarray]
    velocities: list[np.ndarray]
    iterations: np.ndarray  # (K,) int64: Adam steps each seed has taken
    seeds: list[np.ndarray]  # (K, 2) int64 each: the seed generators' states (dropout)


def unstackable(model: keras.Model) -> str | None:
    """Why model has no stacked form, or None when it has one."""
    try:
        _plan(model)
        _check_optimizer(model.optimizer)
    except Unstackable as exc:
        return str(exc)
    return None


def _plan(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers after its input, checked to form a chain the stack can run."""
    if not isinstance(model, keras.Model) or not hasattr(model, "inputs") or not model.inputs:
        raise Unstackable("only functional Keras models stack")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Unstackable("a model with several inputs or outputs does not stack")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = model.inputs[0]
    for layer in layers:
        # A layer reached through Masking also takes the mask as a (keyword) input.
        nodes = layer._inbound_nodes
        if (
            len(nodes) != 1
            or not nodes[0].input_tensors
            or nodes[0].input_tensors[0] is not previous
        ):
            raise Unstackable(f"layer {layer.name} is not in a single chain of layers")
        _check_layer(layer)
        previous = layer.output
    if previous is not model.outputs[0]:
        raise Unstackable("the model's output is not its last layer's")
    if model.non_trainable_weights:
        names = ", ".join(w.path for w in model.non_trainable_weights[:3])
        raise Unstackable(f"non-trainable weights ({names}) have no stacked form")
    return layers


def _check_layer(layer: keras.layers.Layer) -> None:
    if isinstance(layer, keras.layers.Bidirectional):
        if layer.merge_mode not in _MERGES:
            raise Unstackable(f"{layer.name}: merge_mode {layer.merge_mode} does not stack")
        _check_layer(layer.forward_layer)
        _check_layer(layer.backward_layer)
    elif isinstance(layer, _RNN):
        cell = layer.cell
        if layer.stateful or layer.return_state or not cell.use_bias:
            raise Unstackable(f"{layer.name}: stateful, return_state or use_bias=False")
        if isinstance(layer, keras.layers.GRU) and not cell.reset_after:
            raise Unstackable(f"{layer.name}: GRU(reset_after=False) does not stack")
    elif isinstance(layer, keras.layers.Dense):
        if not layer.use_bias:
            raise Unstackable(f"{layer.name}: Dense(use_bias=False) does not stack")
    elif isinstance(layer, keras.layers.GlobalAveragePooling1D):
        if layer.data_format != "channels_last" or layer.keepdims:
            raise Unstackable(f"{layer.name}: only channels_last without keepdims stacks")
    elif isinstance(layer, keras.layers.Dropout):
        if layer.noise_shape is not None:
            raise Unstackable(f"{layer.name}: Dropout(noise_shape=...) does not stack")
    elif not isinstance(layer, keras.layers.Masking | ReverseTime):
        raise Unstackable(f"layer {layer.name} ({type(layer).__name__}) has no stacked form")


def _check_optimizer(optimizer) -> None:
    if type(optimizer) is not keras.optimizers.Adam:
        raise Unstackable(f"the optimizer is {type(optimizer).__name__}; only Adam stacks")
    extras = {
        "amsgrad": optimizer.amsgrad,
        "weight_decay": optimizer.weight_decay,
        "clipnorm": optimizer.clipnorm,
        "clipvalue": optimizer.clipvalue,
        "global_clipnorm": optimizer.global_clipnorm,
        "use_ema": optimizer.use_ema,
        "gradient_accumulation_steps": optimizer.gradient_accumulation_steps,
    }
    used = [key for key, value in extras.items() if value]
    if used:
        raise Unstackable(f"Adam with {', '.join(used)} does not stack")


def _drawing(layers: Sequence[keras.layers.Layer]) -> list:
    """The layers' objects that draw dropout masks from a seed generator, in order: recurrent
    cells with a dropout rate that draws (Keras draws none at 0 or 1), Dropout layers."""
    out = []
    for layer in layers:
        if isinstance(layer, keras.layers.Bidirectional):
            out += _drawing([layer.forward_layer, layer.backward_layer])
        elif isinstance(layer, _RNN) and any(_rates(layer.cell)):
            out.append(layer.cell)
        elif isinstance(layer, keras.layers.Dropout) and 0.0 < layer.rate < 1.0:
            out.append(layer)
    return out


def _rates(cell) -> tuple[float, float]:
    """A cell's (dropout, recurrent_dropout), 0 where Keras draws no mask."""
    rates = (getattr(cell, "dropout", 0.0), getattr(cell, "recurrent_dropout", 0.0))
    return tuple(r if 0.0 < r < 1.0 else 0.0 for r in rates)  # type: ignore[return-value]


def _dropout(x: tf.Tensor, rate: float, seed: tf.Tensor, draw: int) -> tf.Tensor:
    """Keras' backend.random.dropout(x, rate, seed=generator) for one seed, the generator's
    state `seed` (int64 (2,)) after `draw` draws: its stateless op, on the seed Keras gives it
    (SeedGenerator.next adds [0, 1] a draw; the TensorFlow backend's _cast_seed)."""
    value = seed + tf.constant([0, draw], tf.int64)
    value = tf.cast(tf.math.floormod(value, tf.int32.max - 1), tf.int32)
    return tf.nn.experimental.stateless_dropout(x, rate=rate, noise_shape=tf.shape(x),
                                                seed=value)  # fmt: skip


class Stack:
    """K compiled Keras models of one architecture trained as one program.

    ``run(xs, ys, n, lrs)``: xs (steps, K, batch, ...) and ys the K seeds' batches, n (K,) the
    steps each seed takes (a seed with fewer steps, or none, keeps its weights past them), lrs
    (steps, K) the learning rates; returns the per-step losses and accuracies, (steps, K).
    Reads the models' weights and Adam states before the chunk and writes them back after it.
    """

    def __init__(self, models: Sequence[keras.Model], task: Task, jit: bool = True):
        if not models:
            raise ValueError("a stack needs at least one model")
        self.models = list(models)
        self.task = task
        plans = [_plan(model) for model in self.models]
        self.layers = plans[0]
        shapes = [tuple(v.shape) for v in self.models[0].trainable_variables]
        for model, plan in zip(self.models, plans, strict=True):
            _check_optimizer(model.optimizer)
            if [tuple(v.shape) for v in model.trainable_variables] != shapes or [
                type(layer) for layer in plan
            ] != [type(layer) for layer in self.layers]:
                raise Unstackable(f"{model.name} is not the architecture of {self.models[0].name}")
            model.optimizer.build(model.trainable_variables)
        first = self.models[0]
        # Each seed's mask-drawing layers, and model 0's (the ones forward() walks) by id.
        self._drawing = [_drawing(plan) for plan in plans]
        self._draws = {id(d): i for i, d in enumerate(self._drawing[0])}
        # Each layer's weights by their place in the model's trainable variables.
        self._index = {id(v): i for i, v in enumerate(first.trainable_variables)}
        self._loss = first.loss
        if getattr(self._loss, "reduction", None) != "sum_over_batch_size":
            raise Unstackable("only a Keras loss with the sum_over_batch_size reduction stacks")
        adam = first.optimizer
        self._adam = (float(adam.beta_1), float(adam.beta_2), float(adam.epsilon))
        self._run = self._compile(jit)

    # The state of record: the Keras models and their optimizers.
    def read(self) -> _State:
        def stacked(get: Callable[[keras.Model, int, keras.Variable], keras.Variable]):
            return [
                np.stack(
                    [
                        keras.ops.convert_to_numpy(get(m, i, m.trainable_variables[i]))
                        for m in self.models
                    ]
                )  # fmt: skip
                for i in range(len(self._index))
            ]

        return _State(
            weights=stacked(lambda m, i, v: v),
            momentums=stacked(lambda m, i, v: _slot(m.optimizer, "_momentums", v)),
            velocities=stacked(lambda m, i, v: _slot(m.optimizer, "_velocities", v)),
            iterations=np.array(
                [int(keras.ops.convert_to_numpy(m.optimizer.iterations)) for m in self.models]
            ),
            seeds=[
                np.stack(
                    [keras.ops.convert_to_numpy(d[i].seed_generator.state) for d in self._drawing]
                )  # fmt: skip
                for i in range(len(self._draws))
            ],
        )

    def write(self, state: _State, seeds: Sequence[int] | None = None) -> None:
        for k in range(len(self.models)) if seeds is None else seeds:
            model = self.models[k]
            optimizer = model.optimizer
            for i, v in enumerate(model.trainable_variables):
                v.assign(state.weights[i][k])
                _slot(optimizer, "_momentums", v).assign(state.momentums[i][k])
                _slot(optimizer, "_velocities", v).assign(state.velocities[i][k])
            optimizer.iterations.assign(state.iterations[k])
            for i, drawing in enumerate(self._drawing[k]):
                drawing.seed_generator.state.assign(state.seeds[i][k])

    def run(self, xs: np.ndarray, ys: np.ndarray, n: Sequence[int], lrs: np.ndarray):
        state = self.read()
        out = self._run(
            xs, ys, np.asarray(n, np.int32), np.asarray(lrs, np.float32),
            state.weights, state.momentums, state.velocities, state.iterations, state.seeds,
        )  # fmt: skip
        weights, momentums, velocities, iterations, seeds, losses, accs = out
        # Only the seeds that stepped: one that has left (stopped early, its best weights put
        # back) is not written over.
        stepped = [k for k in range(len(self.models)) if n[k] > 0]
        self.write(
            _State(
                [w.numpy() for w in weights],
                [m.numpy() for m in momentums],
                [v.numpy() for v in velocities],
                iterations.numpy(),
                [s.numpy() for s in seeds],
            ),
            stepped,
        )
        return losses.numpy(), accs.numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The K models' outputs (inference) on x (K, batch, ...), in one call (drawing no
        dropout masks: the seed generators' states are left as they are)."""
        weights = [tf.constant(w) for w in self.read().weights]
        return self.forward(weights, tf.constant(x, tf.float32))[0].numpy()

    def forward(self, weights: list[tf.Tensor], x: tf.Tensor, seeds: list | None = None):
        """(outputs, mask) of the stacked models on x (K, batch, ...); with seeds (the seed
        generators' states, (K, 2) each, in _drawing order), in training: dropout applied, and
        seeds advanced in place past the masks drawn."""
        mask = None
        draws = None if seeds is None else _Draws(self._draws, seeds)
        for layer in self.layers:
            x, mask = _apply(layer, self._weights_of(layer, weights), x, mask, draws)
        return x, mask

    def _weights_of(self, layer, weights: list[tf.Tensor]) -> list[tf.Tensor]:
        return [weights[self._index[id(v)]] for v in layer.trainable_weights]

    def _losses(self, x, y, p, mask):
        """Per seed: the model's loss and accuracy, as compiled_loop computes them (Keras'
        Loss.__call__ with its sum_over_batch_size reduction: a sum over the seed's elements
        divided by their count, real ones weighted total/valid where the outputs carry a
        mask)."""
        # Keras' Loss.__call__ takes the targets in the loss's dtype (class indices too).
        elements = self._loss.call(tf.cast(y, self._loss.dtype), p)  # (K, batch[, time])
        axes = tuple(range(1, len(elements.shape)))
        count = float(np.prod(elements.shape[1:]))
        if mask is not None:
            real = tf.cast(mask, elements.dtype)
            valid = tf.reduce_sum(real, axis=axes, keepdims=True)
            elements = elements * tf.where(mask, tf.math.divide_no_nan(count, valid), 0.0)
        losses = tf.reduce_sum(elements, axis=axes) / count
        return losses, tf.cast(accuracy(self.task, x, y, p, seeds=True), tf.float32)

    def _compile(self, jit: bool):
        beta_1, beta_2, epsilon = self._adam

        def step(x, y, active, lr, weights, ms, vs, iterations, seeds):
            drawn = list(seeds)
            with tf.GradientTape() as tape:
                tape.watch(weights)
                p, mask = self.forward(weights, x, drawn)
                losses, accs = self._losses(x, y, p, mask)
                total = tf.reduce_sum(losses)
            grads = tape.gradient(total, weights)
            # Keras' Adam.update_step, per seed (its own step count and rate).
            local_step = tf.cast(iterations + 1, tf.float32)
            alpha = lr * tf.sqrt(1 - tf.pow(beta_2, local_step)) / (1 - tf.pow(beta_1, local_step))
            new_w, new_m, new_v = [], [], []
            for w, g, m, v in zip(weights, grads, ms, vs, strict=True):
                g = tf.convert_to_tensor(g)
                shape = (-1,) + (1,) * (len(w.shape) - 1)
                on = tf.reshape(active, shape)
                m2 = m + (g - m) * (1 - beta_1)
                v2 = v + (tf.square(g) - v) * (1 - beta_2)
                w2 = w - (m2 * tf.reshape(alpha, shape)) / (tf.sqrt(v2) + epsilon)
                new_w.append(tf.where(on, w2, w))
                new_m.append(tf.where(on, m2, m))
                new_v.append(tf.where(on, v2, v))
            # A seed that did not step draws nothing.
            seeds = [tf.where(active[:, None], d, s) for d, s in zip(drawn, seeds, strict=True)]
            iterations = iterations + tf.cast(active, tf.int64)
            return new_w, new_m, new_v, iterations, seeds, losses, accs

        @tf.function(jit_compile=jit, autograph=False)
        def run(xs, ys, n, lrs, weights, ms, vs, iterations, seeds):
            k = len(self.models)
            weights = [tf.convert_to_tensor(w) for w in weights]
            ms = [tf.convert_to_tensor(m) for m in ms]
            vs = [tf.convert_to_tensor(v) for v in vs]
            iterations = tf.convert_to_tensor(iterations, tf.int64)
            seeds = [tf.convert_to_tensor(s, tf.int64) for s in seeds]
            steps = tf.reduce_max(n)

            def body(i, weights, ms, vs, iterations, seeds, losses, accs):
                active = i < n
                x, y = tf.gather(xs, i), tf.gather(ys, i)
                weights, ms, vs, iterations, seeds, loss, acc = step(
                    x, y, active, tf.gather(lrs, i), weights, ms, vs, iterations, seeds
                )
                at = tf.reshape(i, (1, 1))
                losses = tf.tensor_scatter_nd_update(losses, at, loss[None])
                accs = tf.tensor_scatter_nd_update(accs, at, acc[None])
                return i + 1, weights, ms, vs, iterations, seeds, losses, accs

            zeros = tf.zeros((tf.shape(xs)[0], k), tf.float32)
            out = tf.while_loop(
                lambda i, *_: i < steps,
                body,
                (tf.constant(0), weights, ms, vs, iterations, seeds, zeros, zeros),
            )
            return out[1:]

        return run


def _slot(optimizer, name: str, variable) -> keras.Variable:
    return getattr(optimizer, name)[optimizer._get_variable_index(variable)]


class _Draws:
    """The seed generators' states of one forward pass, (K, 2) each: a layer's masks drawn
    from its own, which then moves on past them (as SeedGenerator.next moves a model's)."""

    def __init__(self, index: dict[int, int], seeds: list):
        self.index, self.seeds = index, seeds

    def masks(self, layer, x_of: Callable[[int], tf.Tensor], rate: float, count: int):
        """count masks of the layer (a cell, or a Dropout layer) for every seed: dropout of
        x_of(k), seed k's tensor, (count, K, ...)."""
        i = self.index[id(layer)]
        seed = self.seeds[i]
        k = seed.shape[0]
        out = tf.stack([
            tf.stack([_dropout(x_of(s), rate, seed[s], j) for s in range(k)])
            for j in range(count)
        ])  # fmt: skip
        self.seeds[i] = seed + tf.constant([0, count], tf.int64)
        return out


def _apply(layer, weights: list[tf.Tensor], x: tf.Tensor, mask, draws: _Draws | None = None):
    """One layer on stacked inputs x (K, batch, ...) with the padding mask (K, batch, time)
    or None: (outputs, their mask), as Keras computes them for each seed; with draws (in
    training), dropout as each seed's Keras layers apply it."""
    if isinstance(layer, keras.layers.Masking):
        mask = tf.reduce_any(tf.not_equal(x, layer.mask_value), axis=-1)
        return x * tf.cast(mask, x.dtype)[..., None], mask
    if isinstance(layer, ReverseTime):
        return tf.reverse(x, [2]), mask  # the mask stays in input order (see ReverseTime)
    if isinstance(layer, keras.layers.Dropout):
        if draws is None or not 0.0 < layer.rate < 1.0:
            return x, mask
        return draws.masks(layer, lambda s: x[s], layer.rate, 1)[0], mask
    if isinstance(layer, keras.layers.GlobalAveragePooling1D):
        if mask is None:
            return tf.reduce_mean(x, axis=2), None
        m = tf.cast(mask, x.dtype)[..., None]
        return tf.reduce_sum(x * m, axis=2) / tf.reduce_sum(m, axis=2), None
    if isinstance(layer, keras.layers.Dense):
        kernel, bias = weights
        if len(x.shape) == 4:
            z = tf.einsum("kbti,kio->kbto", x, kernel) + bias[:, None, None, :]
        else:
            z = tf.einsum("kbi,kio->kbo", x, kernel) + bias[:, None, :]
            mask = None
        return layer.activation(z), mask
    if isinstance(layer, keras.layers.Bidirectional):
        half = len(weights) // 2
        forward = _recurrent(layer.forward_layer, weights[:half], x, mask, draws)
        backward = _recurrent(layer.backward_layer, weights[half:], x, mask, draws)
        sequences = layer.return_sequences
        if sequences:
            backward = tf.reverse(backward, [2])
        merged = {
            "concat": lambda: tf.concat([forward, backward], -1),
            "sum": lambda: forward + backward,
            "ave": lambda: (forward + backward) / 2,
            "mul": lambda: forward * backward,
        }[layer.merge_mode]()
        return merged, mask if sequences else None
    out = _recurrent(layer, weights, x, mask, draws)
    return out, mask if layer.return_sequences else None


def _masked_product(x, kernel, masks, equation: str, expand: Callable) -> tf.Tensor:
    """einsum(equation, x, kernel), x under Keras' cell dropout masks: none, one for every
    gate, or one a gate (the cell's dropout_mask_count, each gate's columns of kernel)."""
    if masks is None:
        return tf.einsum(equation, x, kernel)
    if masks.shape[0] == 1:
        return tf.einsum(equation, x * expand(masks[0]), kernel)
    gates = tf.split(kernel, masks.shape[0], axis=-1)
    return tf.concat([tf.einsum(equation, x * expand(m), g)
                      for m, g in zip(tf.unstack(masks), gates, strict=True)], -1)  # fmt: skip


def _recurrent(layer, weights: list[tf.Tensor], x: tf.Tensor, mask, draws: _Draws | None):
    """An LSTM, GRU or SimpleRNN over x (K, B, T, F): Keras' backend.rnn loop, per seed
    (masked steps carry state and output over, or output zeros under zero_output_for_mask;
    go_backwards reads, and returns, the steps last first); with draws, the cell's dropout
    masks drawn as Keras' RNN.call draws them (before the loop, the inputs' then the
    recurrent state's) and applied as its cell applies them."""
    cell = layer.cell
    kernel, recurrent, bias = weights
    units = cell.units
    k, b = tf.shape(x)[0], tf.shape(x)[1]
    in_masks = state_masks = None
    drop, recurrent_drop = _rates(cell)
    if draws is not None and (drop or recurrent_drop):
        count = getattr(cell, "dropout_mask_count", None) or 1
        shape = (x.shape[1], x.shape[3])
        if drop:  # Keras draws from ones shaped as the first step's inputs
            in_masks = draws.masks(cell, lambda s: tf.ones(shape, x.dtype), drop, count)
        if recurrent_drop:  # and the initial state's
            state = (x.shape[1], units)
            state_masks = draws.masks(cell, lambda s: tf.ones(state, x.dtype), recurrent_drop,
                                      count)  # fmt: skip
    inputs = tf.transpose(x, (2, 0, 1, 3))  # time first
    steps = x.shape[2]  # static: XLA's gradient of the loop needs its length
    m = None if mask is None else tf.transpose(mask, (2, 0, 1))
    if layer.go_backwards:
        inputs = tf.reverse(inputs, [0])
        m = None if m is None else tf.reverse(m, [0])
    gru = isinstance(cell, keras.layers.GRUCell)
    lstm = isinstance(cell, keras.layers.LSTMCell)
    # The input's products for every step at once: the same products Keras takes step by step.
    projected = _masked_product(inputs, kernel, in_masks, "tkbf,kfg->tkbg", lambda m: m[None])
    if gru:
        projected = projected + bias[:, 0][None, :, None, :]
    act, rec_act = cell.activation, getattr(cell, "recurrent_activation", None)

    def product(h):
        return _masked_product(h, recurrent, state_masks, "kbu,kug->kbg", lambda m: m)

    def cell_step(xw, h, c):
        if lstm:
            z = xw + product(h) + bias[:, None, :]
            zi, zf, zc, zo = tf.split(z, 4, axis=-1)
            c = rec_act(zf) * c + rec_act(zi) * act(zc)
            return rec_act(zo) * act(c), c
        if gru:
            inner = product(h) + bias[:, 1][:, None, :]
            x_z, x_r, x_h = tf.split(xw, 3, axis=-1)
            r_z, r_r, r_h = tf.split(inner, 3, axis=-1)
            z = rec_act(x_z + r_z)
            r = rec_act(x_r + r_r)
            hh = act(x_h + r * r_h)
            return z * h + (1 - z) * hh, c
        # SimpleRNN: h = act(x W + b + h U)
        return act(xw + bias[:, None, :] + product(h)), c

    zero_masked = bool(layer.zero_output_for_mask)
    zeros = tf.zeros((k, b, units), x.dtype)
    outputs = tf.TensorArray(x.dtype, size=steps)

    def body(t, outputs, out, h, c):
        new_h, new_c = cell_step(projected[t], h, c)
        new_out = new_h
        if m is not None:
            real = m[t][..., None]
            new_out = tf.where(real, new_h, zeros if zero_masked else out)
            new_h = tf.where(real, new_h, h)
            new_c = tf.where(real, new_c, c)
        return t + 1, outputs.write(t, new_out), new_out, new_h, new_c

    _, outputs, last, _, _ = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), outputs, zeros, zeros, zeros),
        maximum_iterations=steps,
    )
    if layer.return_sequences:
        return tf.transpose(outputs.stack(), (1, 2, 0, 3))
    return last


# --- the seeds of a sweep trained as one stack -----------------------------------------------
#
# Each seed of a stack is a whole job (its run, data, model, validation, early stopping,
# checkpoints, evaluation and logging, exactly as alone), in a thread of its own. The threads
# take turns: one runs at a time, holding the group's lock, and gives it up only when its
# training asks for a chunk of steps. When every seed still training has asked, the last one
# runs the chunk for all of them as one program and they go on, one after another. So the
# only thing the seeds do together is what the stack is for, and each job's code runs as if
# it were alone (with Keras' per-thread state its own).

_member = threading.local()


def member() -> Member | None:
    """The stack the calling thread's job trains in, or None (a job alone)."""
    return getattr(_member, "value", None)


@dataclass
class _Chunk:
    model: keras.Model
    task: Task
    jit: bool
    args: tuple  # xs, ys, n, lrs as compiled_loop takes them
    budget_mb: float  # schedule.max_chunk_mb: what a stack's chunk may hold


class StackGroup:
    """K jobs whose training steps together. ``run(jobs)`` runs job k (a callable) in thread k
    as member k and returns their results (or raises the first one's exception...)."""

    def __init__(self, size: int, on_turn: Callable[[int], None] | None = None,
                 say: Callable[[str], None] | None = None,
                 note: Callable[[str], None] | None = None):  # fmt: skip
        self.size = size
        # Called in a member's thread whenever it gets its turn back (the launcher puts its
        # job's Hydra config back in place).
        self.on_turn = on_turn or (lambda k: None)
        self.say = say or (lambda line: print(line, flush=True))
        # How the members train is said once, in the thread that formed the stacks; note
        # repeats it in every other member's thread when it next has its turn (the launcher:
        # into that job's own log only, not the console again).
        self.note = note or (lambda line: None)
        self.said: str | None = None
        self.told: set[int] = set()
        self.lock = threading.Condition()
        self.active = set(range(size))
        self.pending: dict[int, _Chunk] = {}
        self.results: dict[int, tuple] = {}
        self.stacks: list[Stack] = []
        self.slots: dict[int, tuple[int, int]] = {}  # member -> (its stack, its seed there)
        self.solo: dict[int, Callable] = {}  # member -> its own compiled loop (no stack)
        self.unstacked: str | None = None  # why the members train one by one
        self.keys: list[str] = []  # each stack's program, for its name
        self.shares: dict[int, float] = {}  # member -> seconds of its last chunk

    def run(self, jobs: Sequence[Callable[[], object]]) -> list[object]:
        assert len(jobs) == self.size
        out: list[object] = [None] * self.size
        errors: list[BaseException | None] = [None] * self.size

        def body(k: int) -> None:
            with self.lock:
                _member.value = Member(self, k)
                try:
                    self.on_turn(k)
                    out[k] = jobs[k]()
                except BaseException as exc:  # handed to the caller's thread
                    errors[k] = exc
                finally:
                    _member.value = None
                    self._leave(k)

        from lstmlab.training.signals import GracefulStop

        # Daemons: a second SIGINT or SIGTERM (GracefulStop's "at once") ends the process.
        threads = [threading.Thread(target=body, args=(k,), name=f"lstmlab-seed-{k}",
                                    daemon=True) for k in range(self.size)]  # fmt: skip
        # On the main thread: the first signal asks every seed to stop at its next chunk.
        with GracefulStop():
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for exc in errors:
            if exc is not None:
                raise exc
        return out

    # Called with the lock held (a member's turn).
    def _leave(self, k: int) -> None:
        self.active.discard(k)
        self.pending.pop(k, None)
        if self.pending and set(self.pending) == self.active:
            self._step()

    def submit(self, k: int, chunk: _Chunk) -> tuple:
        self.pending[k] = chunk
        if set(self.pending) == self.active:
            self._step()
        else:
            while k not in self.results:
                self.lock.wait()
            self.on_turn(k)
        result = self.results.pop(k)
        if self.said is not None and k not in self.told:
            self.told.add(k)
            self.note(self.said)
        if isinstance(result, BaseException):
            raise result
        return result

    def _step(self) -> None:
        """One chunk for every pending member: stacked, or each alone."""
        chunks, self.pending = self.pending, {}
        t0 = time.perf_counter()
        try:
            self._run(chunks)
        except Exception as exc:  # every member of the chunk fails with it, none waits on
            for k in chunks:
                self.results[k] = exc
        # Each member's share of the program's time: what its run logs as training time.
        self.shares.update(dict.fromkeys(chunks, (time.perf_counter() - t0) / len(chunks)))
        self.lock.notify_all()

    def _run(self, chunks: dict[int, _Chunk]) -> None:
        if not self.stacks and self.unstacked is None:
            self._build(chunks)
        shapes = {tuple(np.shape(a) for a in c.args[:2]) for c in chunks.values()}
        if not self.stacks or len(shapes) > 1:
            for k, c in chunks.items():
                if k not in self.solo:
                    from lstmlab.training.loops import compiled_loop

                    self.solo[k] = compiled_loop(c.model, c.task, c.jit)
                losses, accs = self.solo[k](*c.args)
                self.results[k] = (losses, accs)
        else:
            self._stacked(chunks)

    def _announce(self, line: str) -> None:
        self.said = line
        builder = getattr(_member, "value", None)
        if builder is not None:
            self.told.add(builder.index)
        self.say(line)

    def _build(self, chunks: dict[int, _Chunk]) -> None:
        """The members' stacks: as many seeds a stack as their chunks' arrays fit in
        schedule.max_chunk_mb (a stack's chunk holds every seed's batches)."""
        members = sorted(chunks)
        first = chunks[members[0]]
        one = max(sum(np.asarray(a).nbytes for a in c.args[:2]) for c in chunks.values())
        fit = max(1, int(first.budget_mb * MB // one))
        if fit == 1:
            self.unstacked = (
                f"two seeds' chunks take {2 * one / MB:.3g} MB, over "
                f"schedule.max_chunk_mb={first.budget_mb:g}"
            )
            self._announce(f"lstmlab: {len(members)} seeds train one by one: {self.unstacked}")
            return
        parts = [members[i : i + fit] for i in range(0, len(members), fit)]
        try:
            stacks = [Stack([chunks[k].model for k in part], first.task, first.jit)
                      for part in parts]  # fmt: skip
        except Unstackable as exc:
            self.unstacked = str(exc)
            self._announce(f"lstmlab: {len(members)} seeds train one by one: {exc}")
            return
        self.stacks = stacks
        self.slots = {k: (s, i) for s, part in enumerate(parts) for i, k in enumerate(part)}
        self.keys = [repr((len(part), first.model.to_json(), first.task, first.jit))
                     for part in parts]  # fmt: skip
        if len(parts) == 1:
            self._announce(f"lstmlab: {len(members)} seeds train as one stack")
        else:
            self._announce(
                f"lstmlab: {len(members)} seeds train as {len(parts)} stacks of at most {fit} "
                f"(their chunks within schedule.max_chunk_mb={first.budget_mb:g})"
            )

    def _stacked(self, chunks: dict[int, _Chunk]) -> None:
        for s, stack in enumerate(self.stacks):
            mine = {k: c for k, c in chunks.items() if self.slots[k][0] == s}
            if mine:
                self._stack_chunk(stack, self.keys[s], mine)

    def _stack_chunk(self, stack: Stack, key: str, chunks: dict[int, _Chunk]) -> None:
        xs0, ys0 = (np.asarray(a) for a in next(iter(chunks.values())).args[:2])
        width, size = len(xs0), len(stack.models)
        xs = np.zeros((width, size, *xs0.shape[1:]), xs0.dtype)
        ys = np.zeros((width, size, *ys0.shape[1:]), ys0.dtype)
        lrs = np.zeros((width, size), np.float32)
        n = np.zeros(size, np.int32)
        for k, c in chunks.items():
            i = self.slots[k][1]
            x, y, steps, rates = c.args
            xs[:, i], ys[:, i], n[i] = x, y, int(steps)
            if rates is not None:
                lrs[:, i] = rates
            else:  # the optimizer's own rate
                lrs[:, i] = float(keras.ops.convert_to_numpy(c.model.optimizer.learning_rate))
        # Named from the architecture, so that another process finds it in the XLA cache.
        with stable(f"stack|{key}|{xs.shape}|{ys.shape}"):
            losses, accs = stack.run(xs, ys, n, lrs)
        for k in chunks:
            i = self.slots[k][1]
            self.results[k] = (tf.constant(losses[:, i]), tf.constant(accs[:, i]))


@dataclass
class Member:
    """Member k of a stack group: the training loop its job's train() calls instead of its
    own compiled_loop."""

    group: StackGroup
    index: int
    # Seconds its job spent waiting on its siblings' turns.
    waited: float = 0.0

    def loop(self, model: keras.Model, task: Task, jit: bool, budget_mb: float) -> _MemberLoop:
        return _MemberLoop(self, model, task, jit, budget_mb)

    def trained(self) -> str:
        """How its job trained, for its run's tags: "<K> seeds" (its stack's), or
        "none (<why>)"."""
        group = self.group
        if self.index in group.slots:
            size = len(group.stacks[group.slots[self.index][0]].models)
            return f"{size} seed{'s' if size > 1 else ''}"
        return f"none ({group.unstacked})" if group.unstacked else "none"


class _MemberLoop:
    """compiled_loop's ``run`` for a member: its chunk goes to the group. ``seconds``: the
    member's share of the last chunk's program time (its wall time also holds its siblings'
    turns)."""

    def __init__(self, member: Member, model: keras.Model, task: Task, jit: bool,
                 budget_mb: float):  # fmt: skip
        self.member, self.model, self.task, self.jit = member, model, task, jit
        self.budget_mb = budget_mb
        self.seconds = 0.0

    def __call__(self, xs, ys, n, lrs=None):
        group, k = self.member.group, self.member.index
        t0 = time.perf_counter()
        try:
            chunk = _Chunk(self.model, self.task, self.jit, (xs, ys, n, lrs), self.budget_mb)
            out = group.submit(k, chunk)
        finally:
            self.seconds = group.shares.pop(k, 0.0)
            # The rest of the call: the siblings' turns (their validation, logging, ...).
            self.member.waited += time.perf_counter() - t0 - self.seconds
        return out
