"""Traced programs named from their key (program_names.stable): unique within a process,
independent of what the process traced before. That a later process finds such a program in
the XLA cache is tested end to end in test_programs.py."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import tensorflow as tf
from tensorflow.python.framework import ops

from lstmlab.training import program_names
from lstmlab.training.program_names import stable


def _traced(key: str | None, scale: float) -> tuple[int, tf.Tensor]:
    """A loop traced (under stable(key) unless None): its name's number and its result."""

    @tf.function(autograph=False)
    def run(x):
        return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * scale), (0, x))[1]

    with stable(key) if key else nullcontext():
        concrete = run.get_concrete_function(tf.TensorSpec([2], tf.float32))
    number = int(concrete.name.decode().rsplit("_", 1)[1])
    return number, concrete(tf.constant([1.0, 2.0]))


def test_a_key_names_the_same_whatever_was_traced_before(monkeypatch):
    monkeypatch.setattr(program_names, "_traces", {})
    monkeypatch.setattr(program_names, "_owners", {})
    first, _ = _traced("names-a", 2.0)
    # Another process's history: other traces and draws move TensorFlow's own counter.
    for _ in range(3):
        _traced(None, 5.0)
    unstable, _ = _traced(None, 5.0)
    assert unstable < program_names._BASE
    # As a fresh process would see it (nothing traced under stable yet) but in this process,
    # whose context holds the first trace already: the same key draws the same numbers again.
    monkeypatch.setattr(program_names, "_traces", {})
    again, out = _traced("names-a", 2.0)
    assert again == first >= program_names._BASE
    assert out.numpy().tolist() == [8.0, 16.0]


def test_a_key_traced_again_and_another_key_get_names_of_their_own(monkeypatch):
    monkeypatch.setattr(program_names, "_traces", {})
    monkeypatch.setattr(program_names, "_owners", {})
    numbers = [_traced("names-b", 2.0)[0], _traced("names-b", 3.0)[0], _traced("names-c", 2.0)[0]]
    assert len(set(numbers)) == 3 and min(numbers) >= program_names._BASE
    # Each result is its own function's, not a namesake's.
    assert _traced("names-b", 10.0)[1].numpy().tolist() == [1000.0, 2000.0]


def test_colliding_keys_fall_back_to_tensorflows_names(monkeypatch):
    monkeypatch.setattr(program_names, "_traces", {})
    monkeypatch.setattr(program_names, "_owners", {})
    monkeypatch.setattr(program_names, "_SLOTS", 1)  # every key hashes to the one slot
    mine, _ = _traced("names-d", 2.0)
    theirs, out = _traced("names-e", 4.0)
    assert mine >= program_names._BASE > theirs
    assert out.numpy().tolist() == [64.0, 128.0]


def test_the_counter_is_tensorflows_again_after_a_failed_trace():
    real = ops.uid
    with pytest.raises(ValueError), stable("names-f"):
        ops.uid()
        raise ValueError("the trace failed")
    assert ops.uid is real
