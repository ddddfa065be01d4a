"""Dataclass schemas for every config group, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` extend these schemas, so Hydra rejects a wrong type, an unknown
key or an unknown choice while composing. What a type cannot say (ranges, combinations) is
checked by :func:`validate` before any training or MLflow run starts.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from lstmlab.errors import ConfigError
from lstmlab.targets import resolve

# The package is installed editable from its checkout; the store and Hydra's output folders
# live at the checkout's root whatever the working directory, so every job of a sweep (and
# every worker process) writes to the same place.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"

# conf/hydra/launcher/ray.yaml completes hydra-ray-launcher's own "ray" option, and
# conf/hydra/launcher/joblib.yaml and conf/hydra/sweeper/basic.yaml put lstmlab's plugins under
# the names of Hydra's (so `hydra/launcher=joblib` works as documented); Hydra checks each
# against the schema of that name and says that matching by name is deprecated, every time
# it composes.
warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema with the")
# The default store (conf/tracking/local.yaml), for the commands that read it back.
DEFAULT_TRACKING_URI = f"sqlite:///{PROJECT_ROOT}/mlflow.db"
MB = 2**20


# Config groups: a sweep over a group (model=lstm,bilstm) varies the choice, which runs log as
# the param choices.<group>.
GROUPS = ("dataset", "model", "schedule", "tracking", "experiment", "debug")


def param_of(key: str) -> str:
    """The MLflow param that records a swept key."""
    return f"choices.{key}" if key in GROUPS else key


def setting(default: Any = MISSING, help: str = "", *, factory: Any = None) -> Any:
    """A schema field with its help text (field metadata): the one source of the config
    reference (``lstmlab --help``, the handbook) and of the test that every key has help."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


class Direction(Enum):
    forward = "forward"
    backward = "backward"
    bidirectional = "bidirectional"


class MergeMode(Enum):
    concat = "concat"
    sum = "sum"
    mul = "mul"
    ave = "ave"


class Padding(Enum):
    # Padding before a sequence (its last step at the end) or after it.
    pre = "pre"
    post = "post"


class Normalize(Enum):
    none = "none"
    # Per feature, mean 0 and standard deviation 1 on the training split's real timesteps.
    zscore = "zscore"
    # Each sequence on its own, per feature, over its real timesteps (ROCKET's, and the UCR
    # archive's univariate sets'): the shape of a series, not its level.
    instance = "instance"


class TaskKind(Enum):
    auto = "auto"
    classification = "classification"
    regression = "regression"


@dataclass
class GeneratedConfig:
    """A generator of fresh sequences (the tutorials' problems)."""

    kind: str = setting(
        help="Which option this is (picks the schema when a logged config is read back)."
    )
    name: str = setting(help="The dataset's name in MLflow.")
    samples: int = setting(10_000, "Sequences a bulk schedule draws once as its training set.")
    validation_samples: int = setting(
        1000, "Fresh sequences drawn once as the validation set (used when eval.every > 0)."
    )
    task: TaskKind = setting(
        TaskKind.auto,
        "classification, or regression: cumsum's running sum itself per step, a custom "
        "generator's real values (standardised with a draw of a stream of its own); auto: "
        "cumsum and echo classify, a custom generator's labels say.",
    )


@dataclass
class CumsumConfig(GeneratedConfig):
    kind: str = setting("cumsum", "Which option this is.")
    name: str = setting("cumsum", "The dataset's name in MLflow.")
    timesteps: int = setting(10, "Length of every sequence.")
    threshold: float = setting(
        0.25,
        "The label flips to 1 at the first step whose running sum reaches "
        "threshold * timesteps; in (0, 1].",
    )
    samples: int = setting(50_000, "Sequences a bulk schedule draws once as its training set.")


@dataclass
class EchoConfig(GeneratedConfig):
    kind: str = setting("echo", "Which option this is.")
    name: str = setting("echo", "The dataset's name in MLflow.")
    length: int = setting(50, "Length of every sequence.")
    n_features: int = setting(100, "Values one-hot encoded per timestep (at least 2).")
    out_index: int = setting(2, "The timestep whose value is the label (0 to length - 1).")
    samples: int = setting(10_000, "Sequences a bulk schedule draws once as its training set.")


class Loss(Enum):
    mse = "mse"
    mae = "mae"
    huber = "huber"


@dataclass
class FixedDataConfig:
    """Recorded sequences with fixed splits: a file or an archive set."""

    kind: str = setting(help="Which option this is.")
    task: TaskKind = setting(
        TaskKind.auto,
        "What the labels are: classification (classes of any kind) or regression (real "
        "values, standardised on the training split); auto: regression when the labels are "
        "floating-point values that are not all whole numbers.",
    )
    name: str | None = setting(
        None, "The dataset's name in MLflow (files: the file's name when null)."
    )
    validation: float = setting(
        0.0,
        "Fraction of the training data held out as the validation set, stratified by "
        "class; in [0, 1).",
    )
    test: float | None = setting(
        None,
        "Fraction held out as the test set when the source has no test split of its own "
        "(null: the source's test split, or 0.2 when it has none).",
    )
    split_seed: int | None = setting(
        None, "Seeds the validation and test splits; null: the run's seed."
    )
    normalize: Normalize = setting(
        Normalize.none,
        "zscore: per feature, mean 0 and standard deviation 1 on the training split's real "
        "timesteps; instance: every sequence on its own (its shape, not its level).",
    )
    padding: Padding = setting(
        Padding.post,
        "Where shorter sequences are padded: pre (before, "
        "the last step at the end) or post (after).",
    )
    pad_value: float = setting(
        0.0, "Fills padded timesteps; a timestep whose every feature equals it is masked."
    )


@dataclass
class NpzConfig(FixedDataConfig):
    kind: str = setting("npz", "Which option this is.")
    path: str = setting(
        help="The .npz file: x, y (optional lengths; x_test, y_test for a fixed test split)."
    )


@dataclass
class CsvConfig(FixedDataConfig):
    kind: str = setting("csv", "Which option this is.")
    path: str = setting(help="The CSV file, one row per timestep of a sequence.")
    test_path: str | None = setting(None, "A CSV file of test sequences; null: split from path.")
    id_column: str = setting("id", "The column that names each row's sequence.")
    time_column: str | None = setting(
        None, "Orders the rows of a sequence; null: the order of the file."
    )
    label_column: str = setting("label", "The column of labels.")
    feature_columns: list[str] | None = setting(
        None, "The feature columns; null: every column but the id, time and label columns."
    )


