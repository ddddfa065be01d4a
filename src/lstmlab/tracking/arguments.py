"""The command-line arguments every command that reads a sweep from the store shares."""

from __future__ import annotations

import argparse

from lstmlab.config import DEFAULT_TRACKING_URI


def sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """Which store, experiment and sweep a command reads (lstmlab-report, lstmlab-register)."""
    parser.add_argument("--uri", default=DEFAULT_TRACKING_URI, help="MLflow tracking URI")
    parser.add_argument("--experiment", default="lstmlab")
    parser.add_argument("--sweep", help="parent run id of the sweep (default: the latest)")
    parser.add_argument("--preset", help="with no --sweep: the latest sweep of this preset")
