"""The generators against hand-worked examples."""

from __future__ import annotations

import numpy as np

from lstmlab.config import Config, CumsumConfig, EchoConfig, EvalConfig
from lstmlab.data import cumsum, echo, load
from lstmlab.data.cumsum import cumsum_sequences
from lstmlab.data.echo import echo_sequences


class FixedRng:
    """Stands in for a Generator with chosen draws."""

    def __init__(self, values=None, ints=None):
        self.values, self.ints = values, ints

    def random(self, shape):
        return np.asarray(self.values, dtype=np.float64).reshape(shape)

    def integers(self, low, high, size):
        return np.asarray(self.ints).reshape(size)


def test_cumsum_label_flips_where_running_sum_reaches_limit():
    # timesteps 4, threshold 0.25: limit 1.0. Running sums 0.5, 0.9, 1.0, 1.8.
    x, y = cumsum_sequences(FixedRng([0.5, 0.4, 0.1, 0.8]), 1, 4, 0.25)
    assert x.shape == (1, 4, 1) and y.shape == (1, 4)
    assert x.dtype == np.float32 and y.dtype == np.int32
    # Reaching the limit exactly counts (the seeds: 0 if sum < limit else 1).
    assert y[0].tolist() == [0, 0, 1, 1]


def test_cumsum_matches_the_seed_example():
    # Seed 001's example. Running sums: ... 1.4965, 2.2097, 3.1113: the limit 10/4 = 2.5 is
    # reached at the 7th input. The seed's prose says "0 0 0 0 0 1 1 1 1 1", which is wrong;
    # its printed output, [0 0 0 0 0 0 1 1 1 1], is right.
    xs = [0.22228819, 0.26882207, 0.069623, 0.91477783, 0.02095862,
          0.71322527, 0.90159654, 0.65000306, 0.88845226, 0.4037031]  # fmt: skip
    _, y = cumsum_sequences(FixedRng(xs), 1, 10, 0.25)
    assert y[0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]


def test_cumsum_labels_are_monotone_and_vectorised():
    rng = np.random.default_rng(0)
    x, y = cumsum_sequences(rng, 50_000, 10, 0.25)
    assert x.shape == (50_000, 10, 1)
    assert ((x >= 0) & (x < 1)).all()
    assert (np.diff(y, axis=1) >= 0).all()  # once 1, stays 1
    expected = np.cumsum(x[..., 0].astype(np.float64), axis=1) >= 2.5
    # float32 rounding can only matter within 1e-6 of the limit.
    assert (y.astype(bool) == expected).mean() > 0.9999


def test_echo_target_is_the_value_at_out_index():
    x, y = echo_sequences(FixedRng(ints=[3, 1, 4, 1, 5]), 1, 5, 6, out_index=2)
    assert x.shape == (1, 5, 6) and y.shape == (1,)
    assert x.sum(axis=-1).tolist() == [[1, 1, 1, 1, 1]]
    assert np.argmax(x[0], axis=-1).tolist() == [3, 1, 4, 1, 5]
    # The seed's one-hot target [0 0 0 0 1 0], as the class index the loss takes.
    assert y.tolist() == [4]


def test_chunked_draws_equal_one_at_a_time_draws():
    # The fast schedule draws a chunk of sequences at once; the tutorials draw one per step.
    samplers = (
        cumsum.sampler(CumsumConfig(timesteps=10)),
        echo.sampler(EchoConfig(length=7, n_features=5, out_index=2)),
    )
    for sample in samplers:
        a, b = np.random.default_rng(42), np.random.default_rng(42)
        chunk = sample(a, 20)
        singles = [sample(b, 1) for _ in range(20)]
        np.testing.assert_array_equal(chunk.x, np.concatenate([s.x for s in singles]))
        np.testing.assert_array_equal(chunk.y, np.concatenate([s.y for s in singles]))
        assert chunk.mask.all()


def test_tasks_and_decoding():
    task = cumsum.task(CumsumConfig(timesteps=3))
    assert task.input_shape == (3, 1) and task.per_timestep and task.binary
    assert task.n_outputs == 1 and not task.masked
    np.testing.assert_array_equal(task.decode(np.array([[[0.2], [0.51], [0.9]]])), [[0, 1, 1]])
    assert task.targets(np.array([[0, 1, 1]])).shape == (1, 3, 1)
    task = echo.task(EchoConfig(length=4, n_features=3, out_index=1))
    assert task.input_shape == (4, 3) and task.n_outputs == 3 and not task.per_timestep
    np.testing.assert_array_equal(task.decode(np.array([[0.1, 0.7, 0.2]])), [1])
    assert task.targets(np.array([2])).dtype == np.int32


def test_a_generator_dataset_has_fresh_test_and_validation_sets_of_its_own():
    def settings(every):
        return Config(dataset=CumsumConfig(timesteps=5, validation_samples=30),
                      eval=EvalConfig(samples=40, every=every), seed=3)  # fmt: skip

    data = load(settings(10))
    assert data.generated and data.train is None
    assert len(data.test) == 40 and len(data.validation) == 30
    # Validation and test are different draws, and the same again for the same seed.
    assert not np.array_equal(data.test.x[:30], data.validation.x)
    np.testing.assert_array_equal(load(settings(10)).validation.x, data.validation.x)
    # Without validation during training, no validation set; the test set is unchanged.
    plain = load(settings(0))
    assert plain.validation is None
    np.testing.assert_array_equal(plain.test.x, data.test.x)
    assert data.sources[0].params["timesteps"] == "5"
