"""dataset=npz and dataset=csv: files written by the tests, read back through lstmlab's loaders;
splits, normalisation, padding and the one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmlab.config import Config, CsvConfig, EvalConfig, Normalize, NpzConfig, Padding
from lstmlab.data import DataError, load
from lstmlab.data.files import digest


def variable_sequences(n=24, features=3, classes=("low", "mid", "high"), seed=0):
    """n sequences of lengths 2..7, string labels, padded after their end with junk (the
    loader must ignore whatever lies past a sequence's length)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 8, n)
    x = rng.normal(size=(n, 7, features)) * 3 + 5
    labels = np.array([classes[i % len(classes)] for i in range(n)])
    return x, labels, lengths


def settings(data, seed=0, every=0) -> Config:
    return Config(dataset=data, eval=EvalConfig(every=every), seed=seed)


@pytest.fixture
def npz_file(tmp_path: Path) -> Path:
    x, y, lengths = variable_sequences()
    xt, yt, lt = variable_sequences(n=9, seed=1)
    path = tmp_path / "seqs.npz"
    np.savez(path, x=x, y=y, lengths=lengths, x_test=xt, y_test=yt, lengths_test=lt)
    return path


def test_npz_with_lengths_string_labels_and_a_test_split(npz_file):
    data = load(settings(NpzConfig(path=str(npz_file))))
    x, labels, lengths = variable_sequences()
    assert data.task.name == "seqs" and data.task.masked and not data.task.per_timestep
    # Labels of any kind map to 0..k-1 in sorted order: high, low, mid.
    assert data.classes == ["high", "low", "mid"] and data.task.classes == 3
    assert not data.task.binary and data.task.n_outputs == 3
    np.testing.assert_array_equal(data.train.y, [data.classes.index(v) for v in labels])
    np.testing.assert_array_equal(data.train.lengths, lengths)
    assert len(data.test) == 9 and data.validation is None
    # Post-padding: sequence i is x[i, :len], the rest is the pad value and masked out.
    for i in range(len(x)):
        n = lengths[i]
        np.testing.assert_allclose(data.train.x[i, :n], x[i, :n], rtol=1e-6)
        assert (data.train.x[i, n:] == 0.0).all()
        assert data.train.mask[i].tolist() == [True] * n + [False] * (data.task.timesteps - n)


def test_pre_padding_puts_the_sequence_at_the_end(npz_file):
    data = load(settings(NpzConfig(path=str(npz_file), padding=Padding.pre, pad_value=-9.0)))
    x, _, lengths = variable_sequences()
    T = data.task.timesteps
    for i in range(len(x)):
        n = lengths[i]
        np.testing.assert_allclose(data.train.x[i, T - n :], x[i, :n], rtol=1e-6)
        assert (data.train.x[i, : T - n] == -9.0).all()
        assert data.train.mask[i, T - n :].all() and not data.train.mask[i, : T - n].any()


def test_validation_is_stratified_seeded_and_cut_from_training_only(npz_file):
    a = load(settings(NpzConfig(path=str(npz_file), validation=0.25), seed=1))
    b = load(settings(NpzConfig(path=str(npz_file), validation=0.25), seed=1))
    c = load(settings(NpzConfig(path=str(npz_file), validation=0.25), seed=2))
    fixed = load(settings(NpzConfig(path=str(npz_file), validation=0.25, split_seed=7), seed=2))
    fixed_again = load(settings(NpzConfig(path=str(npz_file), validation=0.25, split_seed=7)))
    assert len(a.validation) == 6 and len(a.train) == 18 and len(a.test) == 9
    # Each of the 3 classes (8 sequences each) keeps its share on both sides.
    assert np.bincount(a.validation.y).tolist() == [2, 2, 2]
    assert np.bincount(a.train.y).tolist() == [6, 6, 6]
    np.testing.assert_array_equal(a.validation.x, b.validation.x)
    assert not np.array_equal(a.validation.x, c.validation.x)
    np.testing.assert_array_equal(fixed.validation.x, fixed_again.validation.x)
    # The file's own test split is untouched.
    np.testing.assert_array_equal(a.test.x, load(settings(NpzConfig(path=str(npz_file)))).test.x)


def test_zscore_is_fitted_on_the_training_split_alone(npz_file):
    data = load(settings(NpzConfig(path=str(npz_file), normalize=Normalize.zscore,
                                   validation=0.25)))  # fmt: skip
    real = data.train.x[data.train.mask]
    np.testing.assert_allclose(real.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(real.std(axis=0), 1, atol=1e-5)
    # Held-out data is scaled with the training statistics, not its own.
    held = data.validation.x[data.validation.mask]
    assert np.abs(held.mean(axis=0)).max() > 1e-3
    assert data.normalization is not None and len(data.normalization["mean"]) == 3
    # Padding keeps the pad value: it is never normalised.
    assert (data.train.x[~data.train.mask] == 0.0).all()


def test_without_a_test_split_a_stratified_fraction_is_held_out(tmp_path):
    x, y, lengths = variable_sequences(n=30)
    np.savez(tmp_path / "a.npz", x=x, y=y, lengths=lengths)
    data = load(settings(NpzConfig(path=str(tmp_path / "a.npz"))))  # dataset.test=null: 0.2
    assert len(data.test) == 6 and len(data.train) == 24
    assert np.bincount(data.test.y).tolist() == [2, 2, 2]
    data = load(settings(NpzConfig(path=str(tmp_path / "a.npz"), test=0.4)))
    assert len(data.test) == 12


def test_per_timestep_k_class_labels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 6, 2))
    y = rng.integers(0, 3, size=(10, 6)) * 10  # classes 0, 10, 20
    lengths = np.array([6, 5, 4, 3, 6, 5, 4, 3, 2, 1])
    np.savez(tmp_path / "t.npz", x=x, y=y, lengths=lengths)
    data = load(settings(NpzConfig(path=str(tmp_path / "t.npz"), test=0.3)))
    assert data.task.per_timestep and data.task.classes == 3
    assert data.classes == ["0", "10", "20"]
    assert data.train.y.shape == data.train.mask.shape
    # Padded timesteps carry label 0 but are masked.
    assert (data.train.y[~data.train.mask] == 0).all()


