"""lstmlab: config-driven experiments with recurrent sequence models, tracked in MLflow.

The Python API (lstmlab.api) is imported on first use, so that `import lstmlab` (which every
console script does) stays free of TensorFlow, MLflow and Hydra:

    lstmlab.run(overrides)            one run in this process -> .run_id, .metrics
    lstmlab.sweep(overrides)          lstmlab -m -> .run_id (the parent), .runs (a DataFrame)
    lstmlab.runs(experiment=, sweep=, uri=)   a DataFrame of params, metrics and tags
    lstmlab.load_model(run_id, uri=)  the Keras model a run logged
"""

__version__ = "0.1.0"
__all__ = ["run", "sweep", "runs", "load_model", "ConfigError", "LstmlabError"]


def __getattr__(name: str):
    if name in __all__:
        from lstmlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'lstmlab' has no attribute {name!r}")
