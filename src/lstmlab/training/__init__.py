"""Training: the compiled loops (online and bulk), early stopping, checkpoints, signals that
stop a run cleanly, and the progress display."""
