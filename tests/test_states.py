"""lstmlab-inspect: the return values of a Bidirectional LSTM and their identities."""

from __future__ import annotations

import numpy as np
import pytest

from lstmlab.models.states import bidirectional_outputs, identities, main


@pytest.mark.parametrize(("T", "D", "H"), [(4, 2, 3), (7, 1, 5)])
def test_shapes_and_identities(T, D, H):
    x = np.random.default_rng(1).standard_normal((1, T, D)).astype(np.float32)
    results = bidirectional_outputs(x, H)
    shapes = {(r.return_sequences, r.return_state): (r.output.shape, [s.shape for s in r.states])
              for r in results}  # fmt: skip
    assert shapes == {
        (True, False): ((1, T, 2 * H), []),
        (True, True): ((1, T, 2 * H), [(1, H)] * 4),
        (False, False): ((1, 2 * H), []),
        (False, True): ((1, 2 * H), [(1, H)] * 4),
    }
    checks = identities(results, H)
    assert len(checks) == 6 and all(ok for _, ok in checks), checks


def test_the_checks_catch_a_wrong_reading():
    # Where the backward half would end if Keras did not re-reverse it: the last step.
    x = np.random.default_rng(2).standard_normal((1, 5, 2)).astype(np.float32)
    results = bidirectional_outputs(x, 3)
    seq = next(r for r in results if r.return_sequences and r.return_state)
    seq.output = seq.output[:, ::-1, :]
    failed = [name for name, ok in identities(results, 3) if not ok]
    assert "backward final h == output[:, 0, H:]" in failed
    assert "forward final h == output[:, -1, :H]" in failed


def test_command_prints_every_combination_and_exits_0(capsys):
    with pytest.raises(SystemExit) as end:
        main(["--T", "3", "--D", "2", "--H", "2"])
    assert end.value.code == 0
    out = capsys.readouterr().out
    for seq in (True, False):
        for state in (True, False):
            assert f"return_sequences={seq}, return_state={state}" in out
    assert out.count("ok  ") == 6 and "FAIL" not in out
    assert "output (1, 3, 4)" in out and "h_bwd (1, 2)" in out
