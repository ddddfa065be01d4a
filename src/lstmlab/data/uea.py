"""dataset=uea: the UEA/UCR archive sets that aeon ships inside its wheel (classification
sets, and the Monash/UEA regression sets it ships: Covid3Month, CardanoSentiment), with their
own train/test splits, loaded offline through aeon's loader.

aeon (and numba, which it imports) is heavy: it is an optional extra (``make install``
installs it) imported only when this dataset is chosen. The list of sets is read from aeon's
folder without importing it, so an unknown name is reported at once.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from lstmlab.config import UeaConfig
from lstmlab.data.files import digest
from lstmlab.data.sequences import DataError, Loaded, Recorded, Source


def data_dir() -> Path | None:
    """aeon's folder of shipped data sets, or None when aeon is not installed."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def available(kind: str | None = None) -> list[str]:
    """The archive sets aeon ships: those with a _TRAIN.ts file whose header says class labels
    (kind "classification") or real-valued targets ("regression"); None: both."""
    return sorted(n for n, k in _kinds().items() if kind in (None, k))


@functools.lru_cache(maxsize=1)
def _kinds() -> dict[str, str]:
    # Read once per process: the check of the name and each split's loader ask it.
    folder = data_dir()
    if folder is None:
        return {}
    kinds = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        ts = sub / f"{sub.name}_TRAIN.ts"
        if not ts.is_file():
            continue
        with ts.open(errors="replace") as f:
            head = "".join(line for _, line in zip(range(200), f, strict=False)).lower()
        if "@classlabel true" in head:
            kinds[sub.name] = "classification"
        elif "@targetlabel true" in head:
            kinds[sub.name] = "regression"
    return kinds


def check_name(name: str | None) -> str:
    if data_dir() is None:
        raise DataError(
            "dataset=uea needs aeon, an optional extra: run `make install` "
            "(or pip install 'lstmlab[uea]')"
        )
    names = available()
    if name not in names:
        raise DataError(
            f"dataset.name={name}: not an archive set aeon ships; available: " + ", ".join(names)
        )
    return name


def _recorded(name: str, split: str) -> Recorded:
    from aeon.datasets import load_classification, load_regression

    # extract_path: aeon's own folder, so the loader never reaches for the network.
    loader = load_regression if _kinds().get(name) == "regression" else load_classification
    X, y = loader(name, split=split, extract_path=str(data_dir()))
    # aeon: (n, channels, length) arrays, or a list of (channels, length_i) when lengths vary.
    series = [np.asarray(s, np.float64).T for s in X]
    lengths = np.array([len(s) for s in series])
    x = np.zeros((len(series), int(lengths.max()), series[0].shape[1]))
    for i, s in enumerate(series):
        x[i, : len(s)] = s
    return Recorded(x, lengths, np.asarray(y), f"{name}_{split.upper()}.ts")


def load(cfg: UeaConfig) -> Loaded:
    name = check_name(cfg.name)
    folder = data_dir() / name
    train, test = _recorded(name, "train"), _recorded(name, "test")
    sources = [
        Source(
            name, str(folder / f"{name}_{part}.ts"), digest(folder / f"{name}_{part}.ts"), context
        )  # fmt: skip
        for part, context in (("TRAIN", "training"), ("TEST", "testing"))
    ]
    return Loaded(name, train, test, sources)
