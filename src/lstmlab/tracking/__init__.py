"""Tracking: everything lstmlab writes to MLflow (runs, the background writer, the spool of
writes a store missed, liveness of runs, the store template, registry and serving)."""