@dataclass
class UeaConfig(FixedDataConfig):
    kind: str = setting("uea", "Which option this is.")
    name: str | None = setting(
        "JapaneseVowels", "A UEA/UCR archive set that aeon ships (BasicMotions, GunPoint, ...)."
    )


@dataclass
class CustomDataConfig(FixedDataConfig):
    """Arrays from a user's callable: ``_target_(**kwargs)`` returns what an .npz holds."""

    kind: str = setting("custom", "Which option this is.")
    _target_: str = setting(
        help="module:function (or a file path:function) returning the arrays an .npz holds."
    )
    kwargs: dict[str, Any] = setting(help="Keyword arguments of the callable.", factory=dict)


class Scale(Enum):
    none = "none"
    zscore = "zscore"
    minmax = "minmax"


class ScaleOn(Enum):
    train = "train"
    all = "all"


@dataclass
class SeriesConfig:
    """Forecasting: windows over one series or many, split in time order (lstmlab.data.series)."""

    kind: str = setting("series", "Which option this is.")
    name: str | None = setting(
        None,
        "An aeon forecasting set (Airline, Lynx, ShampooSales, Longley, Uschange, PBS_dataset, "
        "solar) when dataset.path is null; with a path, the dataset's name in MLflow.",
    )
    path: str | None = setting(None, "A CSV file of the series, one row per timestep.")
    time_column: str | None = setting(
        None,
        "Orders the rows, checked for gaps, duplicates and order; gives the natural season "
        "(monthly 12, quarterly 4, daily 7, hourly 24); null: the file's order.",
    )
    target: Any = setting(
        None, "The column forecast, or a list of them; null: an aeon set's own target."
    )
    id_column: str | None = setting(
        None, "Names each row's series, for a file of many series; null: one series."
    )
    features: list[str] = setting(
        help="Exogenous columns known ahead (a calendar, promotions): their values at the "
        "forecast steps are given to the model too.",
        factory=list,
    )
    past_features: list[str] = setting(
        help="Exogenous columns known only up to the forecast origin.", factory=list
    )
    lookback: int = setting(12, "Timesteps a window reads, ending at the forecast origin.")
    horizon: int = setting(1, "Timesteps a window forecasts, after its origin.")
    stride: int = setting(
        1, "Steps between the origins of training windows (validation and test: every step)."
    )
    test: float = setting(
        0.2,
        "The last part of every series, the test part: a fraction in (0, 1), or a whole "
        "number of timesteps (1 or more).",
    )
    validation: float = setting(
        0.0,
        "The part before the test part held out for validation: a fraction of the series, "
        "or a whole number of timesteps; 0: none.",
    )
    scale: Scale = setting(
        Scale.zscore,
        "none, zscore or minmax (to [0, 1]), per column, fitted on the training part after "
        "the other transforms.",
    )
    scale_on: ScaleOn = setting(
        ScaleOn.train,
        "train: the scaler sees the training part only; all: the whole series, test part "
        "included, as the airline tutorial does (the run is tagged lstmlab.leak).",
    )
    log: bool = setting(False, "Model the logarithm of the target (every value must be > 0).")
    difference: bool = setting(False, "Model the change from one step to the next.")
    seasonal_difference: bool = setting(
        False, "Model the change from the same step one season before (dataset.season)."
    )
    season: int | None = setting(
        None,
        "Steps per season, for the seasonal naive baseline, MASE and seasonal_difference; "
        "null: the time column's natural one; 1: no seasonality.",
    )


@dataclass
class CustomGeneratorConfig(GeneratedConfig):
    """Fresh sequences from a user's generator: ``_target_(rng, n, **kwargs) -> (x, y)``."""

    kind: str = setting("custom_generator", "Which option this is.")
    name: str = setting("custom", "The dataset's name in MLflow.")
    _target_: str = setting(
        help="module:function (or a file path:function): (rng, n, **kwargs) -> (x, y)."
    )
    kwargs: dict[str, Any] = setting(help="Keyword arguments of the generator.", factory=dict)
    classes: int | None = setting(
        None, "Number of classes; null: one more than the largest label of the first draws."
    )


class Cell(Enum):
    lstm = "lstm"
    gru = "gru"
    simple_rnn = "simple_rnn"


class AttentionMode(Enum):
    # ALSTM-FCN's AttentionLSTM: the recurrence attends over the sequence before every step.
    cell = "cell"
    # lstmlab's earlier ALSTM-FCN: an ordinary recurrent branch, its outputs pooled by attention.
    pooling = "pooling"


class Head(Enum):
    # The final output (for a bidirectional model the forward and the backward final state).
    last = "last"
    # The mean over the real (unmasked) timesteps.
    mean = "mean"


@dataclass
class ModelConfig:
    kind: str = setting(
        "rnn", "Which builder: lstmlab's recurrent stack (rnn) or a user's (model=custom)."
    )
    cell: Cell = setting(Cell.lstm, "The recurrent cell.")
    layers: int = setting(
        1, "Stacked recurrent layers, each with the same direction and merge mode."
    )
    units: Any = setting(20, "Units of every layer, or a list with one entry per layer.")
    direction: Direction = setting(Direction.forward, "Reading direction of every layer.")
    merge_mode: MergeMode | None = setting(
        None,
        "Only for direction=bidirectional: how the two directions' outputs combine; "
        "null: Keras' default, concat.",
    )
    dropout: float = setting(
        0.0, "Dropout of each layer's inputs, during training only; in [0, 1)."
    )
    recurrent_dropout: float = setting(
        0.0, "Dropout of each layer's recurrent state, during training only; in [0, 1)."
    )
    head: Head | None = setting(
        None,
        "Per-sequence labels: what the classifier reads, last or mean (null: last). "
        "Per-timestep labels: null.",
    )
    learning_rate: float = setting(0.001, "Adam's learning rate; > 0.")
    loss: Loss | None = setting(
        None,
        "Regression only: mse, mae or huber (null: mse); classification always fits cross-entropy.",
    )
    align_backward: bool = setting(
        True,
        "Keras' go_backwards returns outputs in reversed time order; true re-reverses "
        "them so output t belongs to input t (false: the tutorials' misaligned model).",
    )
    recipe: RecipeConfig = setting(
        help="How this model is trained on an archive set (experiment=archive applies it).",
        factory=lambda: RecipeConfig(),
    )