def _long_csv(x, labels, lengths, per_step=False, shuffle=True, seed=0) -> pd.DataFrame:
    rows = []
    for i, (seq, n) in enumerate(zip(x, lengths, strict=True)):
        for t in range(n):
            label = labels[i][t] if per_step else labels[i]
            rows.append({"subject": f"s{i:03d}", "t": t, "f0": seq[t, 0], "f1": seq[t, 1],
                         "f2": seq[t, 2], "label": label})  # fmt: skip
    df = pd.DataFrame(rows)
    return df.sample(frac=1, random_state=seed) if shuffle else df


def test_csv_long_format_equals_the_same_data_as_npz(tmp_path, npz_file):
    x, labels, lengths = variable_sequences()
    xt, yt, lt = variable_sequences(n=9, seed=1)
    _long_csv(x, labels, lengths).to_csv(tmp_path / "train.csv", index=False)
    _long_csv(xt, yt, lt, seed=1).to_csv(tmp_path / "test.csv", index=False)
    csv = load(settings(CsvConfig(
        path=str(tmp_path / "train.csv"), test_path=str(tmp_path / "test.csv"),
        id_column="subject", time_column="t",
    )))  # fmt: skip
    npz = load(settings(NpzConfig(path=str(npz_file))))
    assert csv.task.features == 3 and csv.classes == npz.classes
    # Sequences in order of their ids' first appearance; compare them by id order instead.
    first_seen = pd.read_csv(tmp_path / "train.csv")["subject"].drop_duplicates()
    order = np.argsort(first_seen.to_numpy())
    np.testing.assert_allclose(csv.train.x[order], npz.train.x, rtol=1e-6)
    np.testing.assert_array_equal(csv.train.y[order], npz.train.y)
    assert [s.context for s in csv.sources] == ["training", "testing"]


def test_csv_label_varying_within_a_sequence_is_per_timestep(tmp_path):
    x, _, lengths = variable_sequences(n=6)
    labels = [["a" if t < 2 else "b" for t in range(7)] for _ in range(6)]
    _long_csv(x, labels, lengths, per_step=True, shuffle=False).to_csv(tmp_path / "p.csv",
                                                                       index=False)  # fmt: skip
    data = load(
        settings(
            CsvConfig(
                path=str(tmp_path / "p.csv"),
                id_column="subject",
                time_column="t",
                feature_columns=["f0", "f2"],
                test=0.5,
            )
        )
    )
    assert data.task.per_timestep and data.task.binary and data.task.features == 2
    for seqs in (data.train, data.test):
        for y, m in zip(seqs.y, seqs.mask, strict=True):
            real = y[m]
            assert real.tolist() == [0 if t < 2 else 1 for t in range(len(real))]


def test_file_digest_identifies_the_content(tmp_path, npz_file):
    data = load(settings(NpzConfig(path=str(npz_file))))
    (source,) = data.sources
    assert source.path == str(npz_file) and source.context == "training,testing"
    assert source.digest == digest(npz_file) and len(source.digest) == 12
    x, y, lengths = variable_sequences(seed=5)
    np.savez(tmp_path / "other.npz", x=x, y=y, lengths=lengths)
    assert digest(tmp_path / "other.npz") != source.digest


