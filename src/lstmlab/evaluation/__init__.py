"""Evaluation: held-out metrics per task and the figures a run logs."""
