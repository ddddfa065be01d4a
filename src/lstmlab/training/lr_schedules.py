"""The learning rate of every optimizer step (schedule.lr_schedule).

The rates of a chunk's steps are computed here, on the host, and handed to the compiled loop
as one more input, which assigns step i's rate before its update: the schedule changes the
rate inside the XLA program, step by step, without being part of it, so jobs that differ in
their schedule (or only in model.learning_rate) still share one compiled program.

- none: the model's learning rate throughout.
- cosine: linear warm-up over ``warmup_steps``, then half a cosine from the learning rate down
  to ``min_lr`` at the last planned step (Loshchilov & Hutter's SGDR without restarts).
- reduce_on_plateau: Keras' ``ReduceLROnPlateau`` as FCN (Wang et al. 2017) and LSTM-FCN
  (Karim et al. 2017) train: the rate is multiplied by ``factor`` (not below ``min_lr``) after
  ``patience`` checks without an improvement of ``min_delta``; a check is an epoch's mean
  training loss (bulk schedules) or a validation.

Its state (the current rate, the plateau's best value and wait, the epoch's running loss) goes
into checkpoints, so a continued run follows the same rates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lstmlab.config import LrSchedule, PlateauMonitor, ScheduleConfig


class LearningRates:
    def __init__(self, cfg: ScheduleConfig, base: float, total: int):
        """base: the optimizer's learning rate at the start; total: the planned steps."""
        self.kind = cfg.lr_schedule
        self.cfg = cfg
        self.base = float(base)
        self.total = max(1, total)
        self.rate = self.base  # reduce_on_plateau's current rate
        self.best: float | None = None
        self.waited = 0
        # The current epoch's training losses so far (train_loss monitor).
        self.epoch_sum, self.epoch_steps = 0.0, 0

    @property
    def logged(self) -> bool:
        """Whether the rates are worth logging per step (they change)."""
        return self.kind is not LrSchedule.none

    def rates(self, first: int, n: int) -> np.ndarray:
        """The rates of steps first .. first + n - 1 (float32, as the optimizer holds them)."""
        if self.kind is LrSchedule.cosine:
            return np.array([self._cosine(t) for t in range(first, first + n)], np.float32)
        rate = self.rate if self.kind is LrSchedule.reduce_on_plateau else self.base
        return np.full(n, rate, np.float32)

    def _cosine(self, step: int) -> float:
        warmup, low = self.cfg.cosine.warmup_steps, self.cfg.cosine.min_lr
        if step < warmup:
            return self.base * (step + 1) / warmup
        span = max(1, self.total - warmup - 1)
        done = min(1.0, (step - warmup) / span)
        return low + 0.5 * (self.base - low) * (1.0 + math.cos(math.pi * done))

    def trained(self, losses: np.ndarray) -> None:
        """A chunk's training losses, for the epoch's mean."""
        if self._watches(PlateauMonitor.train_loss):
            self.epoch_sum += float(np.sum(losses, dtype=np.float64))
            self.epoch_steps += len(losses)

    def epoch_ended(self) -> None:
        if self._watches(PlateauMonitor.train_loss) and self.epoch_steps:
            self._check(self.epoch_sum / self.epoch_steps, lower_is_better=True)
            self.epoch_sum, self.epoch_steps = 0.0, 0

    def validated(self, metrics: dict[str, float]) -> None:
        for monitor in (PlateauMonitor.val_loss, PlateauMonitor.val_acc):
            if self._watches(monitor):
                self._check(metrics[monitor.value], monitor is PlateauMonitor.val_loss)

    def _watches(self, monitor: PlateauMonitor) -> bool:
        return self.kind is LrSchedule.reduce_on_plateau and self.cfg.plateau.monitor is monitor

    def _check(self, value: float, lower_is_better: bool) -> None:
        plateau = self.cfg.plateau
        if self.best is None or (
            (self.best - value if lower_is_better else value - self.best) > plateau.min_delta
        ):
            self.best, self.waited = value, 0
            return
        self.waited += 1
        if self.waited >= plateau.patience:
            self.rate = max(self.rate * plateau.factor, plateau.min_lr)
            self.waited = 0

    def state(self) -> dict[str, Any]:
        return {"rate": self.rate, "best": self.best, "waited": self.waited,
                "epoch_sum": self.epoch_sum, "epoch_steps": self.epoch_steps}  # fmt: skip

    def load(self, state: dict[str, Any]) -> None:
        if state:
            self.rate, self.best, self.waited = state["rate"], state["best"], state["waited"]
            self.epoch_sum, self.epoch_steps = state["epoch_sum"], state["epoch_steps"]
