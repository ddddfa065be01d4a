"""Sweeps: how a multirun is composed and launched, the callback that groups its jobs under a
parent run, the pre-flight checks, reports, claims over seeds, and reruns."""
