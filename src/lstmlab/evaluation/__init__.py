"""Evaluation: held-out metrics per task and the figures a run logs."""

# Where a run with a test split keeps its predicted probabilities (p), labels (y) and mask:
# a sweep's report averages its seeds' (sweeps.report.ensemble_accuracy).
PREDICTIONS = "predictions/test.npz"


def evaluate(model, task, seqs, scale: tuple[float, float] | None = None):
    """The model's held-out metrics on a split, by the kind of task: classification.evaluate,
    or regression.evaluate (in the target's units: scale, the training targets' mean and
    standard deviation). Imported here on first use: this package's constants are read by
    modules that never load a model."""
    if task.regression:
        from lstmlab.evaluation import regression

        return regression.evaluate(model, task, seqs, scale or (0.0, 1.0))
    from lstmlab.evaluation import classification

    return classification.evaluate(model, task, seqs)
