"""model=mlstm_fcn: Karim, Majumdar, Darabi & Harford (2019), "Multivariate LSTM-FCNs for time
series classification": LSTM-FCN with a squeeze-and-excite block (Hu et al. 2018) after each of
the first two convolution blocks, so that the network weighs its channels per sequence."""

from __future__ import annotations

import keras

from lstmlab.config import MlstmFcnConfig
from lstmlab.data import Task
from lstmlab.models import lstm_fcn


def build(cfg: MlstmFcnConfig, task: Task) -> keras.Model:
    return lstm_fcn.build(cfg, task, reduction=cfg.reduction)
