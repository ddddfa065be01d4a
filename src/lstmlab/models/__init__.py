"""Models: shapes and hyper-parameters in, a Keras model out; nothing about training here."""
