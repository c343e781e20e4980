"""Run directories, below both training and evaluation: atomic files, the weights format, loading a run.

``train`` writes through this package and ``evaluate``, ``transfer``, the
estimator and the CLI read through it, so neither of the two upper packages
imports the other to reach a run's files.
"""

from cnnkit.rundir.artifacts import TrainedModel, load, load_split, model_tensors, read_weights, save_weights, versions
from cnnkit.rundir.files import load_json, save_json, write_atomic

__all__ = ["TrainedModel", "load", "load_json", "load_split", "model_tensors", "read_weights", "save_json",
           "save_weights", "versions", "write_atomic"]
