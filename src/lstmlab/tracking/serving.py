"""lstmlab's models as MLflow Models: the Keras flavor, with a pyfunc loader that knows
lstmlab's own layers.

MLflow's Keras flavor loads the ``.keras`` file with ``keras.saving.load_model``, which finds a
custom layer (``ReverseTime`` of the aligned backward model) only if the module that registers
it has been imported. The model's ``python_function`` flavor therefore names this module as its
loader: it imports lstmlab's layers, then hands over to MLflow's own Keras loader. So
``mlflow.pyfunc.load_model`` and ``mlflow models serve`` work wherever lstmlab is installed.

:func:`log_model` logs one as a run's MLflow Model (tracking.RunLog.keras_model, and
lstmlab-sync for a model kept while the store was away).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlflow.keras.load import _load_pyfunc as _keras_pyfunc
from mlflow.keras.save import save_model as _keras_save_model
from mlflow.utils import environment

FLAVOR_NAME = "keras"


def log_model(client: Any, run_id: str, model: Any, name: str, signature: Any,
              pins: list[str]) -> str:  # fmt: skip
    """The model as a logged model of the run, in the run's own experiment, its files under
    that experiment's artifact location; returns its id. Through the given client only:
    MLflow's ``Model.log`` creates the logged model in the process's *active* experiment
    (MLflow's Default when none is set) and writes through the process-wide tracking URI,
    which two jobs of one worker on different stores would share."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    run = client.get_run(run_id)
    logged = client.create_logged_model(
        run.info.experiment_id, name=name, source_run_id=run_id, params=run.data.params
    )
    try:
        client.log_outputs(run_id, models=[LoggedModelOutput(logged.model_id, step=0)])
        mlflow_model = Model(artifact_path=logged.artifact_location, run_id=run_id,
                             model_uuid=logged.model_id, model_id=logged.model_id)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="lstmlab-model-") as tmp:
            path = os.path.join(tmp, "model")
            save_model(model, path, mlflow_model, signature=signature, pip_requirements=pins)
            client.log_model_artifacts(logged.model_id, path)
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return logged.model_id


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
    from lstmlab.models import register_layers

    register_layers()
    return _keras_pyfunc(path)
