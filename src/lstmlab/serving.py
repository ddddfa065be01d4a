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
from typing import Any

from mlflow.keras.load import _load_pyfunc as _keras_pyfunc
from mlflow.keras.save import save_model as _keras_save_model

FLAVOR_NAME = "keras"


def save_model(model: Any, path: str, mlflow_model: Any, **kwargs: Any) -> None:
    """MLflow's Keras save_model, then the pyfunc loader pointed at this module."""
    _keras_save_model(model, path, mlflow_model=mlflow_model, **kwargs)
    mlflow_model.flavors["python_function"]["loader_module"] = __name__
    mlflow_model.save(os.path.join(path, "MLmodel"))


def _load_pyfunc(path: str) -> Any:
    import lstmlab.models  # noqa: F401 (registers ReverseTime with Keras)

    return _keras_pyfunc(path)
