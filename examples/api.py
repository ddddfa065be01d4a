# %% [markdown]
# # lstmlab from Python
#
# A notebook in Jupyter's percent format (open it with Jupytext, or run it as a script):
# one run, a sweep, its runs as a table, and a logged model, through `lstmlab`'s Python API.
# Everything is logged to MLflow as the CLI logs it: `mlflow ui --backend-store-uri
# sqlite:///api-example.db` shows the same runs.

# %%
import os

import numpy as np

import lstmlab

# A store of its own, beside the notebook (LSTMLAB_EXAMPLE_STORE: somewhere else).
STORE = os.environ.get("LSTMLAB_EXAMPLE_STORE", "sqlite:///api-example.db")
SMALL = ["model.units=8", "schedule.epochs=300", "schedule.chunk=100", "eval.samples=200",
         "eval.show=0", f"tracking.uri={STORE}", "tracking.experiment=api-example"]  # fmt: skip

# %% [markdown]
# ## One run
# `lstmlab.run` takes the CLI's overrides and returns the run's outcome: its MLflow run id and
# its held-out metrics. A value that cannot work raises the CLI's one-line error, before
# anything is trained or logged.

# %%
outcome = lstmlab.run(["model=lstm", *SMALL])
print(outcome.run_id, {k: round(v, 3) for k, v in outcome.metrics.items()})

try:
    lstmlab.run([*SMALL, "model.units=0"])
except lstmlab.ConfigError as error:
    print("refused:", error)

# %% [markdown]
# ## A sweep, and its runs as a table
# `lstmlab.sweep` is `lstmlab -m`: every job checked first, then run under one parent run.
# `.runs` is a pandas DataFrame (as `lstmlab.runs(sweep=...)` returns): params.*, metrics.*,
# tags.*, one row a run. Its forward seed=0 job is the run above (same config, FINISHED): the
# sweep counts that run instead of training it again.

# %%
sweep = lstmlab.sweep(["model=lstm", "model.direction=forward,bidirectional", "seed=0,1",
                       *SMALL])  # fmt: skip
table = sweep.runs
by_direction = table.groupby("params.model.direction")["metrics.eval_acc"].agg(["mean", "count"])
print(by_direction)

# %% [markdown]
# ## The model a run logged
# `lstmlab.load_model` gives the Keras model back, lstmlab's layers registered.

# %%
model = lstmlab.load_model(outcome.run_id, uri=STORE)
x = np.random.default_rng(0).random((3, 10, 1), dtype=np.float32)
print(model.predict(x, verbose=0).round(3))