# --- bad input: one line naming the file, key or column ----------------------------------


def _npz(tmp_path: Path, **arrays) -> str:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return str(path)


def _ok(n=8, T=5, F=2):
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(n, T, F)), "y": np.arange(n) % 2}


BAD_NPZ = [
    ("missing file", lambda p: str(p / "nope.npz"), "dataset.path=", "no such file"),
    ("not an npz", lambda p: (p / "x.npz").write_text("hello") and str(p / "x.npz"),
     "dataset.path=", "not a readable .npz file"),
    ("rank", lambda p: _npz(p, x=np.zeros((4, 5)), y=np.arange(4) % 2), "array 'x' has shape",
     "expected (n, T, F)"),
    ("dtype", lambda p: _npz(p, x=np.full((4, 5, 1), "a"), y=np.arange(4) % 2), "'x' has dtype",
     "expected numbers"),
    ("counts", lambda p: _npz(p, x=np.zeros((4, 5, 1)), y=np.arange(3)), "'x' has 4 sequences",
     "'y' has 3 labels"),
    ("nan", lambda p: _npz(p, **{**_ok(), "x": np.where(np.eye(5)[None, :, :2] > 0, np.nan,
                                                        _ok()["x"])}),
     "NaN or infinite", "sequence 0, timestep 0, feature 0"),
    ("inf", lambda p: _npz(p, x=np.concatenate([_ok()["x"][:3], np.full((1, 5, 2), np.inf)]),
                           y=np.arange(4) % 2), "NaN or infinite", "sequence 3"),
    ("zero length", lambda p: _npz(p, **_ok(), lengths=np.array([5, 5, 0, 5, 5, 5, 5, 5])),
     "sequence 2 has length 0", "at least one timestep"),
    ("tiny class", lambda p: _npz(p, x=_ok()["x"], y=np.array([0] * 7 + [1])),
     "dataset.test=0.2: class '1' has 1 sequence(s)", "at least 2 of every class"),
    ("test features", lambda p: _npz(p, **_ok(), x_test=np.zeros((3, 5, 4)), y_test=np.arange(3)),
     "4 features per timestep", "has 2"),
    # Real-valued labels are a regression (tests/test_regression.py); a missing one is named.
    ("nan target", lambda p: _npz(p, x=_ok()["x"], y=np.r_[np.linspace(0, 1, 7), np.nan]),
     "1 NaN or infinite target(s)", "the first of sequence 7"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "first", "second"), BAD_NPZ, ids=[c[0] for c in BAD_NPZ])
def test_bad_npz_input_is_one_line_naming_what_is_wrong(tmp_path, case, make, first, second):
    path = make(tmp_path)
    with pytest.raises(DataError) as err:
        load(settings(NpzConfig(path=path)))
    message = str(err.value)
    assert first in message and second in message, message
    assert "\n" not in message
    if case not in ("tiny class",):
        assert Path(path).name in message or "dataset.path" in message


def test_bad_csv_columns_are_named(tmp_path):
    df = pd.DataFrame({"id": [1, 1, 2, 2], "a": [0.1, 0.2, 0.3, 0.4], "cls": ["x", "x", "y", "y"],
                       "note": ["p", "q", "r", "s"]})  # fmt: skip
    df.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError, match=r"dataset.label_column=label: no such column in .*c.csv; "
                                        r"columns: id, a, cls, note"):  # fmt: skip
        load(settings(CsvConfig(path=str(tmp_path / "c.csv"))))
    with pytest.raises(DataError, match="feature column 'note' is not numeric"):
        load(settings(CsvConfig(path=str(tmp_path / "c.csv"), label_column="cls")))
    with pytest.raises(DataError, match="dataset.feature_columns: no column 'b'"):
        load(settings(CsvConfig(path=str(tmp_path / "c.csv"), label_column="cls",
                                feature_columns=["a", "b"])))  # fmt: skip


def test_a_pad_value_that_real_data_takes_is_refused(tmp_path):
    x, y, lengths = variable_sequences(n=9)
    x[4, 1] = 0.0  # one real timestep is all zeros: masking would drop it
    np.savez(tmp_path / "z.npz", x=x, y=y, lengths=lengths)
    with pytest.raises(DataError, match=r"dataset.pad_value=0.0: sequence \d+ of the \w+ split"):
        load(settings(NpzConfig(path=str(tmp_path / "z.npz"), test=0.34)))
    data = load(settings(NpzConfig(path=str(tmp_path / "z.npz"), test=0.34, pad_value=-1.0)))
    assert data.task.pad_value == -1.0