@dataclass
class FcnConfig:
    """The fully convolutional network (Wang et al. 2017): Conv1D blocks (batch norm, ReLU),
    global average pooling over the real timesteps, softmax."""

    kind: str = setting(
        "fcn", "Which builder: fcn (models/fcn.py); each family's schema names its own."
    )
    filters: list[int] = setting(
        help="Filters of each convolution block (the paper's 128, 256, 128).",
        factory=lambda: [128, 256, 128],
    )
    kernels: list[int] = setting(
        help="Kernel size of each block, one per entry of filters (the paper's 8, 5, 3).",
        factory=lambda: [8, 5, 3],
    )
    learning_rate: float = setting(0.001, "Adam's learning rate; > 0.")
    loss: Loss | None = setting(
        None,
        "Regression only: mse, mae or huber (null: mse); classification always fits cross-entropy.",
    )
    recipe: RecipeConfig = setting(
        help="How this model is trained on an archive set (experiment=archive applies it).",
        factory=lambda: RecipeConfig(),
    )


@dataclass
class LstmFcnConfig(FcnConfig):
    """LSTM-FCN (Karim et al. 2017): a recurrent branch beside the FCN, concatenated into the
    classifier; model.attention=true gives ALSTM-FCN."""

    kind: str = setting("lstm_fcn", "Which builder: lstm_fcn (models/lstm_fcn.py).")
    cell: Cell = setting(Cell.lstm, "The recurrent branch's cell.")
    units: int = setting(128, "Units of the recurrent branch (the papers chose 8, 64 or 128).")
    direction: Direction = setting(Direction.forward, "Reading direction of the branch.")
    merge_mode: MergeMode | None = setting(
        None, "Only for direction=bidirectional: how the two directions combine (null: concat)."
    )
    dropout: float = setting(
        0.8, "Dropout after the recurrent branch, in training only (the paper's 0.8); [0, 1)."
    )
    dimension_shuffle: bool | None = setting(
        None,
        "The branch reads the transposed series, each variable one timestep, as in the paper. "
        "null: true when all sequences have one length, false where lengths vary (a shuffled "
        "padded series would make padding change predictions); true there is refused.",
    )
    attention: bool = setting(False, "ALSTM-FCN: the recurrent branch attends (attention_mode).")
    attention_mode: AttentionMode = setting(
        AttentionMode.cell,
        "With attention=true: cell (the paper's AttentionLSTM, attending over the sequence "
        "before every step; needs cell=lstm) or pooling (the branch's outputs pooled by "
        "attention weights over the real steps).",
    )


@dataclass
class MlstmFcnConfig(LstmFcnConfig):
    """MLSTM-FCN (Karim et al. 2019): LSTM-FCN with squeeze-and-excite blocks after the first
    two convolution blocks."""

    kind: str = setting("mlstm_fcn", "Which builder: mlstm_fcn (models/mlstm_fcn.py).")
    reduction: int = setting(16, "Squeeze-and-excite: filters / reduction units in the squeeze.")


@dataclass
class ResNetConfig(FcnConfig):
    """The residual network (Wang et al. 2017) as hfawaz/dl-4-tsc builds it: residual blocks
    of three convolutions (batch norm, ReLU between them), each block's input added back
    through a 1-wide convolution where the filters change, global average pooling, softmax."""

    kind: str = setting("resnet", "Which builder: resnet (models/resnet.py).")
    filters: list[int] = setting(
        help="Filters of each residual block (the paper's 64, 128, 128).",
        factory=lambda: [64, 128, 128],
    )
    kernels: list[int] = setting(
        help="Kernel sizes of the convolutions inside every block (the paper's 8, 5, 3).",
        factory=lambda: [8, 5, 3],
    )


@dataclass
class InceptionTimeConfig(FcnConfig):
    """InceptionTime's network (Ismail Fawaz et al. 2020) as hfawaz/InceptionTime builds it:
    inception modules (a 1-wide bottleneck, parallel convolutions of three widths and a
    max-pooled branch, concatenated, batch norm, ReLU), a residual connection every third
    module, global average pooling, softmax. The published figures ensemble 5 of them."""

    kind: str = setting(
        "inception_time", "Which builder: inception_time (models/inception_time.py)."
    )
    filters: list[int] = setting(
        help="Filters of each branch, one entry per inception module (the paper's 6 x 32).",
        factory=lambda: [32] * 6,
    )
    kernels: list[int] = setting(
        help="Widths of the parallel convolutions of every module (the paper's 40, 20, 10).",
        factory=lambda: [40, 20, 10],
    )
    bottleneck: int = setting(
        32, "Filters of the 1-wide bottleneck before the convolutions (0: none)."
    )
    residual: bool = setting(True, "A shortcut around every three modules, as the paper's.")


@dataclass
class RocketConfig:
    """ROCKET (Dempster, Petitjean & Webb 2020): random convolution kernels, each pooled to the
    proportion of positive values and the maximum, a linear head fitted in closed form by ridge
    regression (sklearn's RidgeCV / RidgeClassifierCV, the penalty chosen by leave-one-out
    cross-validation, as aeon's RocketRegressor and RocketClassifier do). Not recurrent: the
    non-deep baseline the archive results are judged against. No optimizer steps: the
    schedule's epochs, batches and learning-rate keys do not apply."""

    kind: str = setting("rocket", "Which builder: rocket (models/rocket.py).")
    kernels: int = setting(10000, "Random kernels (ROCKET's 10,000); each gives 2 features; >= 1.")
    alphas: list[float] = setting(
        help="Ridge penalties tried by leave-one-out cross-validation (ROCKET's 10 values "
        "from 1e-3 to 1e3); each > 0.",
        factory=lambda: [float(f"{10 ** (-3 + 6 * i / 9):.6g}") for i in range(10)],
    )
    recipe: RecipeConfig = setting(
        help="experiment=archive copies it into schedule.*; ridge regression takes no steps, "
        "so only the one epoch it is fitted in.",
        factory=lambda: RecipeConfig(epochs=1, validation=0.0),
    )


@dataclass
class CustomModelConfig:
    """A user's builder: ``_target_(task, **kwargs) -> keras.Model``; lstmlab compiles it with
    Adam(learning_rate) and the task's loss."""

    kind: str = setting("custom", "Which builder this is.")
    _target_: str = setting(
        help="module:function (or a file path:function): (task, **kwargs) -> keras.Model."
    )
    kwargs: dict[str, Any] = setting(help="Keyword arguments of the builder.", factory=dict)
    learning_rate: float = setting(0.001, "Adam's learning rate; > 0.")
    loss: Loss | None = setting(None, "Regression only: mse, mae or huber (null: mse).")


