"""lstmlab: config-driven (bidirectional) LSTM sequence-classification experiments."""

__version__ = "0.1.0"
