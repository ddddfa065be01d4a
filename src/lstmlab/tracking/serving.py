"""lstmlab's models as MLflow Models: the Keras flavor, with a pyfunc loader that knows
lstmlab's own layers.

MLflow's Keras flavor loads the ``.keras`` file with ``keras.saving.load_model``, which finds a
custom layer (``ReverseTime`` of the aligned backward model) only if the module that registers
it has been imported. The model's ``python_function`` flavor therefore names this module as its
loader: it imports lstmlab's layers, then hands over to MLflow's own Keras loader. So
``mlflow.pyfunc.load_model`` and ``mlflow models serve`` work wherever lstmlab is installed.

Used as the ``flavor`` of ``mlflow.models.Model.log`` (see tracking.RunLog.keras_model).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlflow.keras.load import _load_pyfunc as _keras_pyfunc
from mlflow.keras.save import save_model as _keras_save_model
from mlflow.utils import environment

FLAVOR_NAME = "keras"


def save_model(model: Any, path: str, mlflow_model: Any, **kwargs: Any) -> None:
    """MLflow's Keras save_model, then the pyfunc loader pointed at this module. kwargs carry
    lstmlab's pins (tracking.requirements)."""
    with _pins_trusted():
        _keras_save_model(model, path, mlflow_model=mlflow_model, **kwargs)
    mlflow_model.flavors["python_function"]["loader_module"] = __name__
    mlflow_model.save(os.path.join(path, "MLmodel"))


@contextmanager
def _pins_trusted() -> Iterator[None]:
    """Without MLflow's check of the model's requirements against the installed packages: it
    maps every installed distribution's files first (0.45-0.72 s once a process, at the end of
    a run), and lstmlab's pins are the installed versions themselves, so it cannot find a
    mismatch. If MLflow renames the check, it simply runs."""
    name = "warn_dependency_requirement_mismatches"
    check = getattr(environment, name, None)
    if check is None:
        yield
        return
    setattr(environment, name, lambda requirements: None)
    try:
        yield
    finally:
        setattr(environment, name, check)


def _load_pyfunc(path: str) -> Any:
    import lstmlab.models.recurrent  # noqa: F401 (registers ReverseTime with Keras)

    return _keras_pyfunc(path)
