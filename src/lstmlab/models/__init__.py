"""Models: shapes and hyper-parameters in, a Keras model out; nothing about training here.

One module per family of the ``model`` config group: ``recurrent`` (the stacked LSTM / GRU /
SimpleRNN models and a user's builder, model=custom), ``fcn``, ``lstm_fcn`` (and ALSTM-FCN,
its cell in ``attention_lstm``), ``mlstm_fcn``, ``resnet``, ``inception_time``, ``rocket``
(random convolutions and a ridge head, the non-deep baseline);
``blocks`` holds the layers the convolutional families share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

    from lstmlab.data import Task


def build_model(cfg: Any, task: Task, seed: int = 0) -> keras.Model:
    """The compiled model of a model config: Adam(cfg.learning_rate), the task's loss,
    accuracy. ConfigError (one line) when the model cannot take the task. seed: ROCKET's
    kernels (the other families draw from Keras' seed, set by experiment.prepare_tensorflow)."""
    from lstmlab.config import (
        FcnConfig,
        InceptionTimeConfig,
        LstmFcnConfig,
        MlstmFcnConfig,
        ResNetConfig,
        RocketConfig,
    )
    from lstmlab.models import recurrent

    if isinstance(cfg, RocketConfig):
        from lstmlab.models import rocket

        return recurrent.compiled(rocket.build(cfg, task, seed), cfg, task)
    if not isinstance(cfg, FcnConfig):
        return recurrent.build_model(cfg, task)
    if isinstance(cfg, MlstmFcnConfig):
        from lstmlab.models import mlstm_fcn as family
    elif isinstance(cfg, LstmFcnConfig):
        from lstmlab.models import lstm_fcn as family
    elif isinstance(cfg, ResNetConfig):
        from lstmlab.models import resnet as family
    elif isinstance(cfg, InceptionTimeConfig):
        from lstmlab.models import inception_time as family
    else:
        from lstmlab.models import fcn as family
    return recurrent.compiled(family.build(cfg, task), cfg, task)


def register_layers() -> None:
    """Import the modules that register lstmlab's own Keras layers, so that a saved model
    loads (tracking.serving's pyfunc loader, lstmlab-sync)."""
    import lstmlab.models.attention_lstm  # noqa: F401
    import lstmlab.models.blocks  # noqa: F401
    import lstmlab.models.recurrent  # noqa: F401
    import lstmlab.models.rocket  # noqa: F401
