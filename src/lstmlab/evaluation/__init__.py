"""Evaluation: held-out metrics per task and the figures a run logs."""

# Where a run with a test split keeps its predicted probabilities (p), labels (y) and mask:
# a sweep's report averages its seeds' (sweeps.report.ensemble_accuracy).
PREDICTIONS = "predictions/test.npz"