class Monitor(Enum):
    val_loss = "val_loss"
    val_acc = "val_acc"
    # Regression: the validation RMSE, in the target's units.
    val_rmse = "val_rmse"


@dataclass
class EarlyStoppingConfig:
    patience: int = setting(
        0, "Validations without improvement before training stops; 0: never stop early."
    )
    monitor: Monitor = setting(
        Monitor.val_loss,
        "The validation metric watched: val_loss, val_acc (classification) or val_rmse "
        "(regression).",
    )
    min_delta: float = setting(0.0, "An improvement smaller than this does not count.")


class LrSchedule(Enum):
    none = "none"
    reduce_on_plateau = "reduce_on_plateau"
    cosine = "cosine"


class Resume(Enum):
    auto = "auto"
    never = "never"
    must = "must"


class PlateauMonitor(Enum):
    train_loss = "train_loss"
    val_loss = "val_loss"
    val_acc = "val_acc"


@dataclass
class PlateauConfig:
    monitor: PlateauMonitor = setting(
        PlateauMonitor.train_loss,
        "What is watched: train_loss (each epoch's mean, bulk schedules: as FCN and LSTM-FCN "
        "train, Keras' monitor='loss'), or val_loss / val_acc at every validation (eval.every).",
    )
    factor: float = setting(0.5, "The learning rate is multiplied by this on a plateau; in (0, 1).")
    patience: int = setting(
        50, "Checks (epochs, or validations) without improvement before the rate is cut; >= 1."
    )
    min_lr: float = setting(1e-4, "The rate is never cut below this; >= 0.")
    min_delta: float = setting(
        1e-4, "An improvement smaller than this does not count (Keras' default); >= 0."
    )


@dataclass
class CosineConfig:
    min_lr: float = setting(0.0, "The rate at the last step; in [0, model.learning_rate).")
    warmup_steps: int = setting(
        0, "Steps of linear warm-up from 0 to model.learning_rate before the decay; >= 0."
    )


@dataclass
class RecipeConfig:
    """A model's training recipe on the archive sets, as its paper trained it; experiment=archive
    copies it into schedule.* (and eval), so that one command runs each family its own way."""

    epochs: int = setting(100, "Epochs over the training split.")
    batch_size: int = setting(16, "Sequences per optimizer step.")
    lr_schedule: LrSchedule = setting(LrSchedule.none, "The learning-rate schedule.")
    plateau: PlateauConfig = setting(
        help="lr_schedule=reduce_on_plateau's settings.", factory=PlateauConfig
    )
    patience: int = setting(
        0,
        "Early stopping on the validation split, in epochs without improvement (0: off). "
        "The papers had no validation split; lstmlab's archive runs hold 20% out.",
    )
    validation: float = setting(
        0.2,
        "The share of the training split held out to validate on (dataset.validation), in "
        "[0, 1): 20% for the deep families, 0 for ROCKET (its ridge penalty is chosen by "
        "leave-one-out cross-validation on the whole split).",
    )


@dataclass
class ScheduleConfig:
    name: str = setting(help="Which schedule: online or bulk.")
    epochs: int = setting(1, "Online: optimizer steps; bulk: passes over the training set.")
    batch_size: int = setting(1, "Sequences per optimizer step.")
    chunk: int = setting(
        1000, "Steps run per compiled call; metrics are logged and NaNs checked between calls."
    )
    fast: bool = setting(
        True,
        "false: one plain Keras train_on_batch call per step (slow; for debugging and comparison).",
    )
    jit: bool = setting(
        True,
        "Compile the fast loop with XLA: ~3x faster than a plain graph, ~220 MiB more peak memory.",
    )
    early_stopping: EarlyStoppingConfig = setting(
        help="Stops when the validation metric stops improving, and restores the best weights.",
        factory=EarlyStoppingConfig,
    )
    max_steps: int | None = setting(
        None,
        "Stop after this many optimizer steps whatever the epochs say (debug=fast); null: no cap.",
    )
    max_chunk_mb: float = setting(
        256.0,
        "Memory budget of one chunk's arrays (inputs and targets): a chunk has fewer "
        "than `chunk` steps when its batches would take more.",
    )
    checkpoint_every: int = setting(
        0,
        "Save the training state every this many steps (at the next chunk end), and when a "
        "signal stops the run; the same command continues a KILLED (or dead) run. 0: off.",
    )
    resume: Resume = setting(
        Resume.auto,
        "With checkpoints: auto continues a KILLED (or dead) run of the same config from its "
        "checkpoint, or starts a new run; never always starts a new run (old checkpoints are "
        "left alone); must fails in one line when there is nothing to continue.",
    )
    lr_schedule: LrSchedule = setting(
        LrSchedule.none,
        "The learning rate over training: none (model.learning_rate throughout), "
        "reduce_on_plateau (schedule.plateau.*) or cosine (schedule.cosine.*); logged as lr.",
    )
    plateau: PlateauConfig = setting(
        help="lr_schedule=reduce_on_plateau: cut the rate when the monitored value stalls.",
        factory=PlateauConfig,
    )
    cosine: CosineConfig = setting(
        help="lr_schedule=cosine: from model.learning_rate down to min_lr over the planned steps.",
        factory=CosineConfig,
    )


@dataclass
class OnlineConfig(ScheduleConfig):
    name: str = setting(
        "online",
        "One optimizer step per batch: fresh sequences, or sequences "
        "drawn from the training split.",
    )
    epochs: int = setting(1000, "Optimizer steps (batch 1: the tutorials' 'epochs').")


@dataclass
class BulkConfig(ScheduleConfig):
    name: str = setting(
        "bulk", "Epochs over the training split (generators: dataset.samples sequences drawn once)."
    )
    batch_size: int = setting(10, "Sequences per optimizer step.")
    fit_batch: bool = setting(
        False,
        "A batch_size larger than the training split shrinks to it (as Keras' fit does; "
        "the size used is the param data.batch_size) instead of failing.",
    )


