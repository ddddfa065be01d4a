"""Per-class results of a test split: the confusion matrix and macro-F1, on a hand-computed
case."""

from __future__ import annotations

import numpy as np
import pytest

from lstmlab.evaluation.classification import Evaluation


def _evaluation(y, yhat, mask=None, per_timestep=False):
    y, yhat = np.asarray(y), np.asarray(yhat)
    mask = np.ones(y.shape, bool) if mask is None else np.asarray(mask)
    return Evaluation(0.0, 0.0, 0.0, y, yhat, mask, per_timestep)


def test_confusion_matrix_and_macro_f1_by_hand():
    # Three classes, the third never predicted and absent: its F1 counts as 0.
    # class a: 2 of 3 right (one taken for b); b: 2 right, plus the a taken for it.
    found = _evaluation([0, 0, 0, 1, 1], [0, 0, 1, 1, 1]).per_class(["a", "b", "c"])
    np.testing.assert_array_equal(found.matrix, [[2, 1, 0], [0, 2, 0], [0, 0, 0]])
    # F1(a) = 2*1*(2/3)/(1+2/3) = 0.8; F1(b) = 2*(2/3)*1/(2/3+1) = 0.8; F1(c) = 0.
    assert found.f1_macro == pytest.approx((0.8 + 0.8 + 0.0) / 3)
    assert found.as_json()["classes"] == ["a", "b", "c"]


def test_per_timestep_labels_count_real_timesteps_only():
    y = [[0, 1, 1], [1, 0, 0]]
    yhat = [[0, 1, 0], [1, 1, 1]]
    mask = [[True, True, False], [True, True, False]]  # the last steps are padding
    found = _evaluation(y, yhat, mask, per_timestep=True).per_class(["0", "1"])
    np.testing.assert_array_equal(found.matrix, [[1, 1], [0, 2]])
    assert found.matrix.sum() == 4
