"""Traced programs named alike in every process, so that TensorFlow's persistent XLA cache
finds a program whatever the process traced before it.

TensorFlow names a traced function, its while-loop bodies and conditions and their gradients
with a process-wide counter (``ops.uid()``: ``__inference_run_5565``, ``while_body_4232``).
The names end up in the HLO, so in the cache key, and the counter's value at a trace depends
on everything the process traced before: a sweep worker's second architecture, or a program
traced after jobs of other shapes, got new names in every process, and the cache missed
(a merge mode's compile took 4.4-4.7 s in claim_merge_modes instead of 2.1-2.2 s for a hit).

Under :func:`stable`, the counter is a sequence that depends only on the program's key and
on how many times the process traced that key before: unique within the process (TensorFlow
requires it), the same across processes. Keys that collide, or a key traced very often, get
TensorFlow's own names: slower to find, never wrong.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

# TensorFlow's own counter starts at 0 and counts up by one; it stays far below _BASE.
_BASE = 1 << 50
_SLOTS = 1 << 20
_PER_TRACE = 1 << 16  # a BiLSTM training loop's trace draws ~1300
_TRACES_PER_KEY = 1 << 8

_owners: dict[int, str] = {}  # slot -> the key that has it
_traces: dict[str, int] = {}  # key -> traces of it so far in this process


@contextmanager
def stable(key: str) -> Iterator[None]:
    """Whatever TensorFlow traces inside is named from `key`, not from the process's
    history. Only for code that traces on this thread alone (the counter is global)."""
    from tensorflow.python.framework import ops

    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    slot = int.from_bytes(digest, "big") % _SLOTS
    done = _traces.get(key, 0)
    if _owners.setdefault(slot, key) != key or done >= _TRACES_PER_KEY:
        yield
        return
    # Made lazily at its first use, drawing a number: not inside the first trace only.
    ops.get_default_graph()
    start = _BASE + (slot * _TRACES_PER_KEY + done) * _PER_TRACE
    sequence = itertools.count(start)
    real = ops.uid
    drawn = False

    def uid() -> int:
        nonlocal drawn
        value = next(sequence)
        if value >= start + _PER_TRACE:
            return real()  # past this trace's range: TensorFlow's counter, still unique
        drawn = True
        return value

    ops.uid = uid
    try:
        yield
    finally:
        ops.uid = real
        if drawn:
            _traces[key] = done + 1