@dataclass
class EvalConfig:
    samples: int = setting(
        1000, "Generators: fresh sequences to test on (fixed data has its test split)."
    )
    show: int = setting(5, "How many test sequences to print as y vs yhat.")
    every: int = setting(0, "Validate every this many training steps; 0: never.")
    every_epoch: bool = setting(
        False,
        "Bulk schedules: validate at the end of every epoch, whatever the training split's size "
        "(instead of eval.every; for presets run on many sets, like experiment=archive).",
    )

    objective: str | None = setting(
        None,
        "The held-out metric a run returns to Hydra, which a sweeper (Optuna) optimises: "
        "test_rmse, eval_acc, test_mase, ...; null: the held-out loss (test_loss, or eval_loss "
        "for a generator).",
    )
    backtest: int = setting(
        0,
        "Forecasting: the test windows cut into this many folds in time order (rolling "
        "origins, the model not refitted), each fold's errors logged, and their spread; 0: off.",
    )

    @property
    def validating(self) -> bool:
        return bool(self.every or self.every_epoch)


@dataclass
class TrackingConfig:
    uri: str = setting(
        "sqlite:///${lstmlab_root:}/mlflow.db",
        "The MLflow store: a sqlite file, an http(s) server, or a database URI.",
    )
    experiment: str = setting("lstmlab", "The MLflow experiment of the runs.")
    log_model: bool = setting(True, "Log the trained model as an MLflow Model.")
    system_metrics: bool = setting(
        False, "CPU, memory (and GPU) every second, in the run's System metrics tab."
    )
    outage_wait: float = setting(
        120.0,
        "Seconds to wait after training for a store that stopped answering; then the "
        "writes left wait in a spool for lstmlab-sync and the command exits 3.",
    )
    log_every: int | None = setting(
        None,
        "Per-step metrics as means over blocks of this many steps; null: every step up "
        "to 10 000 steps, then blocks that keep ~10 000 points a run.",
    )
    parent_run_id: str | None = setting(
        None, "Set by the sweep callback for every job of a multirun: the run that groups them."
    )
    rerun: bool = setting(
        False, "A sweep skips jobs whose config already has a FINISHED run; true runs them again."
    )
    report: bool = setting(
        False, "At the end of a sweep, print its report and log it on the parent run."
    )


@dataclass
class Config:
    # Any: the group's schema comes with the chosen option and stays typed and closed.
    dataset: Any = setting(help="The dataset group: cumsum, echo, npz, csv, uea, custom, ...")
    model: Any = setting(help="The model group: lstm, bilstm, gru, ..., custom.")
    schedule: Any = setting(help="The schedule group: online or bulk.")
    eval: EvalConfig = setting(help="Held-out evaluation.", factory=EvalConfig)
    tracking: TrackingConfig = setting(help="Where and how runs are logged.")
    seed: int = setting(
        0,
        "Seeds the weights, dropout, data order and splits (Python, numpy, TensorFlow, with "
        "TensorFlow's op determinism on): same config and seed, same run; 0 or more.",
    )
    threads: int = setting(
        0,
        "TensorFlow's intra- and inter-op threads; 0: all cores, or "
        "shared out between the joblib launcher's workers.",
    )
    xla_cache: str | None = setting(
        "${lstmlab_root:}/.cache/xla",
        "Where XLA keeps compiled programs for later processes; null: no cache.",
    )


# Every schema Hydra knows, by group and name: the options' YAML files extend them
# (`defaults: [model_schema]`), and the config reference is generated from them.
SCHEMAS: dict[tuple[str | None, str], type] = {
    (None, "config_schema"): Config,
    ("dataset", "cumsum_schema"): CumsumConfig,
    ("dataset", "echo_schema"): EchoConfig,
    ("dataset", "npz_schema"): NpzConfig,
    ("dataset", "csv_schema"): CsvConfig,
    ("dataset", "uea_schema"): UeaConfig,
    ("dataset", "custom_schema"): CustomDataConfig,
    ("dataset", "custom_generator_schema"): CustomGeneratorConfig,
    ("dataset", "series_schema"): SeriesConfig,
    ("model", "model_schema"): ModelConfig,
    ("model", "custom_schema"): CustomModelConfig,
    ("model", "fcn_schema"): FcnConfig,
    ("model", "lstm_fcn_schema"): LstmFcnConfig,
    ("model", "mlstm_fcn_schema"): MlstmFcnConfig,
    ("model", "resnet_schema"): ResNetConfig,
    ("model", "inception_time_schema"): InceptionTimeConfig,
    ("model", "rocket_schema"): RocketConfig,
    ("schedule", "online_schema"): OnlineConfig,
    ("schedule", "bulk_schema"): BulkConfig,
    ("tracking", "tracking_schema"): TrackingConfig,
}


def _launcher_schemas() -> dict[str, type]:
    """hydra/launcher=joblib's, basic's and (with the ray extra) ray's schemas: Hydra's
    launchers' keys, lstmlab's launchers, and stack_seeds (hydra_plugins/lstmlab/launcher.py)."""
    from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf

    @dataclass
    class JoblibLauncherConfig(JobLibLauncherConf):
        _target_: str = "hydra_plugins.lstmlab.launcher.JoblibLauncher"
        # The most seeds of a configuration trained as one stack (training/stacks.py); 1:
        # none (the default: docs/speed.md measures why); null: every seed a worker gets.
        stack_seeds: int | None = 1

    @dataclass
    class BasicLauncherConfig:
        _target_: str = "hydra_plugins.lstmlab.launcher.BasicLauncher"
        stack_seeds: int | None = 1

    schemas: dict[str, type] = {"joblib": JoblibLauncherConfig, "basic": BasicLauncherConfig}
    try:
        from hydra_plugins.hydra_ray_launcher._config import RayLauncherConf
    except ImportError:  # hydra-ray-launcher is the ray extra's
        return schemas

    @dataclass
    class RayLauncherConfig(RayLauncherConf):
        _target_: str = "hydra_plugins.lstmlab.launcher.RayLauncher"
        stack_seeds: int | None = 1

    schemas["ray"] = RayLauncherConfig
    return schemas


def register_configs() -> None:
    if not OmegaConf.has_resolver("lstmlab_root"):
        OmegaConf.register_new_resolver("lstmlab_root", lambda: str(PROJECT_ROOT))
    cs = ConfigStore.instance()
    for (group, name), node in SCHEMAS.items():
        cs.store(group=group, name=name, node=node)
    # Under the names of Hydra's own, which conf/hydra/launcher/*.yaml are checked against.
    # After Hydra's plugin scan, which (re)loads the plugins' modules and with them registers
    # their schemas; the scan runs once a process.
    from hydra.core.plugins import Plugins

    Plugins.instance()
    for name, node in _launcher_schemas().items():
        cs.store(group="hydra/launcher", name=name, node=node, provider="lstmlab")


