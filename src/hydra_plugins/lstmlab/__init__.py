"""lstmlab's Hydra plugins (Hydra instantiates sweepers and launchers only from the
hydra_plugins package): hydra/sweeper=basic (sweeper.py) and hydra/launcher=joblib
(launcher.py), the options of the same names in Hydra and hydra-joblib-launcher, made cheaper
for sweeps of many short jobs. Hydra imports these modules at every start: keep them light."""
