"""The seeds' experiments written the tutorials' way, ported to Keras 3: the baseline lstmlab is
measured against. One ``model.fit`` per fresh sequence for the online cases, one plain
``model.fit`` for the bulk case, Python-loop data generation. Prints one JSON line of results.

    python benchmarks/plain_keras.py online --bidirectional --epochs 1000
    python benchmarks/plain_keras.py bulk --samples 50000
    python benchmarks/plain_keras.py merge-modes --epochs 250
    python benchmarks/plain_keras.py uea --epochs 60 --batch-size 16 --units 32 --seeds 3

The uea case is what a Keras user writes for JapaneseVowels: aeon's loader, z-score on the
training data, zero post-padding, Masking + Bidirectional LSTM + softmax, model.fit.
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

# --regression: the running sum itself is the target (lstmlab's dataset.task=regression).
REGRESSION = False


def get_sequence(n_timesteps):
    X = array([random() for _ in range(n_timesteps)])
    limit = n_timesteps / 4.0
    y = cumsum(X) if REGRESSION else array([0 if x < limit else 1 for x in cumsum(X)])
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
    if REGRESSION:
        model.add(TimeDistributed(Dense(1)))
        model.compile(loss="mse", optimizer="adam", metrics=["root_mean_squared_error"])
        return model
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


def lstm_fcn(overrides, epochs, seed):
    """Test accuracy and fit seconds of LSTM-FCN on JapaneseVowels: the data (z-scored, padded
    and masked) and network lstmlab builds from overrides (bench.py's LSTM-FCN case), fitted
    with model.fit in batches of the recipe's 128, as the LSTM-FCN authors' code fits it."""
    import numpy as np
    from hydra import compose, initialize_config_dir

    from lstmlab.config import CONF_DIR, register_configs, to_settings
    from lstmlab.data import load
    from lstmlab.models import build_model

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", [*overrides, f"schedule.epochs={epochs}", f"seed={seed}"])
    settings = to_settings(cfg)
    data = load(settings)
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(settings.model, data.task)
    batch = min(settings.schedule.batch_size, len(data.train))
    t0 = time.perf_counter()
    model.fit(data.train.x, data.task.targets(data.train.y), epochs=epochs, batch_size=batch,
              verbose=0)  # fmt: skip
    seconds = time.perf_counter() - t0
    p = model.predict(data.test.x, verbose=0)
    acc = float(np.mean(np.argmax(p, axis=-1) == data.test.y))
    return acc, seconds, epochs * -(-len(data.train) // batch)


def japanese_vowels(units, epochs, batch_size, seed):
    """Test accuracy and fit seconds of a BiLSTM on JapaneseVowels, as the Keras docs do it."""
    import keras
    import numpy as np
    from aeon.datasets import load_classification

    keras.utils.set_random_seed(seed)
    X, y = load_classification("JapaneseVowels", split="train")
    Xt, yt = load_classification("JapaneseVowels", split="test")
    frames = np.concatenate([s.T for s in X])
    mean, std = frames.mean(axis=0), frames.std(axis=0)

    def pad(series):
        scaled = [((s.T - mean) / std).astype("float32") for s in series]
        return keras.utils.pad_sequences(scaled, maxlen=29, dtype="float32", padding="post")

    classes = sorted(set(y))
    model = Sequential([
        Input(shape=(None, 12)),
        keras.layers.Masking(0.0),
        Bidirectional(LSTM(units)),
        Dense(len(classes), activation="softmax"),
    ])  # fmt: skip
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(0.003), metrics=["accuracy"])  # fmt: skip
    x_train, y_train = pad(X), np.array([classes.index(v) for v in y])
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - t0
    _, acc = model.evaluate(pad(Xt), np.array([classes.index(v) for v in yt]), verbose=0)
    return acc, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=["online", "bulk", "merge-modes", "uea", "lstm-fcn"])
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--regression", action="store_true")
    parser.add_argument("--override", action="append", default=[], help="lstm-fcn: lstmlab's")
    args = parser.parse_args()
    global REGRESSION
    REGRESSION = args.regression
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
    elif args.case == "lstm-fcn":
        acc, seconds, steps = lstm_fcn(args.override, args.epochs, 0)
        result = {"train_seconds": seconds, "steps": steps, "eval_acc": acc}
    elif args.case == "uea":
        runs = [japanese_vowels(args.units, args.epochs, args.batch_size, seed)
                for seed in range(args.seeds)]  # fmt: skip
        steps = args.seeds * args.epochs * -(-270 // args.batch_size)
        result = {"train_seconds": sum(s for _, s in runs), "steps": steps,
                  "eval_acc": sum(a for a, _ in runs) / len(runs)}  # fmt: skip
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