def _positive(key: str, value: int) -> None:
    if value < 1:
        raise ConfigError(key, value, "must be a positive integer")


def _validate_generated(data: GeneratedConfig, ev: EvalConfig) -> None:
    if isinstance(data, CumsumConfig):
        _positive("dataset.timesteps", data.timesteps)
        if not 0.0 < data.threshold <= 1.0:
            raise ConfigError("dataset.threshold", data.threshold, "must be in (0, 1]")
    elif isinstance(data, EchoConfig):
        _positive("dataset.length", data.length)
        if data.n_features < 2:
            raise ConfigError("dataset.n_features", data.n_features, "must be at least 2")
        if not 0 <= data.out_index < data.length:
            raise ConfigError(
                "dataset.out_index",
                data.out_index,
                f"must be an index into the sequence, 0 to {data.length - 1} (dataset.length - 1)",
            )
    if isinstance(data, EchoConfig) and data.task is TaskKind.regression:
        raise ConfigError("dataset.task", "regression",
                          "the echo problem's label is a class (the value at out_index); "
                          "cumsum and custom_generator can be regressions")  # fmt: skip
    _positive("dataset.samples", data.samples)
    if ev.validating:
        _positive("dataset.validation_samples", data.validation_samples)


def _validate_fixed(data: FixedDataConfig, ev: EvalConfig, steps: bool = True) -> None:
    """steps: the model trains by optimizer steps (ROCKET's closed-form fit validates once,
    after the fit, whatever eval.every says)."""
    if not 0.0 <= data.validation < 1.0:
        raise ConfigError("dataset.validation", data.validation, "must be a fraction in [0, 1)")
    if data.test is not None and not 0.0 < data.test < 1.0:
        raise ConfigError(
            "dataset.test", data.test, "must be a fraction in (0, 1), or null (the source's own)"
        )
    if data.validation + (data.test or 0.0) >= 1.0:
        raise ConfigError(
            "dataset.validation",
            data.validation,
            f"leaves no training data beside dataset.test={data.test}: the two must sum to < 1",
        )
    if data.split_seed is not None and data.split_seed < 0:
        raise ConfigError("dataset.split_seed", data.split_seed, "must be 0 or more, or null")
    if ev.validating and steps and not data.validation:
        key = "eval.every" if ev.every else "eval.every_epoch"
        raise ConfigError(
            key,
            ev.every if ev.every else "true",
            "needs a validation set: set dataset.validation (a fraction of the training data)",
        )
    for key in ("path", "test_path"):
        value = getattr(data, key, None)
        if value is not None and not str(value).strip():
            raise ConfigError(f"dataset.{key}", value, "must be a file path")


def _part(key: str, value: float, zero: bool) -> None:
    """A part of a series: a fraction in (0, 1) or a whole number of steps (zero: 0 allowed)."""
    if zero and value == 0:
        return
    if not (0 < value < 1 or (value >= 1 and float(value).is_integer())):
        allowed = "0, " if zero else ""
        raise ConfigError(key, value, f"must be {allowed}a fraction in (0, 1) or a whole "
                          "number of timesteps")  # fmt: skip


def _validate_series(data: SeriesConfig, ev: EvalConfig) -> None:
    for key in ("lookback", "horizon", "stride"):
        _positive(f"dataset.{key}", getattr(data, key))
    _part("dataset.test", data.test, zero=False)
    _part("dataset.validation", data.validation, zero=True)
    if data.test < 1 and data.validation < 1 and data.test + data.validation >= 1:
        raise ConfigError("dataset.validation", data.validation,
                          f"leaves no training part beside dataset.test={data.test}: the two "
                          "must sum to < 1")  # fmt: skip
    if data.season is not None and data.season < 1:
        raise ConfigError("dataset.season", data.season, "must be 1 or more steps, or null")
    if data.path is None and data.name is None:
        raise ConfigError("dataset.path", "null",
                          "give a CSV file, or dataset.name: an aeon forecasting set (Airline, "
                          "ShampooSales, Lynx, ...)")  # fmt: skip
    if data.path is not None and not str(data.path).strip():
        raise ConfigError("dataset.path", data.path, "must be a file path")
    target = data.target
    names = [target] if isinstance(target, str) else list(target or [])
    if target is not None and (not names or not all(isinstance(n, str) and n for n in names)):
        raise ConfigError("dataset.target", target, "must be a column name or a list of them")
    if data.path is not None and target is None:
        raise ConfigError("dataset.target", "null",
                          f"name the column of {data.path} to forecast (or a list)")  # fmt: skip
    both = set(data.features) & set(data.past_features)
    if both:
        raise ConfigError("dataset.past_features", sorted(both)[0],
                          "is in dataset.features too: a column is known ahead or not")  # fmt: skip
    if ev.validating and not data.validation:
        key = "eval.every" if ev.every else "eval.every_epoch"
        raise ConfigError(key, ev.every if ev.every else "true",
                          "needs a validation part: set dataset.validation")  # fmt: skip


def units_of(model: ModelConfig) -> list[int]:
    """Units per layer: model.units repeated, or the list as given."""
    if isinstance(model.units, list | tuple):
        return list(model.units)
    return [model.units] * model.layers


def _validate_rocket(model: RocketConfig) -> None:
    _positive("model.kernels", model.kernels)
    alphas = list(model.alphas)
    if not alphas or not all(isinstance(a, int | float) and a > 0 for a in alphas):
        raise ConfigError("model.alphas", alphas, "must be a list of penalties, each > 0")


def _validate_model(model: ModelConfig | CustomModelConfig | FcnConfig | RocketConfig) -> None:
    if isinstance(model, RocketConfig):
        _validate_rocket(model)
        return
    if not model.learning_rate > 0:
        raise ConfigError("model.learning_rate", model.learning_rate, "must be > 0")
    if isinstance(model, CustomModelConfig):
        return
    if isinstance(model, FcnConfig):
        _validate_fcn(model)
        return
    _positive("model.layers", model.layers)
    units = model.units
    shown = f"[{', '.join(map(str, units))}]" if isinstance(units, list | tuple) else units
    if isinstance(units, list | tuple) and len(units) != model.layers:
        raise ConfigError(
            "model.units", shown,
            f"has {len(units)} entries but model.layers={model.layers}: one per layer",
        )  # fmt: skip
    per_layer = units if isinstance(units, list | tuple) else [units]
    if not all(isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in per_layer):
        raise ConfigError(
            "model.units", shown, "must be a positive integer, or a list of them, one per layer"
        )
    for key in ("dropout", "recurrent_dropout"):
        value = getattr(model, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"model.{key}", value, "must be in [0, 1)")
    if model.merge_mode is not None and model.direction is not Direction.bidirectional:
        raise ConfigError(
            "model.merge_mode",
            model.merge_mode,
            f"only applies to model.direction=bidirectional (here {model.direction.value}); "
            "set model.merge_mode=null",
        )
    if not model.align_backward and model.layers > 1:
        raise ConfigError(
            "model.align_backward", False,
            "the tutorial's misaligned backward model has one layer; set model.layers=1",
        )  # fmt: skip


