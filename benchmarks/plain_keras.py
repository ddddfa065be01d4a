"""The seeds' experiments written the tutorials' way, ported to Keras 3: the baseline lstmlab is
measured against. One ``model.fit`` per fresh sequence for the online cases, one plain
``model.fit`` for the bulk case, Python-loop data generation. Prints one JSON line of results.

    python benchmarks/plain_keras.py online --bidirectional --epochs 1000
    python benchmarks/plain_keras.py bulk --samples 50000
    python benchmarks/plain_keras.py merge-modes --epochs 250
"""

from __future__ import annotations

import argparse
import json
import time
from random import random

from keras import Input
from keras.layers import LSTM, Bidirectional, Dense, TimeDistributed
from keras.models import Sequential
from numpy import array, cumsum


def get_sequence(n_timesteps):
    X = array([random() for _ in range(n_timesteps)])
    limit = n_timesteps / 4.0
    y = array([0 if x < limit else 1 for x in cumsum(X)])
    return X.reshape(1, n_timesteps, 1), y.reshape(1, n_timesteps, 1)


def get_sequences(n_sequences, n_timesteps):
    pairs = [get_sequence(n_timesteps) for _ in range(n_sequences)]
    X = array([x for x, _ in pairs]).reshape(n_sequences, n_timesteps, 1)
    y = array([y for _, y in pairs]).reshape(n_sequences, n_timesteps, 1)
    return X, y


def get_model(n_timesteps, units, bidirectional, mode="concat"):
    model = Sequential()
    model.add(Input(shape=(n_timesteps, 1)))
    lstm = LSTM(units, return_sequences=True)
    model.add(Bidirectional(lstm, merge_mode=mode) if bidirectional else lstm)
    model.add(TimeDistributed(Dense(1, activation="sigmoid")))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def train_online(model, n_timesteps, epochs):
    loss = []
    for _ in range(epochs):
        X, y = get_sequence(n_timesteps)
        hist = model.fit(X, y, epochs=1, batch_size=1, verbose=0)
        loss.append(hist.history["loss"][0])
    return loss


def evaluate(model, n_timesteps, samples):
    X, y = get_sequences(samples, n_timesteps)
    _, acc = model.evaluate(X, y, verbose=0)
    return acc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=["online", "bulk", "merge-modes"])
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--eval-samples", type=int, default=1000)
    args = parser.parse_args()
    n_timesteps = 10
    result = {}
    if args.case == "online":
        model = get_model(n_timesteps, args.units, args.bidirectional)
        t0 = time.perf_counter()
        train_online(model, n_timesteps, args.epochs)
        result = {"train_seconds": time.perf_counter() - t0, "steps": args.epochs}
        result["eval_acc"] = evaluate(model, n_timesteps, args.eval_samples)
    elif args.case == "bulk":
        model = get_model(n_timesteps, args.units, bidirectional=True)
        X, y = get_sequences(args.samples, n_timesteps)
        t0 = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=args.batch_size, verbose=0)
        steps = -(-args.samples // args.batch_size)
        result = {"train_seconds": time.perf_counter() - t0, "steps": steps}
        result["eval_acc"] = evaluate(model, n_timesteps, args.eval_samples)
    else:
        t0 = time.perf_counter()
        accs = []
        for mode in ("sum", "mul", "ave", "concat"):
            model = get_model(n_timesteps, args.units, True, mode)
            train_online(model, n_timesteps, args.epochs)
            accs.append(evaluate(model, n_timesteps, args.eval_samples))
        result = {"train_seconds": time.perf_counter() - t0, "steps": 4 * args.epochs}
        result["eval_acc"] = sum(accs) / len(accs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
