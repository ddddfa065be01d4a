"""Evaluation: held-out metrics per task and the figures a run logs."""

# Where a run with a test split keeps its predicted probabilities (p), labels (y) and mask:
# a sweep's report averages its seeds' (sweeps.report.ensemble_accuracy).
PREDICTIONS = "predictions/test.npz"


def evaluate(model, dataset, split: str):
    """The model's held-out metrics on a split of dataset ("validation" or "test"), by the kind
    of task: classification, regression (in the target's units, the training split's
    standardisation undone) or forecasting (every transform inverted, with baselines on the
    test part). Imported here on first use: this package's constants are read by modules that
    never load a model."""
    task, seqs = dataset.task, getattr(dataset, split)
    if dataset.forecast is not None:
        from lstmlab.evaluation import forecasting

        return forecasting.evaluate(model, dataset, split)
    if task.regression:
        from lstmlab.evaluation import regression

        return regression.evaluate(model, task, seqs, dataset.target_scale or (0.0, 1.0))
    from lstmlab.evaluation import classification

    return classification.evaluate(model, task, seqs)