def _validate_fcn(model: FcnConfig) -> None:
    for key in ("filters", "kernels"):
        values = list(getattr(model, key))
        if not values or not all(isinstance(v, int) and v >= 1 for v in values):
            raise ConfigError(f"model.{key}", values, "must be a list of positive integers")
    if isinstance(model, InceptionTimeConfig) and model.bottleneck < 0:
        raise ConfigError("model.bottleneck", model.bottleneck, "must be >= 0 (0: none)")
    if len(model.kernels) != len(model.filters) and not isinstance(
        model, ResNetConfig | InceptionTimeConfig
    ):
        raise ConfigError(
            "model.kernels", list(model.kernels),
            f"needs one entry per block of model.filters ({len(model.filters)})",
        )  # fmt: skip
    if isinstance(model, MlstmFcnConfig):
        if len(model.filters) < 2:
            raise ConfigError(
                "model.filters", list(model.filters),
                "MLSTM-FCN excites the first two blocks: give at least two",
            )  # fmt: skip
        _positive("model.reduction", model.reduction)
    if not isinstance(model, LstmFcnConfig):
        return
    _positive("model.units", model.units)
    if not 0.0 <= model.dropout < 1.0:
        raise ConfigError("model.dropout", model.dropout, "must be in [0, 1)")
    if model.merge_mode is not None and model.direction is not Direction.bidirectional:
        raise ConfigError(
            "model.merge_mode", model.merge_mode.value,
            f"only applies to model.direction=bidirectional (here {model.direction.value}); "
            "set model.merge_mode=null",
        )  # fmt: skip
    if (
        model.attention
        and model.attention_mode is AttentionMode.cell
        and model.cell is not Cell.lstm
    ):
        raise ConfigError(
            "model.cell", model.cell.value,
            "the AttentionLSTM (model.attention_mode=cell) is an LSTM: set model.cell=lstm, or "
            "model.attention_mode=pooling to pool another cell's outputs",
        )  # fmt: skip


def _validate_uri(uri: str) -> None:
    """Refuse credentials in tracking.uri, without repeating them: the URI is logged as a param
    and written to Hydra's config.yaml and overrides.yaml."""
    parts = urlsplit(uri)
    web = parts.scheme in ("http", "https")
    if "@" not in parts.netloc or not (parts.password or (web and parts.username)):
        return
    shown = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))
    where = ("MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
             if web else "the database's own means (PGPASSWORD, ~/.pgpass, ...)")  # fmt: skip
    raise ConfigError(
        "tracking.uri", shown,
        f"credentials in the URI would be logged and written to disk; drop them from the URI "
        f"and set {where}",
    )  # fmt: skip


def validate(cfg: Config) -> None:
    """Raise ConfigError for the first value that is in range for its type but cannot work."""
    data = cfg.dataset
    if isinstance(data, GeneratedConfig):
        _validate_generated(data, cfg.eval)
    elif isinstance(data, SeriesConfig):
        _validate_series(data, cfg.eval)
    else:
        _validate_fixed(data, cfg.eval, steps=not isinstance(cfg.model, RocketConfig))
    if cfg.eval.backtest < 0 or cfg.eval.backtest == 1:
        raise ConfigError("eval.backtest", cfg.eval.backtest, "must be 0 (off) or 2 or more folds")
    if cfg.eval.backtest and not isinstance(data, SeriesConfig):
        raise ConfigError("eval.backtest", cfg.eval.backtest,
                          "folds of a forecast's test windows: needs dataset=series")  # fmt: skip

    _validate_model(cfg.model)
    for key, node in (("dataset", data), ("model", cfg.model)):
        target = getattr(node, "_target_", None)
        if target is not None:
            resolve(f"{key}._target_", target)

    sched = cfg.schedule
    _positive("schedule.epochs", sched.epochs)
    _positive("schedule.chunk", sched.chunk)
    _positive("schedule.batch_size", sched.batch_size)
    if sched.max_steps is not None:
        _positive("schedule.max_steps", sched.max_steps)
    if not sched.max_chunk_mb > 0:
        raise ConfigError("schedule.max_chunk_mb", f"{sched.max_chunk_mb:g}",
                          "must be more than 0 (megabytes)")  # fmt: skip
    if sched.checkpoint_every < 0:
        raise ConfigError("schedule.checkpoint_every", sched.checkpoint_every,
                          "must be 0 (off) or more steps")  # fmt: skip
    if sched.resume is Resume.must and not sched.checkpoint_every:
        raise ConfigError("schedule.resume", "must",
                          "continues from checkpoints: set schedule.checkpoint_every")  # fmt: skip
    stop = sched.early_stopping
    if isinstance(cfg.model, RocketConfig):  # fitted in closed form: no steps, no rate
        steps_only = {"early_stopping.patience": (stop.patience, 0),
                      "lr_schedule": (sched.lr_schedule.value, "none")}  # fmt: skip
        for key, (value, off) in steps_only.items():
            if value != off:
                raise ConfigError(
                    f"schedule.{key}", value,
                    "model=rocket is fitted in closed form (ridge regression), without steps "
                    f"to stop or schedule: set schedule.{key}={off}",
                )  # fmt: skip
    if stop.patience < 0:
        raise ConfigError("schedule.early_stopping.patience", stop.patience,
                          "must be 0 (off) or more")  # fmt: skip
    if stop.min_delta < 0:
        raise ConfigError("schedule.early_stopping.min_delta", stop.min_delta, "must be 0 or more")
    if stop.patience and not cfg.eval.validating:
        raise ConfigError(
            "schedule.early_stopping.patience",
            stop.patience,
            "needs validation during training: set eval.every (steps between validations)",
        )
    if cfg.eval.every < 0:
        raise ConfigError("eval.every", cfg.eval.every, "must be 0 (never) or more steps")
    if cfg.eval.every_epoch and not isinstance(sched, BulkConfig):
        raise ConfigError("eval.every_epoch", "true",
                          "needs epochs: use schedule=bulk, or eval.every (steps)")  # fmt: skip
    if not isinstance(cfg.model, RocketConfig):
        _validate_lr_schedule(sched, cfg.model.learning_rate, cfg.eval.validating)
    generated = isinstance(data, GeneratedConfig)
    if isinstance(sched, BulkConfig) and generated and sched.batch_size > data.samples:
        raise ConfigError(
            "schedule.batch_size",
            sched.batch_size,
            f"must be at most dataset.samples ({data.samples})",
        )
    if generated:
        _positive("eval.samples", cfg.eval.samples)
    prefix = "eval" if generated else "test"
    objective = cfg.eval.objective
    if objective is not None and not str(objective).startswith(f"{prefix}_"):
        raise ConfigError("eval.objective", objective,
                          f"must be one of this run's held-out metrics, named {prefix}_... "
                          f"({prefix}_loss, {prefix}_acc or {prefix}_rmse, ...)")  # fmt: skip
    if cfg.eval.show < 0:
        raise ConfigError("eval.show", cfg.eval.show, "must be 0 or more")
    if cfg.seed < 0:
        raise ConfigError("seed", cfg.seed, "must be 0 or more")
    if cfg.tracking.log_every is not None:
        _positive("tracking.log_every", cfg.tracking.log_every)
    _validate_uri(cfg.tracking.uri)
    if cfg.tracking.outage_wait < 0:
        raise ConfigError("tracking.outage_wait", f"{cfg.tracking.outage_wait:g}",
                          "must be 0 or more seconds")  # fmt: skip
    if cfg.threads < 0:
        raise ConfigError("threads", cfg.threads, "must be 0 (automatic) or more")


