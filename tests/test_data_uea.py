"""dataset=uea: the real archive sets that aeon ships, loaded offline through aeon's loader."""

from __future__ import annotations

import numpy as np
import pytest

from lstmlab.config import Config, EvalConfig, UeaConfig
from lstmlab.data import DataError, load
from lstmlab.data.files import digest
from lstmlab.data.uea import available, data_dir

ISSUE_SETS = ["JapaneseVowels", "BasicMotions", "GunPoint", "ArrowHead", "ItalyPowerDemand"]


def test_the_sets_aeon_ships_include_those_lstmlab_documents():
    assert set(ISSUE_SETS) <= set(available())


def test_japanese_vowels_is_the_real_archive_set():
    data = load(Config(dataset=UeaConfig(name="JapaneseVowels"), eval=EvalConfig()))
    assert (len(data.train), len(data.test)) == (270, 370)
    assert data.task.features == 12 and data.task.classes == 9
    assert data.classes == [str(c) for c in range(1, 10)]
    lengths = np.concatenate([data.train.lengths, data.test.lengths])
    assert (lengths.min(), lengths.max()) == (7, 29)
    assert data.task.masked and data.task.timesteps == 29 and not data.task.per_timestep
    # Provenance: the archive's own .ts files and the digests of their content.
    train_src, test_src = data.sources
    assert train_src.path.endswith("JapaneseVowels_TRAIN.ts") and train_src.context == "training"
    assert test_src.path.endswith("JapaneseVowels_TEST.ts") and test_src.context == "testing"
    assert train_src.digest == digest(data_dir() / "JapaneseVowels" / "JapaneseVowels_TRAIN.ts")


@pytest.mark.parametrize(("name", "train", "test", "features", "classes", "length"), [
    ("BasicMotions", 40, 40, 6, 4, 100),
    ("GunPoint", 50, 150, 1, 2, 150),
    ("ItalyPowerDemand", 67, 1029, 1, 2, 24),
])  # fmt: skip
def test_fixed_length_sets(name, train, test, features, classes, length):
    data = load(Config(dataset=UeaConfig(name=name, validation=0.2), eval=EvalConfig()))
    assert len(data.train) + len(data.validation) == train and len(data.test) == test
    assert (data.task.features, data.task.classes, data.task.timesteps) == (
        features, classes, length,
    )  # fmt: skip
    assert not data.task.masked and data.task.binary == (classes == 2)


def test_an_unknown_name_lists_the_available_sets():
    with pytest.raises(DataError) as err:
        load(Config(dataset=UeaConfig(name="Nope"), eval=EvalConfig()))
    message = str(err.value)
    assert message.startswith("dataset.name=Nope: not an archive set aeon ships")
    assert all(name in message for name in ISSUE_SETS)
