"""lstmlab-inspect: what a Bidirectional LSTM returns (seed 004), with its identities checked.

    lstmlab-inspect                 # T=4 timesteps, D=2 features, H=3 units
    lstmlab-inspect --T 10 --D 1 --H 5

For every return_sequences x return_state combination it prints the output shapes and values,
all four layers sharing one set of weights, and checks:

- forward final h  == output[:, -1, :H]   (the forward LSTM ends at the last step)
- backward final h == output[:, 0, H:]    (the backward LSTM ends at the first step: Keras
  re-reverses the backward outputs so output t belongs to input t)
- with return_sequences=False: output == concat(forward final h, backward final h)
- the same output whether or not states are returned, and with or without return_sequences
  (the last-step / first-step slices above).

Exits 1 when an identity does not hold.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

ATOL = 1e-6


@dataclass
class Returned:
    return_sequences: bool
    return_state: bool
    output: np.ndarray
    # (h_fwd, c_fwd, h_bwd, c_bwd) when return_state.
    states: tuple[np.ndarray, ...] = ()


def bidirectional_outputs(x: np.ndarray, units: int, seed: int = 0) -> list[Returned]:
    """The four return_sequences x return_state variants of one Bidirectional LSTM."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = {
        (seq, state): keras.layers.Bidirectional(
            keras.layers.LSTM(units, return_sequences=seq, return_state=state)
        )
        for seq in (True, False)
        for state in (False, True)
    }
    weights = None
    results = []
    for (seq, state), layer in layers.items():
        layer.build(x.shape)
        if weights is None:
            weights = layer.get_weights()
        layer.set_weights(weights)
        out = layer(x)
        if state:
            output, *states = (np.asarray(o) for o in out)
            results.append(Returned(seq, state, output, tuple(states)))
        else:
            results.append(Returned(seq, state, np.asarray(out)))
    return results


def identities(results: list[Returned], units: int) -> list[tuple[str, bool]]:
    """Each identity above with whether it holds."""
    by = {(r.return_sequences, r.return_state): r for r in results}
    seq, last = by[True, True], by[False, True]
    h_fwd, _, h_bwd, _ = seq.states
    checks = [
        ("forward final h == output[:, -1, :H]", seq.output[:, -1, :units], h_fwd),
        ("backward final h == output[:, 0, H:]", seq.output[:, 0, units:], h_bwd),
        ("return_sequences=False: output == concat(h_fwd, h_bwd)", last.output,
         np.concatenate([last.states[0], last.states[2]], axis=-1)),
        ("same final states with and without return_sequences",
         np.concatenate(seq.states, -1), np.concatenate(last.states, -1)),
        ("output does not depend on return_state (sequences)", by[True, False].output, seq.output),
        ("output does not depend on return_state (last)", by[False, False].output, last.output),
    ]  # fmt: skip
    return [(name, bool(np.allclose(a, b, atol=ATOL))) for name, a, b in checks]


def _show(name: str, value: np.ndarray) -> str:
    text = np.array2string(value, precision=4, suppress_small=True, max_line_width=90)
    return f"  {name} {tuple(value.shape)}:\n    " + text.replace("\n", "\n    ")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lstmlab-inspect", description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=4, help="timesteps")
    parser.add_argument("--D", type=int, default=2, help="features per timestep")
    parser.add_argument("--H", type=int, default=3, help="LSTM units per direction")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for key in ("T", "D", "H"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be a positive integer, got {getattr(args, key)}")

    x = np.random.default_rng(args.seed).standard_normal((1, args.T, args.D)).astype(np.float32)
    results = bidirectional_outputs(x, args.H, args.seed)
    print(f"Bidirectional(LSTM({args.H})) on input of shape {x.shape} (batch, T, D)\n")
    for r in results:
        print(f"return_sequences={r.return_sequences}, return_state={r.return_state}")
        print(_show("output", r.output))
        for name, value in zip(("h_fwd", "c_fwd", "h_bwd", "c_bwd"), r.states, strict=False):
            print(_show(name, value))
        print()
    checks = identities(results, args.H)
    for name, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'}  {name}")
    sys.exit(0 if all(ok for _, ok in checks) else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