def _validate_lr_schedule(sched: ScheduleConfig, rate: float, validating: bool) -> None:
    if sched.lr_schedule is LrSchedule.reduce_on_plateau:
        plateau = sched.plateau
        if not 0 < plateau.factor < 1:
            raise ConfigError("schedule.plateau.factor", plateau.factor, "must be in (0, 1)")
        if plateau.patience < 1:
            raise ConfigError("schedule.plateau.patience", plateau.patience, "must be 1 or more")
        if not 0 <= plateau.min_lr <= rate:
            raise ConfigError("schedule.plateau.min_lr", plateau.min_lr,
                              f"must be in [0, model.learning_rate={rate:g}]")  # fmt: skip
        if plateau.min_delta < 0:
            raise ConfigError("schedule.plateau.min_delta", plateau.min_delta, "must be 0 or more")
        watched = plateau.monitor
        if watched is PlateauMonitor.train_loss and not isinstance(sched, BulkConfig):
            raise ConfigError(
                "schedule.plateau.monitor", watched.value,
                "train_loss is watched per epoch, and an online schedule has none: use "
                "schedule=bulk, or monitor val_loss / val_acc with eval.every",
            )  # fmt: skip
        if watched is not PlateauMonitor.train_loss and not validating:
            raise ConfigError("schedule.plateau.monitor", watched.value,
                              "needs validation during training: set eval.every")  # fmt: skip
    elif sched.lr_schedule is LrSchedule.cosine:
        cosine = sched.cosine
        if not 0 <= cosine.min_lr < rate:
            raise ConfigError("schedule.cosine.min_lr", cosine.min_lr,
                              f"must be in [0, model.learning_rate={rate:g})")  # fmt: skip
        if cosine.warmup_steps < 0:
            raise ConfigError("schedule.cosine.warmup_steps", cosine.warmup_steps,
                              "must be 0 or more")  # fmt: skip


def to_settings(cfg: DictConfig) -> Config:
    """The composed config as validated dataclass instances (enums as Enum members)."""
    settings = OmegaConf.to_object(cfg)
    assert isinstance(settings, Config)
    validate(settings)
    return settings


def merge_mode_of(model: ModelConfig) -> MergeMode | None:
    """The merge mode a bidirectional model uses: Keras' default (concat) when unset."""
    if model.direction is not Direction.bidirectional:
        return None
    return model.merge_mode or MergeMode.concat


# Where a run is logged, how much it prints, how many threads compute it: not what it is.
_NOT_IDENTITY = ("tracking", "threads", "xla_cache")


def fingerprint(resolved: Mapping[str, Any]) -> str:
    """A short hash of what a run computes: the resolved config less where it is logged. Two
    runs with the same fingerprint train the same model on the same sequences."""
    identity = {k: v for k, v in resolved.items() if k not in _NOT_IDENTITY}
    identity["eval"] = {k: v for k, v in dict(identity.get("eval", {})).items() if k != "show"}
    # How often the state is saved, and whether a run may be continued, change nothing
    # computed (a run continued with another interval, or with resume=must, is the same run).
    identity["schedule"] = {k: v for k, v in dict(identity.get("schedule", {})).items()
                            if k not in ("checkpoint_every", "resume")}  # fmt: skip
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_OPTIONS = {
    "dataset": {
        "cumsum": CumsumConfig,
        "echo": EchoConfig,
        "npz": NpzConfig,
        "csv": CsvConfig,
        "uea": UeaConfig,
        "custom": CustomDataConfig,
        "custom_generator": CustomGeneratorConfig,
    },
    "model": {"rnn": ModelConfig, "custom": CustomModelConfig},
    "schedule": {"online": OnlineConfig, "bulk": BulkConfig},
}
# The field that names a group's option in a logged config (configs logged before the
# dataset's kind existed named it in dataset.name).
_KIND = {"dataset": "kind", "model": "kind", "schedule": "name"}


def from_resolved(tree: Mapping[str, Any]) -> DictConfig:
    """A logged, resolved config (config.yaml of a run) as a typed config again: the schema of
    each group is picked by its ``name``, so the same checks apply as on the command line."""
    cfg = OmegaConf.structured(Config)
    for group, options in _OPTIONS.items():
        key = _KIND[group] if _KIND[group] in tree[group] else "name"
        # Models logged before model.kind existed were all lstmlab's own.
        name = tree[group].get(key, "rnn")
        if name not in options:
            raise ConfigError(f"{group}.{key}", name, f"one of {', '.join(options)}")
        cfg[group] = OmegaConf.structured(options[name])
    cfg.tracking = OmegaConf.structured(TrackingConfig)
    return OmegaConf.merge(cfg, tree)
